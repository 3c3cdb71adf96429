/** The URL of another database on the same PostgreSQL server (same credentials and options). */
export function urlForDatabase (serverUrl: string, database: string): string {
  const url = new URL(serverUrl)
  url.pathname = `/${database}`
  return url.toString()
}

/** A URL fit for logs and reports: the password, if any, replaced by ***. */
export const redactUrl = (url: string): string => url.replace(/\/\/([^:/@]*):[^@]*@/, '//$1:***@')
