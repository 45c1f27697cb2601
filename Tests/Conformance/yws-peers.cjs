#!/usr/bin/env node
// Stock Yjs peers for the end-to-end tests: Debian's y-websocket provider
// (node-y-websocket) against a running nest-server.
//
//   NODE_PATH=/usr/share/nodejs node yws-peers.cjs converge URL DOC TOKEN_A TOKEN_B
//   NODE_PATH=/usr/share/nodejs node yws-peers.cjs write URL DOC TOKEN TEXT
//   NODE_PATH=/usr/share/nodejs node yws-peers.cjs read URL DOC TOKEN
//   NODE_PATH=/usr/share/nodejs node yws-peers.cjs close-code URL DOC TOKEN
//   NODE_PATH=/usr/share/nodejs node yws-peers.cjs burst URL DOC TOKEN N   (N raw sockets at once:
//     how many got sync step 2, how many were closed with 1013, and anything else)
//
// Prints one JSON line with the outcome; exits 1 on timeout.
const Y = require('yjs')
const { WebsocketProvider } = require('y-websocket')
const WebSocket = require('ws')

const [mode, url, doc, ...rest] = process.argv.slice(2)
// The shared text the peers edit; YWS_TEXT=caption edits a Nest draft's caption.
const textName = process.env.YWS_TEXT || 'content'
const fail = msg => { console.log(JSON.stringify({ ok: false, error: msg })); process.exit(1) }
setTimeout(() => fail('timeout'), 15000).unref()

function connect (token) {
  const ydoc = new Y.Doc()
  // No BroadcastChannel: peers in one process must meet through the server only.
  const provider = new WebsocketProvider(url, doc, ydoc, { WebSocketPolyfill: WebSocket, params: { token }, connect: true, disableBc: true })
  return { ydoc, provider, text: ydoc.getText(textName) }
}

const synced = p => new Promise(resolve => { if (p.provider.synced) resolve(); else p.provider.once('sync', s => s && resolve()) })
const until = (cond, ms = 10000) => new Promise((resolve, reject) => {
  const start = Date.now()
  const tick = () => cond() ? resolve() : (Date.now() - start > ms ? reject(new Error('condition not met')) : setTimeout(tick, 20))
  tick()
})
const done = result => { console.log(JSON.stringify({ ok: true, ...result })); process.exit(0) }

async function main () {
  if (mode === 'converge') {
    const a = connect(rest[0]); const b = connect(rest[1])
    await Promise.all([synced(a), synced(b)])
    a.text.insert(a.text.length, 'hello')
    await until(() => b.text.toString().includes('hello'))
    b.text.insert(b.text.length, ' world')
    a.ydoc.getMap('meta').set('title', 'from a')
    await until(() => a.text.toString().includes('world') && b.ydoc.getMap('meta').get('title') === 'from a')
    done({ a: a.text.toString(), b: b.text.toString(), title: b.ydoc.getMap('meta').get('title') })
  } else if (mode === 'write') {
    const a = connect(rest[0])
    await synced(a)
    a.text.insert(a.text.length, rest[1])
    // Give the server time to commit; the y-websocket protocol has no acks.
    setTimeout(() => done({ text: a.text.toString() }), 500)
  } else if (mode === 'read') {
    const a = connect(rest[0])
    await synced(a)
    setTimeout(() => done({ text: a.text.toString() }), 300)
  } else if (mode === 'close-code') {
    const ws = new WebSocket(`${url}/${doc}?token=${encodeURIComponent(rest[0])}`)
    ws.on('close', (code, reason) => done({ code, reason: reason.toString() }))
    ws.on('error', () => {})
  } else if (mode === 'burst') {
    const one = () => new Promise(resolve => {
      const ws = new WebSocket(`${url}/${doc}?token=${encodeURIComponent(rest[0])}`)
      ws.binaryType = 'arraybuffer'
      // Sync step 1 with an empty state vector; the answer of interest is sync step 2 (0, 1).
      ws.on('open', () => ws.send(Buffer.from([0, 0, 1, 0])))
      ws.on('message', data => {
        const b = new Uint8Array(data)
        if (b[0] === 0 && b[1] === 1) { resolve('synced'); ws.close() }
      })
      ws.on('close', code => resolve(code === 1013 ? 'turnedAway' : `closed ${code}`))
      ws.on('error', e => resolve(`error ${e.message}`))
    })
    const outcomes = await Promise.all(Array.from({ length: Number(rest[1]) }, one))
    const count = what => outcomes.filter(o => o === what).length
    done({ synced: count('synced'), turnedAway: count('turnedAway'), other: outcomes.filter(o => o !== 'synced' && o !== 'turnedAway') })
  } else {
    fail('unknown mode ' + mode)
  }
}
main().catch(e => fail(e.message))
