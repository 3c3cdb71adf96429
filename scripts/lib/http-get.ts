import http from 'node:http'

export interface HttpAnswer { status: number; headers: http.IncomingHttpHeaders; body: Buffer }

/** A plain GET on a fresh connection, without Accept-Encoding (what autocannon sends): the body is never compressed. */
export async function httpGet (url: string, headers: Record<string, string> = {}, timeoutMs = 30_000): Promise<HttpAnswer> {
  return await new Promise((resolve, reject) => {
    const req = http.get(url, { headers, agent: false }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`GET ${url} timed out after ${timeoutMs} ms`)))
  })
}
