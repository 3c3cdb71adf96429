#!/usr/bin/env node
// `npm start` runs the compiled server through this launcher (package.json:
// `exec node scripts/start.js`, so npm's direct child is this process, not a
// shell). Why not `node dist/src/server.js` alone:
// - npm passes SIGINT/SIGTERM on to its child only. dash (Debian's sh) does
//   not exec the single command of `sh -c`, so the child npm signals is the
//   shell: it dies, the server and its embedded PostgreSQL keep running.
// - With `exec node dist/src/server.js` the server gets a Ctrl-C (or a
//   SIGTERM to the whole process group) twice, from the terminal and again
//   from npm, a few ms apart; close-with-grace takes a second signal as
//   "exit now" (exit 1, in-flight requests cut, "second SIGINT, exiting").
// So the server runs in a process group of its own, where only this launcher
// signals it: each stop signal once, whoever sent it, and npm ends with the
// server's exit status.
'use strict'
const { spawn } = require('node:child_process')
const path = require('node:path')

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP']
// A Ctrl-C reaches us from the terminal and again from npm: the same signal
// within this window is that echo, not a second request (a second Ctrl-C
// after it still makes the server exit at once).
const ECHO_MS = 1500
// How often to check that npm is still there (see below).
const PARENT_POLL_MS = 1000

const root = path.join(__dirname, '..')
const entry = path.join(root, 'dist', 'src', 'server.js')
// `npm start -- args` appends them here: pass them on, as `node dist/src/server.js args` did.
const server = spawn(process.execPath, [...require('./lib/server-node-flags').supported, '-r', path.join(__dirname, 'lib', 'exit-with-launcher.js'), entry, ...process.argv.slice(2)], {
  // Own process group: the terminal's Ctrl-C and group signals reach npm and
  // this launcher, not the server. The IPC channel tells the server when this
  // launcher is gone (scripts/lib/exit-with-launcher.js). stdin is not needed:
  // a background process group reading the terminal would be stopped.
  detached: true,
  stdio: ['ignore', 'inherit', 'inherit', 'ipc']
})

let last = { signal: '', at: 0 }
const pass = (signal) => {
  const now = Date.now()
  if (signal === last.signal && now - last.at < ECHO_MS) return
  last = { signal, at: now }
  if (server.exitCode === null && server.signalCode === null) server.kill(signal)
}
for (const signal of SIGNALS) process.on(signal, () => pass(signal))

// npm killed with SIGKILL passes nothing on; we are then re-parented. (npm
// also dies of a terminal hangup, after which the server already has our
// SIGHUP: a SIGTERM on top would be a second signal, "exit now".)
const parent = process.ppid
const watch = setInterval(() => {
  if (process.ppid === parent) return
  clearInterval(watch)
  if (last.at === 0) pass('SIGTERM')
}, PARENT_POLL_MS)

server.on('error', (err) => {
  console.error(`npm start: could not run the server: ${err.message}`)
  process.exit(1)
})
server.on('exit', (code, signal) => {
  clearInterval(watch)
  if (signal === null) process.exit(code ?? 1)
  // Die of the same signal, so npm reports what happened to the server.
  for (const s of SIGNALS) process.removeAllListeners(s)
  process.kill(process.pid, signal)
})
