/**
 * Opens the sandbox of one run: picks the mode (index.ts), makes the run's private folders, and
 * for the user mode leases the run its own agent uid (uid-lease.ts), hands it the repository and
 * those folders, and closes the rest of the work dir to it.
 */
import { constants } from 'node:fs';
import { chmod, chown, lchown, lstat, mkdir, mkdtemp, open, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Config } from '../../../core/config/schema.ts';
import { AvatarError, describeError } from '../../../core/errors.ts';
import { leaseUid } from './uid-lease.ts';
import { cleanUpUid, reapUid } from './setpriv.ts';
import { PROXY_SOCKET } from './bubblewrap.ts';
import { startEgressProxy } from './egress-proxy.ts';
import { chooseMode, createSandbox, systemProbe, type Probe, type SandboxSettings } from './index.ts';
import type { Sandbox } from './types.ts';

/** The longest path a Unix socket can be bound to on Linux (sun_path is 108 bytes, NUL included). */
const MAX_SOCKET_PATH = 107;

export interface SandboxProvider {
  /**
   * The sandbox for commands in `repoDir`; `scratchDir` holds the run's private folders; `log`
   * gets a line for each destination a setup step was refused.
   */
  open(repoDir: string, scratchDir: string, log?: (line: string) => void): Promise<Sandbox>;
}

export function sandboxSettings(config: Config): SandboxSettings {
  const s = config.sandbox;
  return {
    mode: s.mode,
    allowUnsandboxed: s.allow_unsandboxed,
    uid: s.uid,
    gid: s.uid,
    readOnlyPaths: s.read_only_paths,
    networkAllow: s.network.allow,
    limits: {
      fileBytes: s.limits.file_bytes,
      processes: s.limits.processes,
      openFiles: s.limits.open_files,
      memoryBytes: s.limits.memory_bytes,
      tmpBytes: s.limits.tmp_bytes,
    },
  };
}

/**
 * Hands a tree to the agent's uid, without following a link anywhere: folders through a
 * descriptor opened O_NOFOLLOW, everything else with lchown. (The uid has no process left when
 * this runs: open() reaps it first, so nothing swaps entries under the walk.) Folders get the
 * set-group-id bit, so what the runner writes there later (file tools, git) belongs to the uid's
 * group, and with the runner's umask of 007 in this mode (sandboxProvider), the group may change
 * it too. `keep` names entries of the top folder that stay the runner's (`.git`: git-dir.ts).
 */
async function chownTree(
  dir: string,
  uid: number,
  gid: number,
  top?: { keep: readonly string[]; owner: number },
): Promise<void> {
  const fh = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  try {
    // chmod first: while the folder is still the runner's group the kernel keeps the bit without
    // CAP_FSETID (which the runner's task drops), and chown keeps it on a folder. The top folder
    // stays the runner's, the uid's group may write it, and its sticky bit keeps the entries the
    // runner owns (.git) from being renamed or removed by the uid: 3770.
    if (top) await fh.chmod(0o3770);
    else await fh.chmod(((await fh.stat()).mode & 0o7777) | 0o2000);
    await fh.chown(top ? top.owner : uid, gid);
  } finally {
    await fh.close();
  }
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (top?.keep.includes(entry.name)) continue;
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) await chownTree(p, uid, gid);
    else await lchown(p, uid, gid);
  }
}

function inside(p: string, dir: string): boolean {
  return p === dir || p.startsWith(dir + path.sep);
}

/** Takes read and write for others away from every entry of `dir` but `keep`. */
async function closeSiblings(dir: string, keep: string): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.name === keep || entry.isSymbolicLink()) continue;
    const p = path.join(dir, entry.name);
    const st = await lstat(p);
    if ((st.mode & 0o007) !== 0) await chmod(p, st.mode & 0o7770);
  }
}

/**
 * The user mode's view of the disk: the agent's uid reaches its repository, home and tmp (which
 * it owns) through folders it may pass but not list (0711 in the work dir; the run's scratch
 * folder 0710 with the uid's group, so no other run's uid gets in), and nothing else in the work
 * dir: every other entry loses its permissions for others. Folders above the work dir must let
 * others pass (o+x); the work dir is never put under one that does not.
 */
async function prepareUserTree(
  place: { workDir?: string; scratchDir: string; dirs: string[] },
  uid: number,
  gid: number,
): Promise<void> {
  const scratch = path.resolve(place.scratchDir);
  const workDir =
    place.workDir && inside(scratch, path.resolve(place.workDir)) ? path.resolve(place.workDir) : undefined;
  const chain: string[] = [];
  for (let d = path.dirname(scratch); ; d = path.dirname(d)) {
    chain.unshift(d);
    if (d === path.dirname(d)) break;
  }
  for (const d of chain) {
    if (workDir && inside(d, workDir)) {
      await chmod(d, 0o711);
      continue;
    }
    const st = await lstat(d);
    if ((st.mode & 0o001) === 0) {
      throw new AvatarError(
        'SANDBOX_UNAVAILABLE',
        `sandbox.mode user: the agent's uid cannot reach the repository because ${d} is not searchable by others ` +
          `(mode ${(st.mode & 0o777).toString(8)}); put work_dir under a folder others may pass (e.g. /var/lib/numa-avatar)`,
      );
    }
  }
  if (workDir) {
    for (let d = scratch; d !== workDir; d = path.dirname(d))
      await closeSiblings(path.dirname(d), path.basename(d));
  }
  await chown(scratch, process.getuid?.() ?? 0, gid);
  await chmod(scratch, 0o710);
  const runner = process.getuid?.() ?? 0;
  for (const d of place.dirs)
    await chownTree(d, uid, gid, d === place.dirs[0] ? { keep: ['.git'], owner: runner } : undefined);
}

