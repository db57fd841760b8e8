// Classify a cache-tests results file the way cache-tests.fyi does.
//
// Copied into the scratch copy of the suite by conformance/run.py and run there, so that it
// uses the suite's own test metadata (kind, depends_on) and its own determineTestResult.
// Prints one JSON array: {id, suite, name, kind, result, message, depends_on} per test.
import fs from 'fs'
import tests from './tests/index.mjs'
import { determineTestResult, resultTypes } from './test-engine/lib/results.mjs'

const results = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'))
const typeNames = new Map(Object.entries(resultTypes).map(([name, type]) => [type, name]))
const out = []
for (const suite of tests) {
  for (const test of suite.tests) {
    const type = determineTestResult(tests, test.id, results)
    const raw = results[test.id]
    out.push({
      id: test.id,
      suite: suite.id,
      name: test.name || '',
      kind: test.kind || 'required',
      result: typeNames.get(type) || 'unknown',
      message: Array.isArray(raw) ? raw.filter(Boolean).join(': ') : '',
      depends_on: test.depends_on || []
    })
  }
}
console.log(JSON.stringify(out))
