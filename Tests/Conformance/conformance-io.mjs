// What every differential check script shares: its command line
// (YJS_RUNNER_MJS CASES_JSON OUT_JSON), the Yjs build yjs-runner.mjs loads,
// the cases, and writing one result per case.
import fs from 'node:fs'
import path from 'node:path'
import { pathToFileURL } from 'node:url'

export const hex = u => Buffer.from(u).toString('hex')
export const bytes = h => new Uint8Array(Buffer.from(h, 'hex'))

/** Reads the command line of `script`; exits with its usage when incomplete. */
export async function openCheck (script) {
  const [runnerPath, casesPath, outPath] = process.argv.slice(2)
  if (!runnerPath || !casesPath || !outPath) {
    console.error(`usage: node ${script} YJS_RUNNER_MJS CASES_JSON OUT_JSON`)
    process.exit(2)
  }
  const { Y } = await import(pathToFileURL(path.resolve(runnerPath)).href)
  const cases = JSON.parse(fs.readFileSync(casesPath, 'utf8'))
  const finish = (results, verb) => {
    fs.writeFileSync(outPath, JSON.stringify(results))
    console.log(`${results.length} cases, ${results.filter(r => r.problem === null).length} ${verb}`)
  }
  return { Y, cases, finish }
}