export interface SandboxProviderOptions {
  probe?: Probe;
  /** The work dir: in the user mode, what the agent's uid must not see. */
  workDir?: string;
  /** Where uid leases are kept (default uid-lease.ts LEASE_DIR, one for the machine). */
  leaseDir?: string;
}

export function sandboxProvider(
  settings: SandboxSettings,
  opts: SandboxProviderOptions = {},
): SandboxProvider {
  const probe = opts.probe ?? systemProbe;
  return {
    async open(repoDir, scratchDir, log) {
      const { mode, why } = chooseMode(settings, probe);
      const homeDir = path.join(scratchDir, 'sandbox-home');
      const tmpDir = path.join(scratchDir, 'sandbox-tmp');
      await mkdir(homeDir, { recursive: true, mode: 0o700 });
      await mkdir(tmpDir, { recursive: true, mode: 0o700 });
      if (mode === 'none') return createSandbox(mode, why, settings, { repoDir, homeDir, tmpDir });

      const closers: Array<() => Promise<void>> = [];
      const onClose = async () => {
        for (const close of closers.splice(0).reverse()) await close();
      };
      try {
        // The user mode always runs the agent as a leased uid; the namespaces mode does too when
        // the runner is root (so that the sandbox is not root outside its namespaces either),
        // where bubblewrap works for that uid and the uid can pass to the work dir.
        let runAs: { uid: number; gid: number } | undefined;
        let asRootWhy: string | undefined;
        if (mode === 'user' || (probe.isRoot() && probe.hasSetpriv())) {
          const lease = await leaseUid(settings.uid, { dir: opts.leaseDir });
          closers.push(lease.release);
          try {
            if (mode === 'namespaces' && !probe.bwrapWorksAs(lease.uid))
              throw new AvatarError(
                'SANDBOX_UNAVAILABLE',
                `bubblewrap does not run as uid ${lease.uid} here`,
              );
            // A crashed run of this uid may have left processes: none may watch this one start.
            if (!(await reapUid(lease.uid)))
              throw new AvatarError('SANDBOX_UNAVAILABLE', `processes of uid ${lease.uid} survive SIGKILL`);
            await cleanUpUid(lease.uid);
            await prepareUserTree(
              { workDir: opts.workDir, scratchDir, dirs: [repoDir, homeDir, tmpDir] },
              lease.uid,
              lease.uid,
            );
            runAs = { uid: lease.uid, gid: lease.uid };
            // From here on what the runner creates is nobody's but its own and its group's: in
            // the repository, that group is the agent's uid's (chownTree); elsewhere, the runner's.
            const before = process.umask(0o007);
            // Given back when the run ends (a process that runs another task after this one).
            closers.push(async () => void process.umask(before));
          } catch (err) {
            if (mode === 'user') throw err;
            asRootWhy = describeError(err).replace(/^SANDBOX_UNAVAILABLE: /, '');
            await onClose();
          }
        } else if (probe.isRoot()) {
          asRootWhy = 'no setpriv';
        }
        if (mode === 'user') {
          return createSandbox(
            mode,
            why,
            { ...settings, uid: runAs!.uid, gid: runAs!.gid },
            { repoDir, homeDir, tmpDir, onClose },
          );
        }
        let proxySocketDir: string | undefined;
        if (settings.networkAllow.length > 0) {
          proxySocketDir = path.join(scratchDir, 'sandbox-net');
          if (Buffer.byteLength(path.join(proxySocketDir, PROXY_SOCKET)) <= MAX_SOCKET_PATH) {
            await mkdir(proxySocketDir, { recursive: true, mode: 0o700 });
          } else {
            // A deep work_dir: listen would cut the socket's path short. A folder of its own in
            // the temporary folder instead (0700, the run's only), removed when the run ends.
            const dir = await mkdtemp(path.join(os.tmpdir(), 'numa-net-'));
            proxySocketDir = dir;
            closers.push(() => rm(dir, { recursive: true, force: true }));
          }
          const socketPath = path.join(proxySocketDir, PROXY_SOCKET);
          const proxy = await startEgressProxy({
            socketPath,
            allow: settings.networkAllow,
            onRefused: (destination, reason) =>
              log?.(`sandbox: a setup step's connection to ${destination} was refused (${reason})`),
          });
          closers.push(() => proxy.close());
          // The sandbox (as its uid) connects to the socket: it needs the folder and the socket.
          if (runAs) for (const p of [proxySocketDir, socketPath]) await chown(p, runAs.uid, runAs.gid);
        }
        // Inside its namespaces the sandbox is sandbox.uid whatever uid it runs as outside.
        return createSandbox(mode, why, settings, {
          repoDir,
          homeDir,
          tmpDir,
          proxySocketDir,
          onClose,
          runAs,
          asRootWhy,
        });
      } catch (err) {
        await onClose();
        throw err;
      }
    },
  };
}
