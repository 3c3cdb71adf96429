// Preloaded (node -r) into the server by scripts/start.js. The server runs in
// a process group of its own there, so when the launcher dies without passing
// a signal on (SIGKILL, a crash) nothing would ever stop it: it would keep the
// port and the embedded PostgreSQL. The IPC channel to the launcher closes
// when the launcher goes away, whatever the cause: shut down as on SIGTERM.
'use strict'
if (process.channel !== undefined) {
  process.channel.unref() // the channel alone must not keep the server alive
  process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'))
}
