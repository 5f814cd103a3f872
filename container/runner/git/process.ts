/**
 * Running the `git` binary: spawn without a shell, a timeout, an environment without inherited
 * secrets, hooks and fsmonitor switched off, the user's global config ignored, and credentials
 * (when a remote needs them) handed to that one child process only, through an inline credential
 * helper that reads them from its environment and answers only for the expected protocol and host.
 */
import { spawn } from 'node:child_process';
import { scrubEnv } from '../../../core/env.ts';
import type { Redactor } from '../../../core/redact.ts';
import { urlOrigin } from './auth.ts';
import { gitError, tail } from './errors.ts';
import type { GitAuth } from './types.ts';

export interface GitRunOptions {
  cwd?: string;
  /** Credentials for `remoteUrl` (both or neither). */
  auth?: GitAuth;
  remoteUrl?: string;
  input?: string;
  /** Extra environment variables for this call (e.g. author identity, GIT_INDEX_FILE). */
  env?: Record<string, string>;
  /** Exit codes that are not failures (default [0]). */
  okCodes?: number[];
  /** Receives stderr lines (progress) as they come, redacted. */
  onProgress?: (line: string) => void;
  /** What this call does, for error messages. */
  what: string;
}

export interface GitRunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface GitRunner {
  run(args: string[], opts: GitRunOptions): Promise<GitRunResult>;
}

// Reads the request git writes on stdin and answers only for the expected protocol and host.
const CREDENTIAL_HELPER =
  '!f() { test "$1" = get || return 0; ok=0; ' +
  'while IFS= read -r line; do ' +
  '[ "$line" = "protocol=$NUMA_GIT_PROTOCOL" ] && ok=$((ok+1)); ' +
  '[ "$line" = "host=$NUMA_GIT_HOST" ] && ok=$((ok+1)); ' +
  'done; ' +
  '[ "$ok" -ge 2 ] || return 0; ' +
  'printf "%s\\n" "username=$NUMA_GIT_USER" "password=$NUMA_GIT_PASS"; }; f';

/** GIT_* variables that would point git at another repository or change what it reads. */
const DROP_GIT_VARS = [
  'GIT_DIR',
  'GIT_WORK_TREE',
  'GIT_INDEX_FILE',
  'GIT_OBJECT_DIRECTORY',
  'GIT_ALTERNATE_OBJECT_DIRECTORIES',
  'GIT_COMMON_DIR',
  'GIT_NAMESPACE',
  'GIT_PREFIX',
  'GIT_CEILING_DIRECTORIES',
  'GIT_CONFIG',
  'GIT_CONFIG_PARAMETERS',
  'GIT_CONFIG_COUNT',
  'GIT_EDITOR',
  'GIT_SEQUENCE_EDITOR',
  'GIT_EXTERNAL_DIFF',
  'GIT_PAGER',
  'SSH_ASKPASS',
];

