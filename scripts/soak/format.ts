// Number formats of the soak's progress lines and report.
export const MB = 1024 * 1024

/** Bytes as MB with one decimal; a dash when unknown. */
export const mb = (bytes: number | undefined): string => bytes === undefined || !Number.isFinite(bytes) ? '—' : (bytes / MB).toFixed(1)

/** Milliseconds: whole from 100 up, one decimal below. */
export const ms = (v: number): string => v >= 100 ? v.toFixed(0) : v.toFixed(1)

/** A signed percentage; a dash when unknown. */
export const pct = (v: number | undefined): string => v === undefined || !Number.isFinite(v) ? '—' : `${v >= 0 ? '+' : ''}${v.toFixed(1)} %`
