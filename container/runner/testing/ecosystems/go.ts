/**
 * Go modules: `go test -v` over every package. Plain `go test ./...` prints one line per passing
 * package and no test at all, so its passes cannot be counted; `-v` prints one "--- PASS/FAIL/SKIP"
 * line per test and subtest (verify/results/go.ts reads it, and `go test -json` too). `-v` rather
 * than `-json`: the verifier keeps the last 20,000 characters of a run's output (testing/run.ts),
 * and `-json` is about eight times longer (google/uuid: 128,801 characters of JSON for 213
 * results, 15,402 with `-v`), so a cut would lose the head of the run's results; the agent reads
 * the same output, and reads `-v` better.
 */
import path from 'node:path';
import { exists, type DetectedTestCommand } from './common.ts';

export async function detectGo(dir: string): Promise<DetectedTestCommand | undefined> {
  return (await exists(path.join(dir, 'go.mod')))
    ? { command: 'go test -v ./...', source: 'go.mod' }
    : undefined;
}
