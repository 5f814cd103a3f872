/**
 * The Lambda bundles stay small: each handler bundled as the stack bundles it (infra/bundling.ts,
 * as deployed: the runtime's AWS SDK left out) is at most 250 KiB minified, and zod comes in only
 * as the parts of zod/mini the schemas use (no classic API, no locale but English). And the
 * schemas, bundled alone with their own copy of zod/mini, still give the English messages.
 * bench/lambda-bundles.ts measures the same bundles, with their init time.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { describeIssues, parseTaskMessage, taskIdFromTopicData } from '../../core/message.ts';
import type { dispatchMessageSchema } from '../../functions/dispatcher/message.ts';
import { esbuildOptions } from '../../infra/bundling.ts';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const HANDLERS = {
  poller: 'functions/poller/handler.ts',
  dispatcher: 'functions/dispatcher/handler.ts',
  stopped: 'functions/dispatcher/stopped.ts',
};
const LIMIT_BYTES = 250 * 1024;

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'numa-lambda-size-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('Lambda bundles', () => {
  it.each(Object.entries(HANDLERS))(
    '%s: at most 250 KiB as deployed, with zod/mini only',
    async (name, entry) => {
      const result = await build({
        entryPoints: [path.join(ROOT, entry)],
        outfile: path.join(dir, name, 'index.mjs'),
        write: false,
        metafile: true,
        logLevel: 'silent',
        ...esbuildOptions({ runtime: 'nodejs24.x', bundleAwsSdk: false }),
      });
      const [output] = Object.values(result.metafile.outputs);
      const zodInputs = Object.entries(output!.inputs)
        .filter(([file, used]) => file.includes('node_modules/zod/') && used.bytesInOutput > 0)
        .map(([file]) => file.slice(file.indexOf('node_modules/zod/') + 'node_modules/zod/'.length));
      expect(zodInputs.filter((f) => f.startsWith('v4/classic/'))).toEqual([]);
      expect(zodInputs.filter((f) => f.startsWith('v4/locales/'))).toEqual(['v4/locales/en.js']);
      expect(output!.bytes).toBeLessThanOrEqual(LIMIT_BYTES);
    },
  );

  it('the schemas bundled alone (zod/mini, nothing of the classic API) report in English', async () => {
    const outfile = path.join(dir, 'schemas', 'index.mjs');
    await build({
      stdin: {
        contents: [
          "export { parseTaskMessage, taskIdFromTopicData } from './core/message.ts';",
          "export { dispatchMessageSchema } from './functions/dispatcher/message.ts';",
          "export { describeIssues } from './core/message.ts';",
        ].join('\n'),
        resolveDir: ROOT,
        loader: 'ts',
      },
      outfile,
      logLevel: 'silent',
      ...esbuildOptions({ runtime: 'nodejs24.x', bundleAwsSdk: false }),
    });
    // Its own copy of the modules (and of zod): the types are those of the sources it was built from.
    const mod = (await import(pathToFileURL(outfile).href)) as {
      parseTaskMessage: typeof parseTaskMessage;
      taskIdFromTopicData: typeof taskIdFromTopicData;
      dispatchMessageSchema: typeof dispatchMessageSchema;
      describeIssues: typeof describeIssues;
    };
    // The messages the classic API gave for the same inputs.
    expect(() => mod.parseTaskMessage({ task_id: 'has spaces!', attempt: 0, reason: 5 })).toThrow(
      'invalid task message: task_id: may contain only letters, digits and . _ : -; ' +
        'reason: Invalid input: expected string, received number; attempt: Too small: expected number to be >=1',
    );
    expect(mod.taskIdFromTopicData({ task_id: '   ' })).toEqual({
      ok: false,
      reason:
        'data.task_id: (root): must not be empty; (root): may contain only letters, digits and . _ : - ' +
        '(got the string "   ")',
    });
    const parsed = mod.dispatchMessageSchema.safeParse({ task_id: 1, deferrals: 1.5, dispatch_key: 'a b' });
    expect(parsed.success).toBe(false);
    expect(mod.describeIssues(parsed.error!)).toBe(
      'deferrals: Invalid input: expected int, received number; ' +
        'dispatch_key: may contain only letters, digits and . _ : - (at most 200)',
    );
  });
});
