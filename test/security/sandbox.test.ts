/**
 * The sandbox attacked, under each adapter this machine can run (namespaces: bubblewrap; user: a
 * leased uid through setpriv, as root). First command by command, through the same execShell the
 * agent's run_command uses, with the runner's secrets planted where a real runner keeps them (its
 * environment, a 0600 runtime config, a world-readable config.yaml, another run's transcript and
 * repository); then a whole run of the real pipeline whose setup step and agent try the same.
 *
 * Where CI sets NUMA_REQUIRE_SANDBOXES=1, an adapter that cannot run here fails instead of skipping.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildNetoff, HAS_CC } from '../helpers/netoff.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validate } from '../../core/config/load.ts';
import { scrubEnv } from '../../core/env.ts';
import { findSecretForm } from '../../core/secret-forms.ts';
import { execShell } from '../../container/runner/agent/tools/run-command.ts';
import { runTestCommand } from '../../container/runner/testing/run.ts';
import { systemProbe, type SandboxMode } from '../../container/runner/sandbox/index.ts';
import type { Sandbox } from '../../container/runner/sandbox/types.ts';
import { Unsandboxed } from '../../container/runner/sandbox/unsandboxed.ts';
import { sandboxProvider, sandboxSettings } from '../../container/runner/sandbox/provider.ts';
import { createWorld, sandboxUnavailable, type World } from '../helpers/world.ts';
import { NAMED_SECRETS, PLANTED_VALUES, plantEnv, startSink, type Sink } from './helpers.ts';

const BIN = fileURLToPath(new URL('../../bin/numa-avatar.mjs', import.meta.url));
const REQUIRED = process.env.NUMA_REQUIRE_SANDBOXES === '1';
const CREDENTIALS_URI = '/v2/credentials/planted-ecs-credentials-3f2a9c1e-77b4';
const FILE_SECRET = 'planted-config-file-secret-8d1f0e2b7c';
const RUNTIME_SECRET = 'planted-runtime-config-secret-55aa01fe';
const OTHER_RUN_SECRET = 'planted-other-run-transcript-secret-c0ffee42';
const OTHER_REPO_SECRET = 'planted-other-repo-secret-d15ea5e0';
const ALL_SECRETS = [
  ...new Set([
    ...PLANTED_VALUES,
    CREDENTIALS_URI,
    FILE_SECRET,
    RUNTIME_SECRET,
    OTHER_RUN_SECRET,
    OTHER_REPO_SECRET,
  ]),
];

/** The user mode's network filter (netoff.c) is built here with cc (the runner image has it built in). */
const CC = HAS_CC;

/** Names each secret found in `text` in any common encoding, with the form. */
function secretsIn(text: string): string[] {
  const decoded = [...text.matchAll(/[A-Za-z0-9+/=_-]{16,}/g)]
    .map((m) => Buffer.from(m[0], 'base64').toString('latin1'))
    .join('\n');
  const found: string[] = [];
  for (const s of ALL_SECRETS) {
    const form = findSecretForm(text, s) ?? (findSecretForm(decoded, s) ? 'base64 (decoded)' : undefined);
    if (form) found.push(`${s.slice(0, 10)}… ${form === 'raw' ? 'as is' : 'encoded'}`);
  }
  return found;
}

/**
 * A process of the runner's user whose environment really holds the secrets (/proc/<pid>/environ
 * shows what a process was started with, not later changes to process.env), as a service or the
 * ECS runner would be started.
 */
function startDecoy(): ChildProcess {
  return spawn(process.execPath, ['-e', 'setInterval(() => {}, 1e9)'], {
    env: { ...process.env, ...NAMED_SECRETS, AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: CREDENTIALS_URI },
    stdio: 'ignore',
  });
}

function hostProcesses(marker: string): string[] {
  const out = execFileSync('ps', ['-eo', 'pid,user,args'], { encoding: 'utf8' });
  return out.split('\n').filter((l) => l.includes(marker) && !l.includes('ps -eo'));
}

