/**
 * Choosing the sandbox (sandbox.mode): `auto` probes, in order, bubblewrap (namespaces), then
 * setpriv as root (user); `none` needs sandbox.allow_unsandboxed. With nothing usable and no
 * permission to run unsandboxed, the run refuses to start and says how to get a sandbox.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { AvatarError } from '../../../core/errors.ts';
import { Bubblewrap } from './bubblewrap.ts';
import { isExecutable, NETOFF_PATH, SetprivUser, setprivIdentity } from './setpriv.ts';
import { Unsandboxed } from './unsandboxed.ts';
import type { SandboxLimits } from './limits.ts';
import type { Sandbox, SandboxMode } from './types.ts';

export type { Sandbox, SandboxMode } from './types.ts';
export type { SandboxLimits } from './limits.ts';
export { Bubblewrap, SANDBOX_HOME } from './bubblewrap.ts';
export { NETOFF_PATH, SetprivUser } from './setpriv.ts';
export { Unsandboxed } from './unsandboxed.ts';

/** The default when no sandbox was handed in (unit tests of the runners themselves). */
export const UNSANDBOXED: Sandbox = new Unsandboxed('no sandbox was given to this call');

export interface SandboxSettings {
  mode: 'auto' | SandboxMode;
  allowUnsandboxed: boolean;
  uid: number;
  gid: number;
  readOnlyPaths: string[];
  /** Hosts setup steps may reach (sandbox.network.allow); empty: none. */
  networkAllow: string[];
  limits: SandboxLimits;
  /**
   * User mode: where to look for the network filter (netoff.c; default NETOFF_PATH). The commands
   * run under it when it is there and executable; without it their network is open.
   */
  netoff?: string;
}

export interface SandboxPlace {
  repoDir: string;
  /** A private folder of this run for the sandbox's home (created by the caller). */
  homeDir: string;
  /** A private folder of this run for its temporary files (user mode; created by the caller). */
  tmpDir: string;
  /** Called when the sandbox closes (gives a leased uid back, stops the egress proxy). */
  onClose?: () => Promise<void>;
  /** The folder of the egress proxy's socket, when setup steps have a network (namespaces). */
  proxySocketDir?: string;
  /** namespaces as root: the leased uid bubblewrap runs as, or why it runs as root. */
  runAs?: { uid: number; gid: number };
  asRootWhy?: string;
}

export interface Probe {
  bwrapWorks(): boolean;
  /** Whether bubblewrap also works started as `uid` (through setpriv): user namespaces for all. */
  bwrapWorksAs(uid: number): boolean;
  isRoot(): boolean;
  hasSetpriv(): boolean;
}

const BWRAP = '/usr/bin/bwrap';
const SETPRIV = '/usr/bin/setpriv';

/** The bubblewrap flags every sandbox uses, around `/bin/true`: what "bubblewrap works" means. */
const BWRAP_PROBE = [
  '--unshare-all',
  '--unshare-user',
  '--disable-userns',
  '--uid',
  '61000',
  '--ro-bind',
  '/',
  '/',
  '--die-with-parent',
  '--',
  '/bin/true',
];

function runsOk(file: string, args: string[]): boolean {
  try {
    execFileSync(file, args, { stdio: 'ignore', timeout: 10_000, env: { PATH: '/usr/bin:/bin' }, cwd: '/' });
    return true;
  } catch {
    return false;
  }
}

export const systemProbe: Probe = {
  bwrapWorks: () => existsSync(BWRAP) && runsOk(BWRAP, BWRAP_PROBE),
  bwrapWorksAs: (uid) =>
    existsSync(BWRAP) &&
    existsSync(SETPRIV) &&
    runsOk(SETPRIV, [...setprivIdentity(uid, uid), '--', BWRAP, ...BWRAP_PROBE]),
  isRoot: () => process.getuid?.() === 0,
  hasSetpriv: () => existsSync(SETPRIV),
};

export const HOW_TO_SANDBOX =
  'install bubblewrap (apt-get install bubblewrap) where user namespaces are allowed, or run the runner as root ' +
  'for sandbox.mode user; or set sandbox.allow_unsandboxed: true to accept running untrusted code as this user';

/** Which mode would run, or why none can. */
export function chooseMode(
  s: Pick<SandboxSettings, 'mode' | 'allowUnsandboxed'>,
  probe: Probe,
): { mode: SandboxMode; why: string } {
  const userOk = probe.isRoot() && probe.hasSetpriv();
  if (s.mode === 'namespaces') {
    if (!probe.bwrapWorks())
      throw new AvatarError(
        'SANDBOX_UNAVAILABLE',
        `sandbox.mode is namespaces but bubblewrap cannot run here: ${HOW_TO_SANDBOX}`,
      );
    return { mode: 'namespaces', why: 'sandbox.mode: namespaces' };
  }
  if (s.mode === 'user') {
    if (!userOk)
      throw new AvatarError(
        'SANDBOX_UNAVAILABLE',
        `sandbox.mode is user but it needs root and ${SETPRIV}: ${HOW_TO_SANDBOX}`,
      );
    return { mode: 'user', why: 'sandbox.mode: user' };
  }
  if (s.mode === 'none') {
    if (!s.allowUnsandboxed)
      throw new AvatarError(
        'SANDBOX_UNAVAILABLE',
        'sandbox.mode is none, which needs sandbox.allow_unsandboxed: true',
      );
    return { mode: 'none', why: 'sandbox.mode: none' };
  }
  if (probe.bwrapWorks()) return { mode: 'namespaces', why: 'auto: bubblewrap works here' };
  if (userOk) return { mode: 'user', why: 'auto: no user namespaces, running as root' };
  if (s.allowUnsandboxed)
    return {
      mode: 'none',
      why: 'auto: neither bubblewrap nor root is available, and sandbox.allow_unsandboxed is true',
    };
  throw new AvatarError(
    'SANDBOX_UNAVAILABLE',
    `no sandbox can run here and sandbox.allow_unsandboxed is false: ${HOW_TO_SANDBOX}`,
  );
}

export function createSandbox(
  mode: SandboxMode,
  why: string,
  s: SandboxSettings,
  place: SandboxPlace,
): Sandbox {
  switch (mode) {
    case 'namespaces':
      return new Bubblewrap({
        repoDir: place.repoDir,
        homeDir: place.homeDir,
        readOnlyPaths: s.readOnlyPaths,
        uid: s.uid,
        gid: s.gid,
        limits: s.limits,
        proxySocketDir: place.proxySocketDir,
        onClose: place.onClose,
        runAs: place.runAs,
        asRootWhy: place.asRootWhy,
      });
    case 'user': {
      const netoff = s.netoff ?? NETOFF_PATH;
      return new SetprivUser({
        uid: s.uid,
        gid: s.gid,
        homeDir: place.homeDir,
        tmpDir: place.tmpDir,
        limits: s.limits,
        netoff: isExecutable(netoff) ? netoff : undefined,
        netoffLookedFor: netoff,
        onClose: place.onClose,
      });
    }
    case 'none':
      return new Unsandboxed(why);
  }
}
