import { runDemo } from '../../demo/run-demo.ts';
import { reportError } from '../main.ts';

/** `numa-avatar demo`: the whole pipeline on this machine, nothing to set up. */
export async function demoCommand(o: { keep?: boolean }): Promise<number> {
  try {
    return await runDemo({
      keep: o.keep ?? false,
      env: process.env,
      out: (s) => process.stdout.write(s + '\n'),
    });
  } catch (err) {
    return reportError(err);
  }
}
