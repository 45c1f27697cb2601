#!/usr/bin/env node
// Cross-acceptance check for the differential test: every update our engine
// produced must be readable by the real Yjs and give the same document.
//
//   node cross-check.mjs YJS_RUNNER_MJS OUTPUTS_DIR
//
// For every client of every *.out.json in OUTPUTS_DIR (written by
// `nest-bench scenario`), Yjs loads (a) the client's full `state` and (b) all
// of the client's own and received updates, each into a fresh Y.Doc, and the
// document must equal the client's `json`. Prints one line per mismatch and
// ends with "N passed, M failed".
import fs from 'node:fs'
import path from 'node:path'
import { pathToFileURL } from 'node:url'

const [runnerPath, dir] = process.argv.slice(2)
if (!runnerPath || !dir) {
  console.error('usage: node cross-check.mjs YJS_RUNNER_MJS OUTPUTS_DIR')
  process.exit(2)
}
const { Y, canonical } = await import(pathToFileURL(path.resolve(runnerPath)).href)

const bytes = h => new Uint8Array(Buffer.from(h, 'hex'))
const rootsOf = json => Object.entries(json).map(([name, v]) =>
  [name, typeof v === 'string' ? 'getText' : Array.isArray(v) ? 'getArray' : 'getMap'])

function jsonOf (doc, roots) {
  const out = {}
  for (const [name, getter] of roots) out[name] = doc[getter](name).toJSON()
  return JSON.stringify(canonical(out))
}

let passed = 0
let failed = 0
for (const file of fs.readdirSync(dir).filter(f => f.endsWith('.out.json')).sort()) {
  const out = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8'))
  let ok = true
  for (const [id, c] of Object.entries(out.clients)) {
    const roots = rootsOf(c.json)
    const want = JSON.stringify(canonical(c.json))
    try {
      const a = new Y.Doc()
      Y.applyUpdate(a, bytes(c.state))
      if (jsonOf(a, roots) !== want) { ok = false; console.log(`${file}: client ${id}: Yjs reads our state differently`) }
      const b = new Y.Doc()
      for (const u of [...c.updates, ...c.received]) Y.applyUpdate(b, bytes(u))
      if (jsonOf(b, roots) !== want) { ok = false; console.log(`${file}: client ${id}: Yjs replays our updates differently`) }
    } catch (e) {
      ok = false
      console.log(`${file}: client ${id}: Yjs rejected our bytes: ${e.message}`)
    }
  }
  if (ok) passed++; else failed++
}
console.log(`${passed} passed, ${failed} failed`)
process.exit(failed > 0 ? 1 : 0)
