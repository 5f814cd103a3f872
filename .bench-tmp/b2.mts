import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { createBareRepo, startGitServer } from '/work/main/servers/git-http/index.ts';
const root = await mkdtemp(path.join(os.tmpdir(), 'b-'));
const server = await startGitServer({ root, auth: { username: 'u', password: 'pppp1234' } });
const open = await startGitServer({ root });
await createBareRepo(root, 'r', { files: { a: 'a\n' } });
const hdr = 'http.extraHeader=Authorization: Basic ' + Buffer.from('u:pppp1234').toString('base64');
for (let i = 0; i < 3; i++) {
  let t = performance.now();
  execFileSync('git', [
    '-c',
    hdr,
    'clone',
    '-q',
    '--depth',
    '1',
    server.repoUrl('r'),
    path.join(root, 'x' + i),
  ]);
  const a = performance.now() - t;
  t = performance.now();
  execFileSync('git', ['clone', '-q', '--depth', '1', open.repoUrl('r'), path.join(root, 'y' + i)]);
  const b = performance.now() - t;
  t = performance.now();
  execFileSync('git', [
    '-c',
    'protocol.version=1',
    'clone',
    '-q',
    '--depth',
    '1',
    open.repoUrl('r'),
    path.join(root, 'z' + i),
  ]);
  const c = performance.now() - t;
  t = performance.now();
  execFileSync('git', ['ls-remote', open.repoUrl('r')]);
  const d = performance.now() - t;
  console.log(
    'auth-hdr',
    Math.round(a),
    'open',
    Math.round(b),
    'open v1',
    Math.round(c),
    'ls-remote',
    Math.round(d),
  );
}
console.log(server.requests().length);
await server.close();
await open.close();
