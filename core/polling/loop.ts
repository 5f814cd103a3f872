/**
 * The poll loop: pollOnce until stopped, surviving every backend error. Backoff with full jitter
 * between failed polls; an outage is logged once when it starts and once when it ends, not on
 * every retry. When the backend answers at once (it ignores `wait`), the loop sleeps
 * `intervalSeconds` between empty polls instead of hammering it.
 */
import { describeError, isAvatarError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Clock } from '../ports.ts';
import { systemClock } from '../ports.ts';
import { backoffDelay } from '../retry.ts';
import { pollOnce, type PollDeps, type PollResult } from './poller.ts';

export interface PollLoopSettings {
  wait: () => number;
  limit: () => number;
  intervalSeconds: () => number;
  backoff?: { baseMs: number; capMs: number };
}

export interface PollLoopHooks {
  onPoll?: (result: PollResult) => void;
  onError?: (error: unknown, consecutive: number) => void;
}

export interface PollLoopOptions extends Omit<PollDeps, 'client'> {
  /** Called before each poll, so a configuration change (a new backend URL) applies at once. */
  client: () => PollDeps['client'];
  settings: PollLoopSettings;
  log: Logger;
  clock?: Clock;
  signal: AbortSignal;
  /**
   * Stop (without error) once this returns true: checked before each poll and before the interval
   * sleep after one (the poller Lambda: its time budget, or an idle poll).
   */
  until?: () => boolean;
  hooks?: PollLoopHooks;
  random?: () => number;
}

export async function runPollLoop(opts: PollLoopOptions): Promise<void> {
  const clock = opts.clock ?? systemClock;
  const backoff = opts.settings.backoff ?? { baseMs: 1000, capMs: 60_000 };
  let failures = 0;
  let outageStarted = 0;

  while (!opts.signal.aborted && !(opts.until?.() ?? false)) {
    try {
      const result = await pollOnce(
        { ...opts, client: opts.client(), now: opts.now ?? (() => clock.now()) },
        { wait: opts.settings.wait(), limit: opts.settings.limit(), signal: opts.signal },
      );
      if (failures > 0) {
        const secs = Math.round((clock.now() - outageStarted) / 1000);
        opts.log.info('backend reachable again', { after_seconds: secs, failed_polls: failures });
        failures = 0;
      }
      opts.hooks?.onPoll?.(result);
      if (result.forwarded + result.deadLettered > 0) {
        opts.log.info('messages received', {
          forwarded: result.forwarded,
          dead_lettered: result.deadLettered,
          cursor: result.cursor,
        });
      }
      // Not when the loop stops here anyway (the poller Lambda ends after an idle poll): a sleep
      // then would only add to the invocation's billed time.
      if (result.answeredAtOnce && !(opts.until?.() ?? false)) {
        await clock.sleep(opts.settings.intervalSeconds() * 1000, opts.signal);
      }
    } catch (err) {
      if (opts.signal.aborted) break;
      failures++;
      opts.hooks?.onError?.(err, failures);
      if (failures === 1) {
        outageStarted = clock.now();
        const hint = isAvatarError(err, 'BACKEND_AUTH') ? ' (a configuration problem: fix the token)' : '';
        opts.log.warn(`polling failed, retrying with backoff${hint}`, { error: describeError(err) });
      } else {
        opts.log.debug('polling still failing', { error: describeError(err), consecutive: failures });
      }
      await clock.sleep(
        Math.max(250, backoffDelay(failures - 1, { ...backoff, random: opts.random })),
        opts.signal,
      );
    }
  }
}
