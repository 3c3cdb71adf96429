// A TCP proxy in front of a test server, for faults a server alone cannot
// make: refuseNew() stops accepting connections (a new connect is refused)
// while the connections already open keep working, as when a server dies
// between a client's health probe, on its own connection, and the next
// connection a pool opens.
import net from 'node:net'

export interface TcpProxy {
  port: number
  /** From now on connecting is refused; open connections stay. */
  refuseNew: () => Promise<void>
}

export async function startTcpProxy (t: { teardown: (fn: () => Promise<void>) => void }, target: { host: string, port: number }): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>()
  const server = net.createServer((client) => {
    const upstream = net.connect(target.port, target.host)
    for (const socket of [client, upstream]) {
      sockets.add(socket)
      socket.on('close', () => sockets.delete(socket))
      // One side failing ends both, as a real connection would.
      socket.on('error', () => { client.destroy(); upstream.destroy() })
    }
    client.pipe(upstream)
    upstream.pipe(client)
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => { resolve() })
  })
  // close() shuts the listening socket at once (its callback would wait for
  // the open connections, which is not what is asked).
  const stopListening = async (): Promise<void> => {
    if (server.listening) server.close()
    await new Promise<void>((resolve) => setImmediate(resolve))
  }
  t.teardown(async () => {
    for (const socket of sockets) socket.destroy()
    await stopListening()
  })
  return { port: (server.address() as net.AddressInfo).port, refuseNew: stopListening }
}
