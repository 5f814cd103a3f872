/**
 * netoff (container/runner/sandbox/netoff.c), the seccomp filter that takes the network away
 * from the user sandbox: compiled here with `cc`, then attacked through a real SetprivUser (as
 * root, uid 61900) and the same execShell the agent's run_command uses. A listener on the host's
 * loopback counts the connections that reach it; a control without netoff shows the same attacks
 * reach it (so each test here can fail).
 *
 * Skips where there is no C compiler or no root, unless NUMA_REQUIRE_SANDBOXES=1 (CI).
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { buildNetoff, HAS_CC } from '../helpers/netoff.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scrubEnv } from '../../core/env.ts';
import { execShell } from '../../container/runner/agent/tools/run-command.ts';
import { createSandbox, type SandboxSettings } from '../../container/runner/sandbox/index.ts';
import { processesOf, SetprivUser } from '../../container/runner/sandbox/setpriv.ts';
import type { SandboxLimits } from '../../container/runner/sandbox/limits.ts';

const REQUIRED = process.env.NUMA_REQUIRE_SANDBOXES === '1';
const UID = 61_900;
const LIMITS: SandboxLimits = {
  fileBytes: 64 * 1024 ** 2,
  processes: 4096,
  openFiles: 4096,
  memoryBytes: 8 * 1024 ** 3,
  tmpBytes: 1024 ** 3,
};

const CC = HAS_CC;
const ROOT = process.getuid?.() === 0 && existsSync('/usr/bin/setpriv') && existsSync('/usr/bin/prlimit');

/**
 * Tries what the filter refuses (and what it keeps), one line each: `name=0` on success, else
 * `name=<errno>`. With `i386`: one call through the 32-bit entry of an x86_64 kernel.
 */
const PROBE = String.raw`
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
static void report(const char *what, long r) { printf("%s=%d\n", what, r >= 0 ? 0 : errno); }
int main(int argc, char **argv) {
  unsigned char params[120] = {0};
  int sv[2];
  if (argc > 1 && strcmp(argv[1], "i386") == 0) {
#if defined(__x86_64__)
    long r;
    __asm__ volatile("int $0x80" : "=a"(r) : "a"(20L) : "memory"); /* getpid, i386 numbering */
    printf("i386=%ld\n", r);
#endif
    return 0;
  }
  report("io_uring_setup", syscall(425, 1, params));
  report("io_uring_enter", syscall(426, -1, 0, 0, 0, 0, 0));
  report("io_uring_register", syscall(427, -1, 0, 0, 0));
  report("inet", socket(AF_INET, SOCK_STREAM, 0));
  report("inet6", socket(AF_INET6, SOCK_DGRAM, 0));
  report("netlink", socket(AF_NETLINK, SOCK_RAW, 0));
  report("packet", socket(AF_PACKET, SOCK_DGRAM, 0));
  report("vsock", socket(40, SOCK_STREAM, 0));
  report("inet_high_bits", syscall(SYS_socket, (1L << 32) | AF_INET, SOCK_STREAM, 0));
  report("unix", socket(AF_UNIX, SOCK_STREAM, 0));
  report("unix_high_bits", syscall(SYS_socket, (1L << 32) | AF_UNIX, SOCK_STREAM, 0));
  report("socketpair_unix", socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
  report("socketpair_inet", socketpair(AF_INET, SOCK_STREAM, 0, sv));
#if defined(__x86_64__)
  report("x32", syscall(0x40000000 | SYS_getpid));
#endif
  return 0;
}
`;

/**
 * A process the agent left running: seizes (ptrace) every process of its own uid that is not
 * under a seccomp filter, and prints a line for each one it caught so, until killed.
 */
const TRACER = String.raw`
#define _GNU_SOURCE
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>
static int field(int pid, const char *name) {
  char p[64], buf[4096];
  snprintf(p, sizeof p, "/proc/%d/status", pid);
  FILE *f = fopen(p, "r");
  if (!f) return -1;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  char *s = strstr(buf, name);
  return s ? atoi(s + strlen(name)) : -1;
}
int main(void) {
  int me = (int)getuid();
  setvbuf(stdout, NULL, _IONBF, 0);
  printf("tracing\n");
  for (;;) {
    DIR *d = opendir("/proc");
    struct dirent *e;
    while ((e = readdir(d))) {
      int pid = atoi(e->d_name);
      if (pid <= 0 || pid == getpid() || field(pid, "\nUid:") != me || field(pid, "\nSeccomp:") != 0) continue;
      if (ptrace(PTRACE_SEIZE, pid, 0, 0) != 0) continue;
      ptrace(PTRACE_INTERRUPT, pid, 0, 0);
      int st;
      waitpid(pid, &st, __WALL);
      if (field(pid, "\nSeccomp:") == 0) printf("caught %d unfiltered\n", pid);
      ptrace(PTRACE_DETACH, pid, 0, 0);
    }
    closedir(d);
  }
}
`;

