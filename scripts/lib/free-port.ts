import net from 'node:net'

/** A TCP port nothing listens on right now (for a server about to start, or one that must be dead). Used by the tests, the bench and the soak. */
export async function freePort (): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as net.AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}
