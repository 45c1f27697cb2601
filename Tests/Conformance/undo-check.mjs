#!/usr/bin/env node
// Differential check of the UndoManager against the real Yjs.
//
//   node undo-check.mjs YJS_RUNNER_MJS CASES_JSON OUT_JSON
//
// CASES_JSON is an array of cases, each {ops: [...]}. Client 1 edits a text
// "t", a map "m" and an array "a" under one Y.UndoManager (capture timeout of
// an hour, so that only "stop" ends a stack item); client 2 ("remote" ops)
// edits a copy and its changes arrive as updates with an untracked origin.
// Ops:
//   {op: "text-insert", index, text}      {op: "text-delete", index, count}
//   {op: "map-set", key, value}           {op: "map-set-map", key, entries}
//   {op: "map-delete", key}               {op: "nested-set", key, k, value}
//   {op: "array-insert", index, values}   {op: "array-delete", index, count}
//   {op: "txn", ops: [...]}               {op: "remote", ops: [...]}
//   {op: "undo"}  {op: "redo"}  {op: "stop"}
// Writes per case {steps: [{state, canUndo, canRedo, result}], problem} to
// OUT_JSON: state is client 1's full state (v1, hex) after each op.
import { openCheck, hex } from './conformance-io.mjs'

const { Y, cases, finish } = await openCheck('undo-check.mjs')

function edit (doc, op) {
  const text = doc.getText('t')
  const map = doc.getMap('m')
  const array = doc.getArray('a')
  switch (op.op) {
    case 'text-insert': text.insert(op.index, op.text); break
    case 'text-delete': text.delete(op.index, op.count); break
    case 'map-set': map.set(op.key, op.value); break
    case 'map-set-map': {
      const nested = new Y.Map()
      for (const [k, v] of Object.entries(op.entries)) nested.set(k, v)
      map.set(op.key, nested)
      break
    }
    case 'map-delete': map.delete(op.key); break
    case 'nested-set': {
      const nested = map.get(op.key)
      if (!(nested instanceof Y.Map)) throw new Error(`m.${op.key} is not a map`)
      nested.set(op.k, op.value)
      break
    }
    case 'array-insert': array.insert(op.index, op.values); break
    case 'array-delete': array.delete(op.index, op.count); break
    default: throw new Error(`unknown op ${op.op}`)
  }
}

const results = cases.map(({ ops }) => {
  const doc = new Y.Doc()
  doc.clientID = 1
  const other = new Y.Doc()
  other.clientID = 2
  const um = new Y.UndoManager([doc.getText('t'), doc.getMap('m'), doc.getArray('a')], { captureTimeout: 3600000 })
  const steps = []
  try {
    for (const op of ops) {
      let result = null
      switch (op.op) {
        case 'undo': result = um.undo() !== null; break
        case 'redo': result = um.redo() !== null; break
        case 'stop': um.stopCapturing(); break
        case 'txn': doc.transact(() => { for (const o of op.ops) edit(doc, o) }); break
        case 'remote': {
          Y.applyUpdate(other, Y.encodeStateAsUpdate(doc, Y.encodeStateVector(other)))
          const before = Y.encodeStateVector(doc)
          other.transact(() => { for (const o of op.ops) edit(other, o) })
          Y.applyUpdate(doc, Y.encodeStateAsUpdate(other, before), 'remote')
          break
        }
        default: edit(doc, op)
      }
      steps.push({ state: hex(Y.encodeStateAsUpdate(doc)), canUndo: um.canUndo(), canRedo: um.canRedo(), result })
    }
    return { steps, problem: null }
  } catch (e) {
    return { steps, problem: `${e.message}` }
  }
})
finish(results, 'ran')
