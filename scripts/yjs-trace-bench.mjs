#!/usr/bin/env node
// The `nest-bench trace` workload on the real Yjs, for ratios measured in
// the same run: local replay (one transaction per trace txn), the same
// edits applied as remote updates, v1 encode, and load into a fresh doc.
// Prints one JSON object with the same fields as `nest-bench trace --json`.
//
// Yjs at its best: the first round (cold: the JIT has compiled nothing yet)
// is reported beside the medians as *_cold_ms; then --warmup untimed rounds,
// then --runs timed ones. No forced GC runs inside or right before a timed
// region (only around the separate retained-memory measurement).
//
//   node --expose-gc --preserve-symlinks yjs-trace-bench.mjs YJS_MJS TRACE.json.gz [--runs N] [--warmup W] [--client-id ID] [--one-transaction]
import fs from 'node:fs'
import zlib from 'node:zlib'
import path from 'node:path'
import { pathToFileURL } from 'node:url'

const args = process.argv.slice(2)
const [yjsPath, tracePath] = args
let runs = 5
let warmup = 3
let clientID = 2654435769
let oneTransaction = false
for (let i = 2; i < args.length; i++) {
  if (args[i] === '--one-transaction') oneTransaction = true
  else if (args[i] === '--runs') runs = Number(args[++i])
  else if (args[i] === '--warmup') warmup = Number(args[++i])
  else if (args[i] === '--client-id') clientID = Number(args[++i])
}
const Y = await import(pathToFileURL(path.resolve(yjsPath)).href)
const trace = JSON.parse(zlib.gunzipSync(fs.readFileSync(tracePath)).toString('utf8'))
const patches = trace.txns.reduce((n, t) => n + t.patches.length, 0)
// Trace positions count code points; Yjs counts UTF-16 units. A trace with characters outside the BMP gets its
// positions converted once, before anything is timed, by replaying it on an array of code points.
const bmp = ![...(trace.startContent || '')].some(c => c.length > 1) && !trace.txns.some(t => t.patches.some(p => [...(p[2] || '')].some(c => c.length > 1)))
if (!bmp) {
  const chars = [...(trace.startContent || '')]
  const units = n => { let u = 0; for (let i = 0; i < n; i++) u += chars[i].length; return u }
  for (const t of trace.txns) {
    t.patches = t.patches.map(([pos, del, ins]) => {
      const at = units(pos)
      const removed = chars.splice(pos, del)
      const inserted = [...(ins || '')]
      chars.splice(pos, 0, ...inserted)
      return [at, removed.reduce((n, c) => n + c.length, 0), ins]
    })
  }
}

const median = xs => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2 }
const now = () => Number(process.hrtime.bigint()) / 1e6

function replay (doc) {
  const text = doc.getText('text')
  const run = () => {
    if (trace.startContent) text.insert(0, trace.startContent)
    for (const t of trace.txns) {
      doc.transact(() => {
        for (const [pos, del, ins] of t.patches) {
          if (del > 0) text.delete(pos, del)
          if (ins) text.insert(pos, ins)
        }
      })
    }
  }
  if (oneTransaction) doc.transact(run); else run()
}

const res = { replay: [], remote: [], encode: [], encodeV2: [], load: [] }
let cold = null
let v1Bytes = 0
let v2Bytes = 0
let v2Fnv = 0
let retained = 0
let peak = 0
let ok = true
for (let r = 0; r < 1 + warmup + runs; r++) {
  const timed = r > warmup
  const local = new Y.Doc()
  local.clientID = clientID
  let t0 = now()
  replay(local)
  res.replay.push(now() - t0)
  ok = ok && local.getText('text').toString() === trace.endContent

  const updates = []
  const rec = new Y.Doc()
  rec.clientID = clientID
  rec.on('update', u => updates.push(u))
  replay(rec)

  const remote = new Y.Doc()
  t0 = now()
  for (const u of updates) Y.applyUpdate(remote, u)
  res.remote.push(now() - t0)
  ok = ok && remote.getText('text').toString() === trace.endContent

  t0 = now()
  const encoded = Y.encodeStateAsUpdate(local)
  res.encode.push(now() - t0)
  v1Bytes = encoded.length
  t0 = now()
  const v2 = Y.encodeStateAsUpdateV2(local)
  res.encodeV2.push(now() - t0)
  v2Bytes = v2.length
  v2Fnv = v2.reduce((h, b) => Math.imul(h ^ b, 16777619) >>> 0, 2166136261)

  const loaded = new Y.Doc()
  t0 = now()
  Y.applyUpdate(loaded, encoded)
  res.load.push(now() - t0)
  ok = ok && loaded.getText('text').toString() === trace.endContent
  if (r === 0) {
    cold = { replay: res.replay[0], remote: res.remote[0], encode: res.encode[0], load: res.load[0] }
  }
  if (!timed) for (const k of Object.keys(res)) res[k].pop()

  // Retained memory, outside every timed region: a load between two forced collections.
  if (r === warmup + runs) {
    global.gc?.()
    const before = process.memoryUsage().heapUsed
    const kept = new Y.Doc()
    Y.applyUpdate(kept, encoded)
    global.gc?.()
    retained = process.memoryUsage().heapUsed - before
    ok = ok && kept.getText('text').length === loaded.getText('text').length
  }
  peak = Math.max(peak, process.memoryUsage().rss)
}
const mb = b => Math.round(b / 1048576 * 10) / 10
console.log(JSON.stringify({
  trace: path.basename(tracePath).replace(/\.json(\.gz)?$/, ''), patches, runs, warmup,
  replay_ms: median(res.replay), remote_apply_ms: median(res.remote), encode_ms: median(res.encode), load_ms: median(res.load),
  v1_bytes: v1Bytes, encode_v2_ms: median(res.encodeV2), v2_bytes: v2Bytes, v2_fnv: v2Fnv, peak_rss_mb: mb(peak), retained_mb: mb(retained), ok,
  replay_cold_ms: cold.replay, remote_apply_cold_ms: cold.remote, encode_cold_ms: cold.encode, load_cold_ms: cold.load
}))