function probeResults(output: string): Record<string, number> {
  const r: Record<string, number> = {};
  for (const m of output.matchAll(/^(\w+)=(-?\d+)$/gm)) r[m[1]!] = Number(m[2]);
  return r;
}

const { EACCES, ENOSYS } = os.constants.errno;

describe('user sandbox: finding netoff', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'numa-netoff-find-'));
    await writeFile(path.join(dir, 'netoff'), '#!/bin/sh\nexec "$@"\n', { mode: 0o755 });
    await writeFile(path.join(dir, 'not-executable'), '', { mode: 0o644 });
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const settings = (netoff: string): SandboxSettings => ({
    mode: 'user',
    allowUnsandboxed: false,
    uid: UID,
    gid: UID,
    readOnlyPaths: [],
    networkAllow: [],
    limits: LIMITS,
    netoff,
  });
  const place = () => ({ repoDir: dir, homeDir: dir, tmpDir: dir });

  it('runs every command under netoff, which starts setpriv (no process of the uid is ever unfiltered), when it is there', () => {
    const netoff = path.join(dir, 'netoff');
    const sandbox = createSandbox('user', 'test', settings(netoff), place());
    expect(sandbox.description).toMatch(/^user \(setpriv\): .*network off \(seccomp\)/);
    const { file, args } = sandbox.prepare({ command: 'true', cwd: dir, env: {} });
    expect(file).toBe(netoff);
    expect(args[0]).toBe('/usr/bin/setpriv');
    const end = args.indexOf('--');
    expect(args.slice(1, end)).toContain('--no-new-privs');
    expect(args[end + 1]).toBe('/usr/bin/prlimit');
    expect(args.slice(-3)).toEqual(['/bin/sh', '-c', 'true']);
  });

  it('says the network is open, and where netoff was looked for, when it is missing or not executable', () => {
    for (const netoff of [path.join(dir, 'missing'), path.join(dir, 'not-executable'), dir]) {
      const sandbox = createSandbox('user', 'test', settings(netoff), place());
      expect(sandbox.description).toContain(`network open: no seccomp helper at ${netoff}`);
      const { file, args } = sandbox.prepare({ command: 'true', cwd: dir, env: {} });
      expect(file).toBe('/usr/bin/setpriv');
      expect(args).not.toContain(netoff);
      expect(args[args.indexOf('--') + 1]).toBe('/usr/bin/prlimit');
    }
  });
});

describe.skipIf(!CC && !REQUIRED)('netoff.c', () => {
  let dir: string;
  let netoff: string;

  beforeAll(async () => {
    expect(CC, 'a C compiler (cc) must be installed').toBe(true);
    dir = await mkdtemp(path.join(os.tmpdir(), 'numa-netoff-bin-'));
    netoff = buildNetoff(dir);
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const run = (args: string[]) =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(netoff, args, { timeout: 30_000, maxBuffer: 1 << 20 }, (err, stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr }),
      );
    });

  it('runs its command with the filter on', async () => {
    const r = await run(['/bin/grep', '^Seccomp', '/proc/self/status']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Seccomp:\s+2$/m);
  });

  it('runs nothing, and exits 126, when the filter cannot be installed', async () => {
    // Filters stack until the kernel's limit on their total length: past it, prctl fails (ENOMEM).
    const nested = Array.from({ length: 2500 }, () => netoff);
    const r = await run([...nested, '/bin/echo', 'the command ran']);
    expect(r.code).toBe(126);
    expect(r.stderr).toContain('netoff: cannot install the seccomp filter');
    expect(r.stdout).not.toContain('the command ran');
  });

  it('exits 127 for a command that is not there, 126 without one', async () => {
    expect((await run(['/nonexistent/command'])).code).toBe(127);
    const none = await run([]);
    expect(none.code).toBe(126);
    expect(none.stderr).toMatch(/^usage: netoff/);
  });
});

