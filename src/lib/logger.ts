// Pino's options for the service: level, redaction and serializers, so no
// credential, SQL parameter or query string reaches a log line.
import type { FastifyServerOptions } from 'fastify'
import type { AppConfig } from './config'

export function loggerOptions (config: AppConfig): Exclude<FastifyServerOptions['logger'], boolean | undefined> {
  return {
    level: config.logLevel,
    // Credentials and SQL parameter values never reach a log line.
    redact: {
      paths: ['req.headers.authorization', 'req.headers.cookie', 'res.headers["set-cookie"]', '*.password', '*.token', '*.params', '*.parameters', '*.values'],
      censor: '[redacted]'
    },
    serializers: {
      // The path only: query strings carry search terms and other user data,
      // which stay out of info-level logs like SQL parameter values do.
      req: (req: { method: string; url: string; headers: Record<string, unknown>; socket?: { remoteAddress?: string } }) => ({
        method: req.method,
        url: req.url.split('?')[0],
        remoteAddress: req.socket?.remoteAddress
      })
    },
    // Human-readable lines for a developer's terminal only; JSON everywhere else
    // (a pipe, a file, a container's log collector).
    ...(config.env === 'development' && process.stdout.isTTY && prettyAvailable() ? { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } } } : {})
  }
}

function prettyAvailable (): boolean {
  try {
    require.resolve('pino-pretty')
    return true
  } catch {
    return false // a production install (--omit=dev) has no pino-pretty
  }
}
