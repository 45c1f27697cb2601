#!/usr/bin/env node
// Differential check of update format v2 against the real Yjs.
//
//   node v2-check.mjs YJS_RUNNER_MJS CASES_JSON OUT_JSON
//
// CASES_JSON is an array of {v1, ours, doc}: a v1 update (hex) and our
// engine's v2 conversion of it. For each case Yjs converts v1 to v2 itself
// and applies its v2 and ours to two fresh documents, whose states (as v2)
// the caller compares; with `doc` set, Yjs also encodes the document the v1
// update makes as v2 (encodeStateAsUpdateV2). Writes one
// {yjs, docV2, theirsState, oursState, problem} per case to OUT_JSON, in order.
import { openCheck, hex, bytes } from './conformance-io.mjs'

const { Y, cases, finish } = await openCheck('v2-check.mjs')

const results = cases.map(({ v1, ours, doc }) => {
  const result = { yjs: hex(Y.convertUpdateFormatV1ToV2(bytes(v1))), docV2: null, theirsState: null, oursState: null, problem: null }
  try {
    if (doc) {
      const viaV1 = new Y.Doc()
      Y.applyUpdate(viaV1, bytes(v1))
      result.docV2 = hex(Y.encodeStateAsUpdateV2(viaV1))
    }
    // Compared with Yjs reading its own v2: Yjs 13.5 keeps pending deletions
    // as they arrived, so a document fed v1 and one fed v2 can differ.
    const viaTheirs = new Y.Doc()
    Y.applyUpdateV2(viaTheirs, bytes(result.yjs))
    const viaOurs = new Y.Doc()
    Y.applyUpdateV2(viaOurs, bytes(ours))
    result.theirsState = hex(Y.encodeStateAsUpdateV2(viaTheirs))
    result.oursState = hex(Y.encodeStateAsUpdateV2(viaOurs))
  } catch (e) {
    result.problem = `rejected: ${e.message}`
  }
  return result
})
finish(results, 'read')