describe.skipIf((!CC || !ROOT) && !REQUIRED)('user sandbox with netoff (uid 61900)', () => {
  let root: string;
  let repo: string;
  let netoff: string;
  let probe: string;
  let tracer: string;
  let filtered: SetprivUser;
  let open: SetprivUser;
  let server: http.Server;
  let url: string;
  let connections = 0;

  const exec = (sandbox: SetprivUser, command: string) =>
    execShell(command, {
      cwd: repo,
      env: {
        ...scrubEnv(process.env),
        PATH: `${path.dirname(process.execPath)}:/usr/local/bin:/usr/bin:/bin`,
      },
      timeoutMs: 30_000,
      maxOutputChars: 100_000,
      sandbox,
    }).then((r) => r.output);

  beforeAll(async () => {
    expect(CC, 'a C compiler (cc) must be installed').toBe(true);
    expect(ROOT, 'the user sandbox needs root, /usr/bin/setpriv and /usr/bin/prlimit').toBe(true);
    root = await mkdtemp(path.join(os.tmpdir(), 'numa-netoff-'));
    await chmod(root, 0o711);
    const bin = path.join(root, 'bin');
    await mkdir(bin, { mode: 0o755 });
    netoff = buildNetoff(bin);
    await writeFile(path.join(bin, 'probe.c'), PROBE);
    probe = path.join(bin, 'probe');
    execFileSync('cc', ['-O2', '-o', probe, path.join(bin, 'probe.c')], { stdio: 'pipe' });
    await writeFile(path.join(bin, 'tracer.c'), TRACER);
    tracer = path.join(bin, 'tracer');
    execFileSync('cc', ['-O2', '-o', tracer, path.join(bin, 'tracer.c')], { stdio: 'pipe' });
    repo = path.join(root, 'repo');
    const home = path.join(root, 'home');
    const tmp = path.join(root, 'tmp');
    for (const d of [repo, home, tmp]) {
      await mkdir(d, { mode: 0o700 });
      await chown(d, UID, UID);
    }
    const opts = { uid: UID, gid: UID, homeDir: home, tmpDir: tmp, limits: LIMITS };
    filtered = new SetprivUser({ ...opts, netoff });
    open = new SetprivUser(opts);
    server = http.createServer((_req, res) => res.end('hello from the listener\n'));
    server.on('connection', () => connections++);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await filtered?.close();
    await open?.close();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server?.closeAllConnections();
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('says the network is off', () => {
    expect(filtered.description).toMatch(/^user \(setpriv\): .*network off \(seccomp\)/);
    expect(open.description).toMatch(
      /network open: no seccomp helper at \/usr\/local\/lib\/numa-avatar\/netoff/,
    );
  });

  it('reaches no listener on loopback: curl and fetch are refused', async () => {
    connections = 0;
    const out = await exec(
      filtered,
      `curl -sS -m 3 ${url}/curl 2>&1; echo curl=$?; ` +
        `node -e "fetch('${url}/fetch').then(() => console.log('fetch reached'), (e) => console.log('fetch blocked', e.cause?.code))"; ` +
        `grep ^Seccomp: /proc/self/status`,
    );
    expect(out).toMatch(/curl: \(7\)/);
    expect(out).toMatch(/curl=7/);
    expect(out).toContain('fetch blocked EACCES');
    expect(out).not.toContain('hello from the listener');
    expect(out).not.toContain('fetch reached');
    expect(out).toMatch(/^Seccomp:\s+2$/m);
    expect(connections).toBe(0);
  });

  it('control: without netoff, the same curl and fetch reach the listener', async () => {
    connections = 0;
    const out = await exec(
      open,
      `curl -sS -m 3 ${url}/curl 2>&1; ` +
        `node -e "fetch('${url}/fetch').then(() => console.log('fetch reached'), (e) => console.log('fetch blocked', e.cause?.code))"`,
    );
    expect(out).toContain('hello from the listener');
    expect(out).toContain('fetch reached');
    expect(connections).toBeGreaterThanOrEqual(2);
  });

  it('keeps unix sockets: a server on a path in the repository answers', async () => {
    const sock = path.join(repo, 'test.sock');
    const out = await exec(
      filtered,
      `node -e "const net = require('net'); const p = process.argv[1]; ` +
        `const s = net.createServer((c) => c.end('unix-ok')).listen(p, () => ` +
        `net.connect(p).on('data', (d) => { console.log(String(d)); s.close(); }).on('error', (e) => { console.log('unix failed', e.code); s.close(); }))" ${sock}`,
    );
    expect(out).toContain('unix-ok');
  });

  it("refuses python's socket.socket() with PermissionError", async (ctx) => {
    if (!(await exec(open, 'command -v python3 || echo no-python')).includes('python3')) ctx.skip();
    const out = await exec(filtered, `python3 -c 'import socket; socket.socket()' 2>&1`);
    expect(out).toMatch(/PermissionError: \[Errno 13\]/);
    const control = await exec(open, `python3 -c 'import socket; socket.socket(); print("socket-ok")' 2>&1`);
    expect(control).toContain('socket-ok');
  });

  it('refuses every socket domain but AF_UNIX, whatever the upper bits of the domain', async () => {
    const r = probeResults(await exec(filtered, probe));
    for (const name of ['inet', 'inet6', 'netlink', 'packet', 'vsock', 'inet_high_bits', 'socketpair_inet']) {
      expect(r[name], name).toBe(EACCES);
    }
    for (const name of ['unix', 'unix_high_bits', 'socketpair_unix']) expect(r[name], name).toBe(0);
    // Without the filter the kernel answers for itself (AF_INET: a socket).
    expect(probeResults(await exec(open, probe)).inet).toBe(0);
  });

  it('refuses io_uring (it could create sockets past the filter) with ENOSYS', async (ctx) => {
    const control = probeResults(await exec(open, probe));
    // Without io_uring on this host (kernel, sysctl or an outer seccomp profile), there is nothing to tell apart.
    if (control.io_uring_setup !== 0) ctx.skip();
    const r = probeResults(await exec(filtered, probe));
    expect(r.io_uring_setup).toBe(ENOSYS);
    expect(r.io_uring_enter).toBe(ENOSYS);
    expect(r.io_uring_register).toBe(ENOSYS);
  });

  it.skipIf(process.arch !== 'x64')(
    'x86_64: refuses the x32 ABI and kills a call through the i386 entry',
    async () => {
      const r = probeResults(await exec(filtered, probe));
      expect(r.x32).toBe(ENOSYS);
      const out = await exec(filtered, `${probe} i386; echo status=$?`);
      expect(out).toContain(`status=${128 + os.constants.signals.SIGSYS}`);
      expect(out).not.toMatch(/^i386=/m);
    },
  );

  it('leaves no process of the uid unfiltered, for a process the agent left running to take over', async (ctx) => {
    /** Starts `spec` n times (no reaping between), with the tracer running as the uid; returns what it caught. */
    const caught = async (spec: { file: string; args: string[] }, n: number): Promise<number> => {
      const t = filtered.prepare({ command: tracer, cwd: repo, env: { PATH: '/usr/bin:/bin' } });
      const child = spawn(t.file, t.args, { cwd: t.cwd, env: t.env, stdio: ['ignore', 'pipe', 'ignore'] });
      let out = '';
      child.stdout.on('data', (c: Buffer) => (out += c.toString()));
      try {
        for (let i = 0; i < 50 && !out.includes('tracing'); i++) await new Promise((r) => setTimeout(r, 20));
        for (let i = 0; i < n; i++) {
          await new Promise<void>((resolve) =>
            spawn(spec.file, spec.args, { cwd: repo, stdio: 'ignore' }).on('close', () => resolve()),
          );
        }
      } finally {
        await filtered.reap();
      }
      return (out.match(/^caught /gm) ?? []).length;
    };
    const spec = filtered.prepare({ command: 'true', cwd: repo, env: {} });
    // The other order, netoff after setpriv's `--`: it runs as the uid before its filter is on.
    const [setpriv, ...rest] = spec.args;
    const end = rest.indexOf('--');
    const late = { file: setpriv!, args: [...rest.slice(0, end + 1), spec.file, ...rest.slice(end + 1)] };
    const control = await caught(late, 100);
    // Where the tracer cannot win that race (Yama's ptrace_scope, a slow host), there is nothing to compare.
    if (control === 0) ctx.skip();
    expect(await caught(spec, 100)).toBe(0);
  });

  it('still reaps what a command leaves running (the reaper runs under netoff too)', async () => {
    const out = await exec(filtered, `setsid sh -c 'sleep 4321' >/dev/null 2>&1 & echo started`);
    expect(out).toContain('started');
    // Killed ones may linger as zombies until their new parent collects them: processesOf skips those.
    expect(processesOf(UID)).toEqual([]);
    expect(execFileSync('ps', ['-eo', 'args='], { encoding: 'utf8' })).not.toContain('sleep 4321');
  });
});
