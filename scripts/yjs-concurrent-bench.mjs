#!/usr/bin/env node
// `nest-bench concurrent` on the real Yjs: every agent of a concurrent trace
// edits a replica of its own; before each txn its replica receives the other
// agents' updates the txn's parents have seen; at the end every replica gets
// everything and must hold the trace's final text. Cold first round beside
// the median of the timed rounds, after --warmup untimed ones.
//
//   node --expose-gc --preserve-symlinks yjs-concurrent-bench.mjs YJS_MJS TRACE.json.gz [--runs N] [--warmup W]
import fs from 'node:fs'
import zlib from 'node:zlib'
import path from 'node:path'
import { pathToFileURL } from 'node:url'

const args = process.argv.slice(2)
const [yjsPath, tracePath] = args
let runs = 5
let warmup = 3
for (let i = 2; i < args.length; i++) {
  if (args[i] === '--runs') runs = Number(args[++i])
  else if (args[i] === '--warmup') warmup = Number(args[++i])
}
const Y = await import(pathToFileURL(path.resolve(yjsPath)).href)
const trace = JSON.parse(zlib.gunzipSync(fs.readFileSync(tracePath)).toString('utf8'))
if (trace.txns.some(t => t.patches.some(p => [...(p[2] || '')].some(c => c.length > 1)))) {
  console.error('yjs-concurrent-bench: characters outside the BMP are not supported'); process.exit(2)
}
const agents = trace.txns.reduce((n, t) => Math.max(n, t.agent + 1), 0)
const median = xs => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2 }
const now = () => Number(process.hrtime.bigint()) / 1e6

function replay () {
  const replicas = []
  let captured = null
  for (let a = 0; a < agents; a++) {
    const d = new Y.Doc()
    d.clientID = 1000 + a
    d.on('update', (u, origin, doc, tr) => { if (tr.local) captured = u })
    replicas.push(d)
  }
  const updates = Array.from({ length: agents }, () => [])
  const versions = []
  const held = Array.from({ length: agents }, () => new Array(agents).fill(0))
  trace.txns.forEach((txn, index) => {
    const version = new Array(agents).fill(0)
    for (const p of txn.parents) for (let a = 0; a < agents; a++) version[a] = Math.max(version[a], versions[p][a])
    const a = txn.agent
    const doc = replicas[a]
    for (let b = 0; b < agents; b++) {
      if (held[a][b] > version[b]) throw new Error(`txn ${index}: replica ${a} has seen more of agent ${b} than its parents`)
      while (held[a][b] < version[b]) Y.applyUpdate(doc, updates[b][held[a][b]++])
    }
    if (held[a][a] !== updates[a].length) throw new Error(`txn ${index}: agent ${a} does not follow its own last txn`)
    const text = doc.getText('text')
    captured = null
    doc.transact(() => {
      for (const [pos, del, ins] of txn.patches) {
        if (del > 0) text.delete(pos, del)
        if (ins) text.insert(pos, ins)
      }
    })
    updates[a].push(captured || new Uint8Array([0, 0]))
    held[a][a]++
    version[a] = held[a][a]
    versions.push(version)
  })
  for (let a = 0; a < agents; a++) {
    for (let b = 0; b < agents; b++) if (b !== a) while (held[a][b] < updates[b].length) Y.applyUpdate(replicas[a], updates[b][held[a][b]++])
  }
  return replicas
}

const times = []
let cold = 0
let ok = true
for (let r = 0; r < 1 + warmup + runs; r++) {
  const t0 = now()
  const replicas = replay()
  const ms = now() - t0
  ok = ok && replicas.every(d => d.getText('text').toString() === trace.endContent)
  if (r === 0) cold = ms
  if (r > warmup) times.push(ms)
}
console.log(JSON.stringify({
  trace: 'concurrent/' + path.basename(tracePath).replace(/\.json(\.gz)?$/, ''), txns: trace.txns.length, agents, runs, warmup,
  concurrent_ms: median(times), concurrent_cold_ms: cold, ok
}))