export function createGitRunner(opts: {
  binary?: string;
  baseEnv?: NodeJS.ProcessEnv;
  timeoutMs: number;
  redactor: (auth: GitAuth | undefined) => Redactor;
}): GitRunner {
  const binary = opts.binary ?? 'git';
  const base = scrubEnv(opts.baseEnv ?? process.env);
  for (const name of DROP_GIT_VARS) delete base[name];
  for (const name of Object.keys(base)) if (/^GIT_CONFIG_(KEY|VALUE)_\d+$/.test(name)) delete base[name];

  return {
    run(args, runOpts) {
      const redactor = opts.redactor(runOpts.auth);
      const env: NodeJS.ProcessEnv = {
        ...base,
        GIT_TERMINAL_PROMPT: '0',
        // Empty: no askpass program at all (git stops looking at core.askPass / SSH_ASKPASS).
        GIT_ASKPASS: '',
        LC_ALL: 'C',
        LANGUAGE: 'C',
        // Never the user's global config (~/.gitconfig, ~/.config/git/config): the agent's commands
        // can write the home folder, and git would obey an http.proxy or url.*.insteadOf found there.
        GIT_CONFIG_GLOBAL: '/dev/null',
        // Nor the system's (/etc/gitconfig): a writable one could route the push through a proxy.
        GIT_CONFIG_NOSYSTEM: '1',
        ...runOpts.env,
      };
      const config = [
        '-c',
        'core.hooksPath=/dev/null',
        '-c',
        'core.fsmonitor=false',
        '-c',
        'color.ui=false',
        '-c',
        'core.quotePath=false',
        '-c',
        'credential.helper=',
        // The work tree may belong to the agent's uid (sandbox.mode user); its .git stays the
        // runner's and read-only to the sandbox (sandbox/git-dir.ts), and the config guard
        // (config-guard.ts) checks what that config holds.
        '-c',
        'safe.directory=*',
        // Nothing that runs a command or another repository's config behind the runner's back:
        // no automatic gc or maintenance (their hooks), no submodules, no local transport.
        '-c',
        'gc.auto=0',
        '-c',
        'maintenance.auto=false',
        '-c',
        'submodule.recurse=false',
        '-c',
        'diff.ignoreSubmodules=all',
        '-c',
        'status.submoduleSummary=false',
        '-c',
        'protocol.file.allow=never',
        '-c',
        'core.alternateRefsCommand=',
      ];
      if (runOpts.auth && runOpts.remoteUrl) {
        const origin = urlOrigin(runOpts.remoteUrl);
        if (origin) {
          config.push('-c', `credential.helper=${CREDENTIAL_HELPER}`);
          env.NUMA_GIT_PROTOCOL = origin.protocol;
          env.NUMA_GIT_HOST = origin.host;
          env.NUMA_GIT_USER = runOpts.auth.username;
          env.NUMA_GIT_PASS = runOpts.auth.password;
        }
      }

      return new Promise<GitRunResult>((resolve, reject) => {
        const child = spawn(binary, [...config, ...args], {
          cwd: runOpts.cwd,
          env,
          stdio: ['pipe', 'pipe', 'pipe'],
          shell: false,
        });
        const out: Buffer[] = [];
        let err = '';
        let pending = '';
        let timedOut = false;
        const timer = setTimeout(() => {
          timedOut = true;
          child.kill('SIGKILL');
        }, opts.timeoutMs);

        child.stdout.on('data', (c: Buffer) => out.push(c));
        child.stderr.on('data', (c: Buffer) => {
          const text = c.toString('utf8');
          err = (err + text).slice(-64 * 1024);
          if (runOpts.onProgress) {
            pending += text;
            const parts = pending.split(/[\r\n]/);
            pending = parts.pop() ?? '';
            for (const p of parts) if (p.trim()) runOpts.onProgress(redactor.redact(p.trim()));
          }
        });
        child.stdin.on('error', () => {
          // git may exit before reading its input; the exit code tells what happened.
        });
        child.on('error', (e) => {
          clearTimeout(timer);
          reject(
            gitError(runOpts.what, `could not run ${binary}: ${e.message}`, redactor, { code: 'GIT_FAILED' }),
          );
        });
        child.on('close', (code, signal) => {
          clearTimeout(timer);
          const stdout = Buffer.concat(out).toString('utf8');
          if (timedOut) {
            reject(
              gitError(
                runOpts.what,
                `timed out after ${Math.round(opts.timeoutMs / 1000)} s. ${tail(err)}`,
                redactor,
                {
                  code: 'GIT_FAILED',
                },
              ),
            );
            return;
          }
          const exit = code ?? (signal ? 128 : 1);
          if (!(runOpts.okCodes ?? [0]).includes(exit)) {
            reject(gitError(runOpts.what, tail(err) || `git exited with ${exit}`, redactor));
            return;
          }
          resolve({ code: exit, stdout, stderr: err });
        });
        child.stdin.end(runOpts.input ?? '');
      });
    },
  };
}
