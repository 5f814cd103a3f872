/**
 * A long test output: what the task log and the agent get is its tail, but the results are read
 * from all of it (runTestCommand keeps the head and the tail up to maxParseChars), so a runner
 * that prints a line per test is counted right however long its output is.
 */
import { describe, expect, it } from 'vitest';
import { HeadTailBuffer, runTestCommand } from '../../container/runner/testing/run.ts';
import { summarizeRun } from '../../container/runner/verify/classify.ts';

const TAP_3001 =
  `node -e "let o='TAP version 13\\n';for(let i=1;i<=3000;i++)o+='ok '+i+' - test number '+i+'\\n';` +
  `o+='not ok 3001 - the broken one\\n1..3001\\n';process.stdout.write(o);process.exit(1)"`;

describe('long test output', () => {
  it('counts every test of an output far longer than the tail that is shown', async () => {
    const r = await runTestCommand({ command: TAP_3001, cwd: process.cwd(), timeoutMs: 30_000 });
    expect(r.output.length).toBeLessThan(21_000);
    expect(r.output).toMatch(/^\[… \d+ characters cut …\]/);
    expect(r.fullOutput?.length).toBeGreaterThan(70_000);
    const s = summarizeRun(r);
    expect(s.counts).toEqual({ passed: 3000, failed: 1, skipped: 0 });
    expect(s.failures.map((f) => f.name)).toEqual(['the broken one']);
    // From the tail alone most of the passing tests are lost.
    expect(summarizeRun({ ...r, fullOutput: undefined }).counts.passed).toBeLessThan(3000);
  });

  it('a short output is not kept twice', async () => {
    const r = await runTestCommand({ command: 'echo ok', cwd: process.cwd(), timeoutMs: 30_000 });
    expect(r.fullOutput).toBeUndefined();
  });

  it('HeadTailBuffer keeps all of what fits, then the head and the tail', () => {
    const b = new HeadTailBuffer(10);
    b.push('abc');
    b.push('def');
    expect(b.text()).toBe('abcdef');
    b.push('ghijklmnop');
    expect(b.length).toBe(16);
    expect(b.text()).toMatch(/^abcde\[… \d+ characters cut …\]\nlmnop$/);
  });
});