const MODES: SandboxMode[] = ['namespaces', 'user'];

for (const mode of MODES) {
  const unavailable = sandboxUnavailable(mode);
  describe.skipIf(unavailable !== undefined && !REQUIRED)(`sandbox.mode ${mode}`, () => {
    let root: string;
    let workDir: string;
    let repoDir: string;
    let sandbox: Sandbox;
    let sink: Sink;
    let restore: () => void;
    let decoy: ChildProcess;
    const marker = `numa-sbx-${mode}-${process.pid}`;

    const run = async (command: string, timeoutMs = 20_000) => {
      const res = await execShell(command, {
        cwd: repoDir,
        env: { ...scrubEnv(process.env), PATH: '/usr/local/bin:/usr/bin:/bin' },
        timeoutMs,
        maxOutputChars: 400_000,
        sandbox,
      });
      return res;
    };

    beforeAll(async () => {
      expect(unavailable, `sandbox.mode ${mode} must run here`).toBeUndefined();
      sink = await startSink();
      decoy = startDecoy();
      restore = plantEnv({ ...NAMED_SECRETS, AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: CREDENTIALS_URI });
      root = await mkdtemp(path.join(os.tmpdir(), 'numa-sandbox-'));
      // The user mode needs folders above the work dir that others may pass (as /work is in the image).
      await chmod(root, 0o711);
      workDir = path.join(root, 'work');
      const scratch = path.join(workDir, 'workspaces', 'task-1-run-1');
      repoDir = path.join(scratch, 'repo');
      await mkdir(repoDir, { recursive: true, mode: 0o755 });
      await writeFile(path.join(repoDir, 'README.md'), 'hello\n');
      // What a careless machine leaves readable: a config file and another run's artifacts (0644).
      await writeFile(path.join(workDir, 'config.yaml'), `backend:\n  api_token: ${FILE_SECRET}\n`, {
        mode: 0o644,
      });
      await mkdir(path.join(workDir, 'runtime'), { mode: 0o700 });
      await writeFile(path.join(workDir, 'runtime', 'run-1.json'), JSON.stringify({ t: RUNTIME_SECRET }), {
        mode: 0o600,
      });
      await mkdir(path.join(workDir, 'runs', '7', 'run-0'), { recursive: true, mode: 0o755 });
      await writeFile(
        path.join(workDir, 'runs', '7', 'run-0', 'transcript.jsonl'),
        `{"x":"${OTHER_RUN_SECRET}"}\n`,
        {
          mode: 0o644,
        },
      );
      await mkdir(path.join(workDir, 'workspaces', 'task-7-run-0', 'repo'), { recursive: true, mode: 0o755 });
      await writeFile(
        path.join(workDir, 'workspaces', 'task-7-run-0', 'repo', 'secret.txt'),
        OTHER_REPO_SECRET,
        {
          mode: 0o644,
        },
      );
      const config = validate(
        {
          backend: { url: 'http://127.0.0.1:9', api_token: 'x'.repeat(16) },
          sandbox: {
            mode,
            limits: { file_bytes: 1024 * 1024, processes: 4096, tmp_bytes: 16 * 1024 * 1024 },
          },
        },
        'test',
      );
      const settings = sandboxSettings(config);
      if (mode === 'user' && (CC || REQUIRED)) {
        // Outside the work dir; netoff runs as root (it starts setpriv), so 0700 is enough.
        const bin = path.join(root, 'netoff-bin');
        await mkdir(bin, { mode: 0o700 });
        settings.netoff = buildNetoff(bin);
      }
      sandbox = await sandboxProvider(settings, { workDir }).open(repoDir, scratch);
    });

    afterAll(async () => {
      await sandbox?.close();
      decoy?.kill('SIGKILL');
      restore?.();
      await sink?.close();
      if (root) await rm(root, { recursive: true, force: true });
    });

    it('says which sandbox runs', () => {
      expect(sandbox.mode).toBe(mode);
      expect(sandbox.description).toMatch(
        mode === 'namespaces' ? /^namespaces \(bubblewrap\)/ : /^user \(setpriv\)/,
      );
      if (mode === 'user' && (CC || REQUIRED)) expect(sandbox.description).toContain('network off (seccomp)');
    });

    it('no process environment it can reach holds a secret, in any encoding', async () => {
      const res = await run(
        [
          `for f in /proc/[0-9]*/environ /proc/self/environ /proc/$PPID/environ /proc/1/environ /proc/${process.pid}/environ /proc/${decoy.pid}/environ; do cat "$f" 2>/dev/null; done | base64 -w0`,
          'echo',
          `for f in /proc/[0-9]*/environ; do tr '\\0' '\\n' < "$f" 2>/dev/null | rev; done`,
          `cat /proc/[0-9]*/cmdline 2>/dev/null | od -An -tx1 | tr -d ' \\n'`,
          'echo',
          `head -c 4096 /proc/${process.pid}/mem 2>&1 | base64 -w0`,
          'echo; env; echo visible:$(ls /proc | grep -c "^[0-9]")',
        ].join('; '),
      );
      expect(res.output).toMatch(/visible:\d+/);
      expect(secretsIn(res.output)).toEqual([]);
      if (mode === 'namespaces') {
        // Its own /proc: only the sandbox's processes, none of the host's.
        expect(Number(/visible:(\d+)/.exec(res.output)![1])).toBeLessThan(10);
      }
    });

    it('reads no file of the runner, of another run or of the system that only their owners may read', async () => {
      const targets = [
        path.join(workDir, 'config.yaml'),
        path.join(workDir, 'runtime', 'run-1.json'),
        path.join(workDir, 'runs', '7', 'run-0', 'transcript.jsonl'),
        path.join(workDir, 'workspaces', 'task-7-run-0', 'repo', 'secret.txt'),
        '/etc/shadow',
      ];
      const res = await run(
        [
          ...targets.map((t) => `cat ${t} 2>&1 | base64 -w0; echo`),
          `ln -s ${targets[0]} cfg-link; cat cfg-link 2>&1`,
          `ls -la ${workDir} ${path.join(workDir, 'workspaces')} 2>&1`,
          `find ${workDir} 2>/dev/null | head -50`,
          'echo done',
        ].join('; '),
      );
      expect(res.output).toMatch(/done/);
      expect(secretsIn(res.output)).toEqual([]);
      expect(res.output).not.toMatch(/root:[^:\n]*:\d+:/); // no /etc/shadow line
    });

    it('writes nowhere but the repository and its own home (and leaves no hard link to an outside file)', async () => {
      const outside = [
        path.join(workDir, `${marker}-1`),
        path.join(root, `${marker}-2`),
        path.join(workDir, 'workspaces', 'task-7-run-0', 'repo', `${marker}-3`),
        path.join(workDir, 'runs', '7', `${marker}-4`),
        `/etc/${marker}-5`,
        `/usr/${marker}-6`,
        path.join(os.homedir(), `${marker}-7`),
        // The user mode shares the host's /tmp (what it leaves there goes when the run ends, below).
        ...(mode === 'namespaces' ? [`/tmp/${marker}-8`, `/var/tmp/${marker}-9`] : []),
      ];
      const res = await run(
        [
          ...outside.map((p) => `echo x > ${p} 2>/dev/null`),
          `ln ${path.join(workDir, 'config.yaml')} hard-config 2>&1`,
          `ln /etc/passwd hard-passwd 2>&1`,
          `echo in > inside.txt && echo home > "$HOME/h.txt" && echo ok`,
        ].join('; '),
      );
      expect(res.output).toMatch(/ok/);
      for (const p of outside) expect(existsSync(p), p).toBe(false);
      expect(await readFile(path.join(repoDir, 'inside.txt'), 'utf8')).toBe('in\n');
      if (process.getuid?.() === 0 && (mode === 'user' || systemProbe.bwrapWorksAs(61_999))) {
        // A root runner's sandbox is not root outside its namespaces either: its files are the leased uid's.
        expect((await stat(path.join(repoDir, 'inside.txt'))).uid).toBeGreaterThanOrEqual(61_000);
        if (mode === 'namespaces') expect(sandbox.description).toMatch(/it is uid \d+, not root/);
      } else if (process.getuid?.() === 0) {
        // Where bubblewrap cannot run for another user, it runs as root, and says so.
        expect(sandbox.description).toMatch(/it is root \(/);
      }
      for (const name of ['hard-config', 'hard-passwd']) {
        const st = await stat(path.join(repoDir, name)).catch(() => undefined);
        // No link at all, or (namespaces, /etc is read-only) never to the outside inode.
        expect(st === undefined || st.nlink === 1, name).toBe(true);
      }
      expect(await readFile(path.join(workDir, 'config.yaml'), 'utf8')).toContain(FILE_SECRET);
    });

    it.skipIf(!existsSync('/usr/bin/python3'))(
      'leaves no process whose main thread ended while another runs on (a "zombie" leader)',
      async () => {
        const beat = path.join(repoDir, `beat-${mode}`);
        // Double-forked and detached; the main thread leaves with SYS_exit (thread exit, not
        // exit_group): /proc says "Z" for the process while its second thread writes on.
        const ghost = [
          'import os, sys, threading, time, ctypes',
          'if os.fork() > 0: sys.exit(0)',
          'os.setsid()',
          'if os.fork() > 0: os._exit(0)',
          'def beat():',
          '    n = 0',
          '    while True:',
          '        n += 1',
          `        open(${JSON.stringify(beat)}, "w").write(str(n))`,
          '        time.sleep(0.05)',
          'threading.Thread(target=beat).start()',
          'time.sleep(0.2)',
          'ctypes.CDLL(None).syscall(60 if os.uname().machine == "x86_64" else 93, 0)',
        ].join('\n');
        await writeFile(path.join(repoDir, 'ghost.py'), ghost);
        const res = await run('python3 ghost.py; sleep 0.5; echo started');
        expect(res.output).toContain('started');
        const first = await readFile(beat, 'utf8').catch(() => '');
        await new Promise((r) => setTimeout(r, 400));
        const later = await readFile(beat, 'utf8').catch(() => '');
        // It ran (it wrote), and stopped with the command: no write after the reaping.
        expect(first.length).toBeGreaterThan(0);
        expect(later).toBe(first);
      },
    );

    it.skipIf(mode !== 'user')('leaves nothing in the shared /tmp once the run ends', async () => {
      const scratch = path.join(workDir, 'workspaces', 'task-8-run-0');
      const repo = path.join(scratch, 'repo');
      await mkdir(repo, { recursive: true });
      const config = validate({ backend: { url: 'http://127.0.0.1:9' }, sandbox: { mode } }, 'test');
      const second = await sandboxProvider(sandboxSettings(config), { workDir }).open(repo, scratch);
      const res = await execShell(
        `echo x > /tmp/${marker}-f; mkdir -p /tmp/${marker}-d/e; echo y > /tmp/${marker}-d/e/g; ` +
          // A folder it makes unreadable, a lock file, a System V shared memory segment.
          `chmod 000 /tmp/${marker}-d; touch /run/lock/${marker}-l 2>/dev/null; ipcmk -M 4096 >/dev/null; ` +
          `id -u; echo ok`,
        {
          cwd: repo,
          env: scrubEnv(process.env),
          timeoutMs: 10_000,
          maxOutputChars: 10_000,
          sandbox: second,
        },
      );
      expect(res.output).toContain('ok');
      expect(existsSync(`/tmp/${marker}-f`)).toBe(true);
      const uid = Number(/^(\d+)$/m.exec(res.output)?.[1]);
      const segmentsOf = (u: number) =>
        readFileSync('/proc/sysvipc/shm', 'utf8')
          .split('\n')
          .slice(1)
          .filter((l) => l.trim().split(/\s+/)[7] === String(u)).length;
      expect(segmentsOf(uid)).toBeGreaterThan(0);
      await second.close();
      expect(existsSync(`/tmp/${marker}-f`)).toBe(false);
      expect(existsSync(`/tmp/${marker}-d`)).toBe(false);
      expect(existsSync(`/run/lock/${marker}-l`)).toBe(false);
      expect(segmentsOf(uid)).toBe(0);
    });

    it('has no capabilities, runs as the agent uid, and cannot signal the runner', async () => {
      const res = await run(
        `grep -E '^Cap(Eff|Prm|Bnd)' /proc/self/status; id -u; kill -0 ${process.pid} 2>/dev/null && echo CAN_SIGNAL; echo end`,
      );
      expect(res.output).toMatch(/CapEff:\s+0{16}/);
      expect(res.output).toMatch(/CapPrm:\s+0{16}/);
      expect(res.output).not.toContain('CAN_SIGNAL');
      const uid = Number(/^(\d+)$/m.exec(res.output)?.[1]);
      expect(uid).toBeGreaterThanOrEqual(61_000);
    });

    it('leaves no process alive after a command (setsid, nohup, double fork)', async () => {
      const res = await run(
        `setsid sh -c 'sleep 4242; echo ${marker}' >/dev/null 2>&1 & ` +
          `nohup sh -c 'sleep 4243; echo ${marker}' >/dev/null 2>&1 & ` +
          `(sh -c 'sleep 4244; echo ${marker}' >/dev/null 2>&1 &) ; echo started`,
      );
      expect(res.output).toContain('started');
      // The reaping is part of the command: it is over when execShell resolves.
      expect(hostProcesses(marker)).toEqual([]);
      for (const sleep of ['sleep 4242', 'sleep 4243', 'sleep 4244'])
        expect(hostProcesses(sleep)).toEqual([]);
    });

    it('writes no file larger than sandbox.limits.file_bytes', async () => {
      const res = await run('head -c 3000000 /dev/zero > big.bin; echo status=$?');
      expect(res.output).toMatch(/status=[1-9]/);
      expect((await stat(path.join(repoDir, 'big.bin'))).size).toBeLessThanOrEqual(1024 * 1024);
    });

    it.skipIf(mode !== 'namespaces')('fills no more of its /tmp than sandbox.limits.tmp_bytes', async () => {
      const res = await run(
        'for i in $(seq 40); do head -c 900000 /dev/zero > /tmp/f$i 2>/dev/null || break; done; echo kib=$(du -sk /tmp | cut -f1)',
      );
      const kib = Number(/kib=(\d+)/.exec(res.output)?.[1]);
      // 40 × 900 kB were asked for: about 35 MiB without the limit; the tmpfs stops at 16 MiB
      // (du counts a little over, in its own blocks).
      expect(kib).toBeGreaterThan(8 * 1024);
      expect(kib).toBeLessThan(20 * 1024);
    });

    it.skipIf(mode !== 'namespaces')(
      'a setup step reaches the allow-listed hosts through the egress proxy, and nothing else',
      async () => {
        const registry = await startSink();
        const scratch = path.join(workDir, 'workspaces', 'task-9-run-0');
        const repo = path.join(scratch, 'repo');
        await mkdir(repo, { recursive: true });
        const registryHost = new URL(registry.url).host;
        const config = validate(
          { backend: { url: 'http://127.0.0.1:9' }, sandbox: { mode, network: { allow: [registryHost] } } },
          'test',
        );
        const refused: string[] = [];
        const setupBox = await sandboxProvider(sandboxSettings(config), { workDir }).open(
          repo,
          scratch,
          (l) => refused.push(l),
        );
        try {
          const exec = (command: string, network: 'setup' | 'none') =>
            runTestCommand({
              command,
              cwd: repo,
              timeoutMs: 20_000,
              env: scrubEnv(process.env),
              sandbox: setupBox,
              network,
            });
          const setup = await exec(
            [
              `curl -sS -m 5 -o /dev/null -w 'plain:%{http_code}\n' ${registry.url}/plain`,
              `curl -sS -m 5 -p -o /dev/null -w 'tunnel:%{http_code}\n' ${registry.url}/tunnel 2>&1`,
              `curl -sS -m 5 -o /dev/null -w 'sink:%{http_code}\n' ${sink.url}/via-proxy`,
              `curl -sS -m 5 -p ${sink.url}/tunnel-to-sink 2>&1 | head -2`,
              `curl -sS -m 3 --noproxy '*' ${sink.url}/direct 2>&1 | head -1`,
              `curl -sS -m 5 -p http://169.254.170.2/v2/credentials 2>&1 | head -1`,
              'echo end',
            ].join('; '),
            'setup',
          );
          expect(setup.output).toContain('end');
          // The registry answers 401 to everyone (startSink): reaching it is what counts.
          expect(setup.output).toContain('plain:401');
          expect(registry.seen.some((r) => r.startsWith('GET /plain'))).toBe(true);
          expect(registry.seen.some((r) => r.startsWith('GET /tunnel'))).toBe(true);
          expect(setup.output).toContain('sink:403');
          expect(refused.join('\n')).toMatch(
            new RegExp(`${new URL(sink.url).host}.*not in sandbox.network.allow`),
          );
          expect(refused.join('\n')).toMatch(/169\.254\.170\.2:80.*not in sandbox.network.allow/);
          // An agent command (or a test run) of the same sandbox has no network at all.
          const agent = await exec(`curl -sS -m 3 ${registry.url}/agent 2>&1; echo end`, 'none');
          expect(agent.output).toContain('end');
          expect(registry.seen.some((r) => r.startsWith('GET /agent'))).toBe(false);
          expect(sink.seen).toEqual([]);
        } finally {
          await setupBox.close();
          await registry.close();
        }
      },
    );

    // The user mode has no network namespace: its network is off only under netoff (built above).
    it.skipIf(mode === 'user' && !CC && !REQUIRED)(
      'reaches no listener on the host, not even on loopback',
      async () => {
        const res = await run(
          `curl -sS -m 3 ${sink.url}/curl 2>&1; ` +
            `node -e "fetch('${sink.url}/fetch').then(() => console.log('reached'), (e) => console.log('blocked', e.cause?.code))"; ` +
            `getent hosts registry.npmjs.org || echo no-dns`,
        );
        expect(res.output).toContain('blocked');
        expect(res.output).not.toContain('reached');
        expect(sink.seen).toEqual([]);
      },
    );
  });
}

/**
 * The same attacks without a sandbox: they work. This is what makes the tests above able to fail
 * (each one would, were its adapter to let the attack through).
 */
describe('control: the attacks, unsandboxed', () => {
  let root: string;
  let sink: Sink;
  let restore: () => void;
  let decoy: ChildProcess;
  const sandbox = new Unsandboxed('control');
  const marker = `numa-sbx-control-${process.pid}`;
  const run = (command: string) =>
    execShell(command, {
      cwd: root,
      env: scrubEnv(process.env),
      timeoutMs: 20_000,
      maxOutputChars: 400_000,
      sandbox,
    });

  beforeAll(async () => {
    sink = await startSink();
    decoy = startDecoy();
    restore = plantEnv({ ...NAMED_SECRETS, AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: CREDENTIALS_URI });
    root = await mkdtemp(path.join(os.tmpdir(), 'numa-sandbox-control-'));
    await writeFile(path.join(root, 'config.yaml'), FILE_SECRET, { mode: 0o600 });
  });

  afterAll(async () => {
    restore?.();
    decoy?.kill('SIGKILL');
    await sink?.close();
    try {
      execFileSync('pkill', ['-f', 'sleep 4245']);
    } catch {
      // none left
    }
    if (root) await rm(root, { recursive: true, force: true });
  });

  it("reads the runner's environment (encoded past the redactor) and its files", async () => {
    const res = await run(`cat /proc/${decoy.pid}/environ | base64 -w0; echo; cat config.yaml`);
    expect(secretsIn(res.output).filter((f) => f.endsWith('encoded')).length).toBeGreaterThanOrEqual(
      Object.keys(NAMED_SECRETS).length,
    );
    expect(res.output).toContain(FILE_SECRET);
  });

  it('leaves a setsid process behind and reaches a loopback listener', async () => {
    await run(
      `setsid sh -c 'sleep 4245; echo ${marker}' >/dev/null 2>&1 & curl -sS -m 3 ${sink.url}/c >/dev/null 2>&1; echo`,
    );
    expect(hostProcesses(marker).length).toBeGreaterThan(0);
    expect(sink.seen.length).toBeGreaterThan(0);
  });
});

describe.each(MODES)('a whole run under sandbox.mode %s', (mode) => {
  const unavailable = sandboxUnavailable(mode);
  let world: World;
  const attack = [
    `for f in /proc/[0-9]*/environ; do cat "$f" 2>/dev/null; done | base64 -w0`,
    `cat /proc/$PPID/environ 2>&1 | base64 -w0`,
    'cat .leak-setup 2>&1; rm -f .leak-setup',
    'echo end',
  ].join('; ');

  beforeAll(async () => {
    if (unavailable !== undefined && !REQUIRED) return;
    world = await createWorld({
      model: {
        turns: [
          { tool_calls: [{ name: 'run_command', arguments: { command: attack } }] },
          {
            tool_calls: [
              {
                name: 'edit_file',
                arguments: { path: 'README.md', old_text: 'Run the tests', new_text: 'Always run the tests' },
              },
            ],
          },
          {
            tool_calls: [
              { name: 'finish', arguments: { summary: 'wording', commit_message: 'README: wording' } },
            ],
          },
        ],
      },
    });
    await chmod(world.root, 0o711);
  });

  afterAll(async () => {
    await world?.close();
  });

  it.skipIf(unavailable !== undefined && !REQUIRED)(
    'ends done, says which sandbox ran, and nothing secret reached the model or the log',
    async () => {
      const task = await world.createTask({ title: 'Reword the README' });
      const configFile = await world.writeConfig({
        sandbox: { mode },
        setup: {
          commands: [
            `for f in /proc/[0-9]*/environ /proc/$PPID/environ; do cat "$f" 2>/dev/null; done | base64 -w0 > .leak-setup; echo >> .leak-setup`,
          ],
        },
      });
      await chmod(configFile, 0o600);
      // The runner as ECS starts it: the secrets in its own environment, from its first instruction.
      const child = spawn(
        process.execPath,
        [BIN, 'task', String(task.id), '--config', configFile, '--quiet'],
        {
          env: { ...process.env, ...NAMED_SECRETS, AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: CREDENTIALS_URI },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let output = '';
      child.stdout!.on('data', (c: Buffer) => (output += c.toString()));
      child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
      expect(code, output).toBe(0);
      const logs = world.logs(task.id);
      expect(logs).toMatch(
        mode === 'namespaces' ? /sandbox: namespaces \(bubblewrap\)/ : /sandbox: user \(setpriv\)/,
      );
      const requests = JSON.stringify(world.model.requests().map((r) => r.body));
      // The attack ran and its answer reached the model.
      expect(requests).toContain('end');
      expect(secretsIn(requests)).toEqual([]);
      expect(secretsIn(logs)).toEqual([]);
      expect(secretsIn(output)).toEqual([]);
      expect(await world.remoteBranch(task.code_branch)).toBeDefined();
    },
  );
});
