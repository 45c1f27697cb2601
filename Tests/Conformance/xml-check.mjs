#!/usr/bin/env node
// Differential check of the XML types against the real Yjs.
//
//   node xml-check.mjs YJS_RUNNER_MJS CASES_JSON OUT_JSON
//
// CASES_JSON is an array of cases, each {ops: [...]}, run by client 1 on the
// root XML fragment "x". A path is a list of child indexes from the root.
// Nodes are {name, attrs: [[key, value]...], children: [...]} or {text}.
// Ops:
//   {op: "insert", path, index, nodes}     {op: "delete", path, index, count}
//   {op: "set-attr", path, key, value}     {op: "remove-attr", path, key}
//   {op: "text-insert", path, index, text} {op: "text-delete", path, index, count}
//   {op: "text-format", path, index, length, attrs}
// Writes per case {steps: [{state, xml}], received, problem} to OUT_JSON:
// client 1's full state (v1, hex) and fragment markup after each op, and the
// markup of a second document that applied every update as it was made.
import { openCheck, hex } from './conformance-io.mjs'

const { Y, cases, finish } = await openCheck('xml-check.mjs')

const nodeAt = (fragment, p) => p.reduce((node, i) => node.get(i), fragment)
function build (node) {
  if (node.text !== undefined) return new Y.XmlText(node.text)
  const element = new Y.XmlElement(node.name)
  for (const [k, v] of node.attrs) element.setAttribute(k, v)
  element.insert(0, node.children.map(build))
  return element
}

const results = cases.map(({ ops }) => {
  const doc = new Y.Doc()
  doc.clientID = 1
  const receiver = new Y.Doc()
  doc.on('update', u => Y.applyUpdate(receiver, u))
  const x = doc.getXmlFragment('x')
  const steps = []
  try {
    for (const op of ops) {
      const node = nodeAt(x, op.path)
      switch (op.op) {
        case 'insert': node.insert(op.index, op.nodes.map(build)); break
        case 'delete': node.delete(op.index, op.count); break
        case 'set-attr': node.setAttribute(op.key, op.value); break
        case 'remove-attr': node.removeAttribute(op.key); break
        case 'text-insert': node.insert(op.index, op.text); break
        case 'text-delete': node.delete(op.index, op.count); break
        case 'text-format': node.format(op.index, op.length, op.attrs); break
        default: throw new Error(`unknown op ${op.op}`)
      }
      steps.push({ state: hex(Y.encodeStateAsUpdate(doc)), xml: x.toString() })
    }
    return { steps, received: receiver.getXmlFragment('x').toString(), problem: null }
  } catch (e) {
    return { steps, received: null, problem: `${e.message}` }
  }
})
finish(results, 'ran')
