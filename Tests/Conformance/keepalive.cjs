// Keepalive check against a WebSocket URL: one raw socket that completes the
// handshake and then never answers a ping, and one `ws` client that does
// (as every WebSocket library does). Prints one JSON line:
// {silentClosedAfterMs, pingsSeen, answeringOpen} after `waitMs`.
'use strict'
const net = require('net')
const crypto = require('crypto')
const WebSocket = require('ws')

const [url, waitMsArg] = process.argv.slice(2)
const waitMs = Number(waitMsArg || 5000)
const u = new URL(url)
const started = Date.now()
let silentClosedAfterMs = null
let pingsSeen = 0

const socket = net.connect(Number(u.port), u.hostname, () => {
  const key = crypto.randomBytes(16).toString('base64')
  socket.write(`GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`)
})
let buffered = Buffer.alloc(0)
let upgraded = false
socket.on('data', (chunk) => {
  buffered = Buffer.concat([buffered, chunk])
  if (!upgraded) {
    const end = buffered.indexOf('\r\n\r\n')
    if (end < 0) return
    upgraded = true
    buffered = buffered.subarray(end + 4)
  }
  // Server frames are unmasked; payloads here are short (length < 126) or 16-bit.
  while (buffered.length >= 2) {
    let len = buffered[1] & 0x7f
    let offset = 2
    if (len === 126) { if (buffered.length < 4) return; len = buffered.readUInt16BE(2); offset = 4 }
    if (len === 127) { if (buffered.length < 10) return; len = Number(buffered.readBigUInt64BE(2)); offset = 10 }
    if (buffered.length < offset + len) return
    if ((buffered[0] & 0x0f) === 0x9) pingsSeen++
    buffered = buffered.subarray(offset + len)
  }
})
socket.on('close', () => { silentClosedAfterMs = Date.now() - started })
socket.on('error', () => {})

const answering = new WebSocket(url)
answering.on('error', () => {})

setTimeout(() => {
  console.log(JSON.stringify({ silentClosedAfterMs, pingsSeen, answeringOpen: answering.readyState === WebSocket.OPEN }))
  process.exit(0)
}, waitMs)
