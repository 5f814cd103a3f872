/**
 * The smart-HTTP git server (servers/git-http): real `git http-backend` behind node:http on
 * 127.0.0.1 with Basic auth; the real git client clones and pushes through it.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBareRepo, startGitServer } from '../../servers/git-http/index.ts';
import type { GitServer } from '../../servers/git-http/index.ts';
import { bareGit, gitCli, tempDir } from './helpers.ts';

const USER = 'tester';
const PASS = 'pa55-word-for-git-server';
const basic = `Basic ${Buffer.from(`${USER}:${PASS}`).toString('base64')}`;

describe('git smart-HTTP server', () => {
  let root: { path: string; remove: () => Promise<void> };
  let work: { path: string; remove: () => Promise<void> };
  let server: GitServer;
  let bare: string;

  beforeAll(async () => {
    root = await tempDir('numa-git-root-');
    work = await tempDir('numa-git-work-');
    server = await startGitServer({ root: root.path, auth: { username: USER, password: PASS } });
    bare = await createBareRepo(root.path, 'demo', {
      files: { 'README.md': '# demo\n', 'src/app.js': 'console.log(1);\n' },
      message: 'seed',
      author: { name: 'Seeder', email: 'seed@example.test' },
    });
  });

  afterAll(async () => {
    await server?.close();
    await root?.remove();
    await work?.remove();
  });

  it('creates a bare repository with an initial commit on the default branch', async () => {
    expect(bare).toBe(path.join(root.path, 'demo.git'));
    expect(await bareGit(bare, ['ls-tree', '-r', '--name-only', 'main'])).toBe('README.md\nsrc/app.js\n');
    expect(await bareGit(bare, ['log', '-1', '--format=%an <%ae> %s', 'main'])).toBe(
      'Seeder <seed@example.test> seed\n',
    );
    expect(await bareGit(bare, ['config', 'http.receivepack'])).toBe('true\n');
    expect(server.repoUrl('demo')).toBe(`${server.url}/demo.git`);
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('copies a source folder without .git and node_modules, on the branch asked for', async () => {
    const src = path.join(work.path, 'src-project');
    await mkdir(path.join(src, 'node_modules', 'dep'), { recursive: true });
    await mkdir(path.join(src, '.git'), { recursive: true });
    await mkdir(path.join(src, 'lib'), { recursive: true });
    await writeFile(path.join(src, 'node_modules', 'dep', 'index.js'), 'x');
    await writeFile(path.join(src, '.git', 'HEAD'), 'junk');
    await writeFile(path.join(src, 'lib', 'a.ts'), 'export const a = 1;\n');
    await writeFile(path.join(src, 'package.json'), '{}\n');
    const repo = await createBareRepo(root.path, 'from-dir', {
      sourceDir: src,
      files: { 'extra.txt': 'x\n' },
      defaultBranch: 'trunk',
    });
    expect(await bareGit(repo, ['ls-tree', '-r', '--name-only', 'trunk'])).toBe(
      'extra.txt\nlib/a.ts\npackage.json\n',
    );
    expect(await bareGit(repo, ['symbolic-ref', 'HEAD'])).toBe('refs/heads/trunk\n');
    await expect(createBareRepo(root.path, 'from-dir', { files: { a: 'b' } })).rejects.toThrow(
      /already exists/,
    );
  });

  it('answers 401 with a Basic challenge without credentials, and with wrong ones', async () => {
    const url = `${server.repoUrl('demo')}/info/refs?service=git-upload-pack`;
    const none = await fetch(url);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Basic realm="git"');
    const wrong = await fetch(url, {
      headers: { Authorization: `Basic ${Buffer.from(`${USER}:nope`).toString('base64')}` },
    });
    expect(wrong.status).toBe(401);
  });

  it('serves the ref advertisement through git http-backend with credentials', async () => {
    const res = await fetch(`${server.repoUrl('demo')}/info/refs?service=git-upload-pack`, {
      headers: { Authorization: basic },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/x-git-upload-pack-advertisement');
    const body = await res.text();
    expect(body).toContain('# service=git-upload-pack');
    expect(body).toContain('refs/heads/main');
  });

  it('answers 404 for a repository that does not exist', async () => {
    const res = await fetch(`${server.repoUrl('missing')}/info/refs?service=git-upload-pack`, {
      headers: { Authorization: basic },
    });
    expect(res.status).toBe(404);
  });

  it('accepts a gzip-encoded upload-pack request', async () => {
    const oid = (await bareGit(bare, ['rev-parse', 'main'])).trim();
    const want = `want ${oid}\n`;
    const pkt = (s: string) => (s.length + 4).toString(16).padStart(4, '0') + s;
    const body = gzipSync(Buffer.from(pkt(want) + '0000' + pkt('done\n')));
    const res = await fetch(`${server.repoUrl('demo')}/git-upload-pack`, {
      method: 'POST',
      headers: {
        Authorization: basic,
        'Content-Type': 'application/x-git-upload-pack-request',
        'Content-Encoding': 'gzip',
      },
      body,
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/x-git-upload-pack-result');
    const data = Buffer.from(await res.arrayBuffer());
    expect(data.indexOf('PACK')).toBeGreaterThan(0);
  });

  it('lets the git client clone and push (including a chunked upload larger than the post buffer)', async () => {
    const dir = path.join(work.path, 'clone');
    const header = `http.extraHeader=Authorization: ${basic}`;
    await gitCli(['-c', header, 'clone', '-q', server.repoUrl('demo'), dir]);
    expect(await readFile(path.join(dir, 'README.md'), 'utf8')).toBe('# demo\n');

    await writeFile(path.join(dir, 'big.bin'), randomBytes(1536 * 1024));
    await gitCli(['add', '-A'], dir);
    await gitCli(['-c', 'user.name=T', '-c', 'user.email=t@example.test', 'commit', '-q', '-m', 'big'], dir);
    await gitCli(
      ['-c', header, '-c', 'http.postBuffer=65536', 'push', '-q', 'origin', 'HEAD:refs/heads/big'],
      dir,
    );
    const local = (await gitCli(['rev-parse', 'HEAD'], dir)).trim();
    expect((await bareGit(bare, ['rev-parse', 'refs/heads/big'])).trim()).toBe(local);
    expect(await bareGit(bare, ['ls-tree', '--name-only', 'big'])).toContain('big.bin');
  });

  it('records requests without any credential', async () => {
    const reqs = server.requests();
    expect(reqs.length).toBeGreaterThan(5);
    expect(reqs.some((r) => !r.authorized)).toBe(true);
    expect(
      reqs.some((r) => r.authorized && r.method === 'POST' && r.path === '/demo.git/git-receive-pack'),
    ).toBe(true);
    expect(reqs[0]).toEqual({
      method: 'GET',
      path: '/demo.git/info/refs?service=git-upload-pack',
      authorized: false,
    });
    const text = JSON.stringify(reqs);
    expect(text).not.toContain(PASS);
    expect(text).not.toContain(basic.slice(6));
  });

  it('serves without authentication when none is configured', async () => {
    const open = await startGitServer({ root: root.path });
    try {
      const dir = path.join(work.path, 'open-clone');
      await gitCli(['clone', '-q', open.repoUrl('demo'), dir]);
      expect(existsSync(path.join(dir, 'src', 'app.js'))).toBe(true);
      expect(open.requests().every((r) => r.authorized)).toBe(true);
    } finally {
      await open.close();
    }
  });
});
