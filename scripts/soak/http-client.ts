// The soak's HTTP client: keep-alive connections, the headers a browser
// sends (compressed answers accepted), and the helpers that read answers.
import http from 'node:http'
import zlib from 'node:zlib'

const REQUEST_TIMEOUT_MS = 30_000

export interface Answer { status: number; headers: http.IncomingHttpHeaders; body: Buffer }

export function decode (answer: Answer): unknown {
  const encoding = answer.headers['content-encoding']
  const raw = encoding === 'br' ? zlib.brotliDecompressSync(answer.body) : encoding === 'gzip' ? zlib.gunzipSync(answer.body) : answer.body
  return JSON.parse(raw.toString('utf8')) as unknown
}

export class HttpClient {
  readonly agent: http.Agent
  constructor (private readonly base: URL, sockets: number) {
    this.agent = new http.Agent({ keepAlive: true, maxSockets: sockets, maxFreeSockets: sockets })
  }

  async request (method: string, pathname: string, token: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body))
    return await new Promise<Answer>((resolve, reject) => {
      const req = http.request({
        host: this.base.hostname,
        port: this.base.port,
        method,
        path: pathname,
        agent: this.agent,
        headers: {
          authorization: `Bearer ${token}`,
          accept: 'application/json',
          'accept-encoding': 'br, gzip',
          ...(payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': String(payload.length) }),
          ...headers
        }
      }, (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }))
        res.on('error', reject)
      })
      req.on('error', reject)
      req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(new Error(`timed out after ${REQUEST_TIMEOUT_MS} ms`)))
      req.end(payload)
    })
  }

  close (): void { this.agent.destroy() }
}

export function safeText (answer: Answer): string {
  try {
    return JSON.stringify(decode(answer))
  } catch {
    return answer.body.toString('utf8')
  }
}

export function idOf (answer: Answer): string {
  return (decode(answer) as { id: string }).id
}

export function etagOf (answer: Answer): string {
  const etag = answer.headers.etag
  if (typeof etag !== 'string') throw new Error('answer without an ETag')
  return etag
}
