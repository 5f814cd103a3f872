/**
 * The runner image without Docker (there is none here): the Dockerfile's shape (Node 24 slim, the current LTS, in
 * every stage, git and CA certificates installed, production dependencies only, root (for the user sandbox),
 * the entry point the CLI really has), the build context (.dockerignore keeps out what it should
 * and none of the files the runner imports), and the `runner-aws --check` step the build runs.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/world.ts';

const DOCKERFILE = path.join(REPO_ROOT, 'container/runner/Dockerfile');
const DOCKERIGNORE = path.join(REPO_ROOT, '.dockerignore');

interface Instruction {
  op: string;
  args: string;
}

/** Instructions of a Dockerfile (comments dropped, continuation lines joined). */
function parseDockerfile(text: string): Instruction[] {
  const joined = text
    .split('\n')
    .filter((l) => !/^\s*#/.test(l))
    .join('\n')
    .replace(/\\\n/g, ' ');
  return joined
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((l) => {
      const m = /^(\S+)\s*(.*)$/.exec(l)!;
      return { op: m[1]!.toUpperCase(), args: m[2]!.replace(/\s+/g, ' ') };
    });
}

/** The patterns of .dockerignore, and whether one keeps a repository path out of the context. */
function ignorePatterns(): string[] {
  return readFileSync(DOCKERIGNORE, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
}
function ignored(rel: string, patterns: string[]): boolean {
  const parts = rel.split('/');
  return patterns.some((p) => {
    if (p.startsWith('**/')) {
      const name = p.slice(3);
      if (name.startsWith('*.')) return rel.endsWith(name.slice(1));
      return parts.includes(name);
    }
    return rel === p || rel.startsWith(`${p}/`);
  });
}

describe('runner Dockerfile', () => {
  const steps = parseDockerfile(readFileSync(DOCKERFILE, 'utf8'));
  const froms = steps.filter((s) => s.op === 'FROM');
  const finalStage = steps.slice(steps.lastIndexOf(froms.at(-1)!));

  it('is multi-stage on Node 24 slim (bookworm), the current LTS', () => {
    expect(froms.length).toBeGreaterThanOrEqual(2);
    for (const f of froms) expect(f.args).toMatch(/^node:24-bookworm-slim\b/);
  });

  it('installs production dependencies only, from the lock file', () => {
    const npm = steps.find((s) => s.op === 'RUN' && s.args.includes('npm ci'));
    expect(npm?.args).toMatch(/npm ci --omit=dev/);
    expect(steps.some((s) => s.op === 'COPY' && /package\.json package-lock\.json/.test(s.args))).toBe(true);
  });

  it('has git (copied from its own stage, without Perl) and the CA certificates in the final image', () => {
    const apt = finalStage.find((s) => s.op === 'RUN' && s.args.includes('apt-get install'));
    expect(apt?.args).toMatch(/\bca-certificates\b/);
    expect(apt?.args).toMatch(/--no-install-recommends/);
    expect(apt?.args).toMatch(/rm -rf \/var\/lib\/apt\/lists\/\* \/var\/cache\/apt/);
    expect(finalStage.some((s) => s.op === 'COPY' && /^--from=git \/out\/ \/$/.test(s.args))).toBe(true);
    const gitStage = steps.slice(steps.indexOf(froms.find((f) => / AS git$/.test(f.args))!));
    expect(gitStage.find((s) => s.op === 'RUN' && s.args.includes('apt-get install'))?.args).toMatch(
      /\bgit\b/,
    );
    expect(finalStage.find((s) => s.op === 'RUN' && s.args.startsWith('git --version'))).toBeDefined();
  });

  it('runs as root (the user sandbox starts commands as another uid) from /work, with no health check', () => {
    const users = finalStage.filter((s) => s.op === 'USER');
    expect(users.every((u) => /^(root|0)(:|$)/.test(u.args))).toBe(true);
    expect(finalStage.filter((s) => s.op === 'WORKDIR').at(-1)?.args).toBe('/work');
    expect(finalStage.find((s) => s.op === 'HEALTHCHECK')?.args).toBe('NONE');
    const apt = finalStage.find((s) => s.op === 'RUN' && s.args.includes('apt-get install'));
    // setpriv and prlimit, which the user sandbox runs every command through: checked at build.
    expect(apt?.args).toMatch(/\/usr\/bin\/setpriv --version/);
    expect(apt?.args).toMatch(/\/usr\/bin\/prlimit --version/);
  });

  it('enters the AWS runner through the CLI, whose files exist', () => {
    const entry = finalStage.find((s) => s.op === 'ENTRYPOINT')!;
    const argv = JSON.parse(entry.args) as string[];
    expect(argv).toEqual(['/usr/bin/tini', '--', 'node', '/app/bin/numa-avatar.mjs', 'runner-aws']);
    // /app is the repository root in the image.
    expect(existsSync(path.join(REPO_ROOT, 'bin/numa-avatar.mjs'))).toBe(true);
    expect(existsSync(path.join(REPO_ROOT, 'container/runner/aws-main.ts'))).toBe(true);
    expect(readFileSync(path.join(REPO_ROOT, 'cli/main.ts'), 'utf8')).toMatch(/command\('runner-aws'/);
    // The build checks the runner the way the entry point starts it.
    expect(
      finalStage.some(
        (s) => s.op === 'RUN' && s.args.startsWith('node /app/bin/numa-avatar.mjs runner-aws --check'),
      ),
    ).toBe(true);
  });

  it('the .dockerignore keeps out what the image does not need', () => {
    const patterns = ignorePatterns();
    for (const p of ['.git', '**/node_modules', '**/cdk.out', '**/.numa-avatar', 'test', '**/fixtures']) {
      expect(patterns).toContain(p);
    }
  });

  it('the build context holds every source file the runner entry imports', async () => {
    // The CLI and everything it imports (the commands' dynamic imports included), npm packages
    // aside: the image's build stage compiles them, so none may be left out of the context; nor
    // what the build itself runs.
    for (const f of ['bin/numa-avatar.mjs', 'bin/build-stamp.mjs', 'scripts/build.mjs', 'tsconfig.json']) {
      expect(ignored(f, ignorePatterns()), f).toBe(false);
      expect(existsSync(path.join(REPO_ROOT, f)), f).toBe(true);
    }
    const result = await build({
      entryPoints: [path.join(REPO_ROOT, 'cli/main.ts')],
      bundle: true,
      write: false,
      metafile: true,
      platform: 'node',
      format: 'esm',
      packages: 'external',
      logLevel: 'silent',
      outdir: path.join(REPO_ROOT, '.work', 'dockerfile-test'),
    });
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs).toContain('container/runner/aws-main.ts');
    expect(inputs).toContain('container/runner/code-cache.ts');
    const patterns = ignorePatterns();
    expect(inputs.filter((f) => ignored(f, patterns))).toEqual([]);
    // The stack's own exclude list (applied on top of .dockerignore) must not drop any either.
    const { RUNNER_IMAGE_EXCLUDE } = await import('../../infra/constructs/runner.ts');
    expect(inputs.filter((f) => ignored(f, RUNNER_IMAGE_EXCLUDE))).toEqual([]);
    expect(ignored('test/runner/x.ts', patterns)).toBe(true);
  });

  it('`runner-aws --check` (the build step) loads the runner and finds git and tar', () => {
    const r = spawnSync(
      process.execPath,
      [path.join(REPO_ROOT, 'bin/numa-avatar.mjs'), 'runner-aws', '--check'],
      {
        encoding: 'utf8',
        timeout: 30_000,
      },
    );
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^runner check: git version \d/);
    expect(r.stdout).toMatch(/tar/);
  });
});
