import { describe, expect, it } from 'vitest';
import { isAvatarError } from '../../core/errors.ts';
import {
  CONTEXT_KEYS,
  PLACEHOLDER_BACKEND_URL,
  resolveSettings,
  settingsFromContext,
  settingsSchema,
} from '../../infra/config.ts';
import type { NumaAvatarSettings } from '../../infra/config.ts';
import { cdkJsonContext } from './helpers.ts';

const base: NumaAvatarSettings = { backendUrl: 'https://numa.test.example' };

function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(isAvatarError(err, 'CONFIG_INVALID')).toBe(true);
    return (err as Error).message;
  }
  throw new Error('expected a CONFIG_INVALID error');
}

describe('stack settings', () => {
  it('applies the documented defaults', () => {
    const s = resolveSettings(base);
    expect(s).toMatchObject({
      runnerCpu: 1024,
      runnerMemoryMiB: 2048,
      runnerEphemeralStorageGiB: 30,
      runTimeoutMinutes: 60,
      maxRunners: 5,
      maxAttempts: 2,
      capacity: 'FARGATE',
      egressPorts: [443],
      logRetentionDays: 30,
      pollWaitSeconds: 20,
      runsRetentionDays: 90,
      cacheRetentionDays: 30,
      runnerSubnets: 'public',
      runnerFamily: 'numa-avatar-runner',
      reservePollerConcurrency: true,
      lambdaRuntime: 'nodejs24.x',
    });
    expect(s.vpcId).toBeUndefined();
    expect(s.alarmEmail).toBeUndefined();
  });

  it('cdk.json holds every setting, with the same defaults as the schema', () => {
    const ctx = cdkJsonContext();
    const fromJson = resolveSettings({ ...settingsFromContext((k) => ctx[k]), backendUrl: base.backendUrl });
    expect(fromJson).toEqual(resolveSettings(base));
    for (const key of CONTEXT_KEYS) expect(Object.keys(ctx)).toContain(key);
    expect(ctx.backendUrl).toBe(PLACEHOLDER_BACKEND_URL);
  });

  it('reads command-line context text as the right types', () => {
    const given: Record<string, string> = {
      backendUrl: 'https://numa.example.com/api',
      maxRunners: '10',
      egressPorts: '443, 22',
      reservePollerConcurrency: 'false',
      capacity: 'FARGATE_SPOT',
      subnetIds: 'subnet-0abc,subnet-0def',
      vpcId: 'vpc-0123',
      failureRateThreshold: '0.25',
      alarmEmail: '',
    };
    const s = resolveSettings(settingsFromContext((k) => given[k]) as NumaAvatarSettings);
    expect(s.maxRunners).toBe(10);
    expect(s.egressPorts).toEqual([443, 22]);
    expect(s.reservePollerConcurrency).toBe(false);
    expect(s.capacity).toBe('FARGATE_SPOT');
    expect(s.subnetIds).toEqual(['subnet-0abc', 'subnet-0def']);
    expect(s.failureRateThreshold).toBe(0.25);
    // An empty value means "unset".
    expect(s.alarmEmail).toBeUndefined();
  });

  it('names each bad key', () => {
    const message = errorOf(() =>
      resolveSettings({
        ...base,
        runnerEphemeralStorageGiB: 20,
        capacity: 'SPOT' as 'FARGATE',
        egressPorts: [],
        logRetentionDays: 31,
      }),
    );
    expect(message).toMatch(/runnerEphemeralStorageGiB/);
    expect(message).toMatch(/capacity/);
    expect(message).toMatch(/egressPorts/);
    expect(message).toMatch(/logRetentionDays: expected one of 1, 3, 5/);
  });

  it('rejects text that is not a number where a number is expected', () => {
    const message = errorOf(() =>
      resolveSettings(settingsFromContext((k) => ({ ...base, maxRunners: 'ten' })[k]) as NumaAvatarSettings),
    );
    expect(message).toMatch(/maxRunners/);
  });

  it('requires backendUrl, an http(s) URL without credentials', () => {
    expect(errorOf(() => resolveSettings({} as NumaAvatarSettings))).toMatch(/backendUrl/);
    expect(errorOf(() => resolveSettings({ backendUrl: 'ftp://numa.example.com' }))).toMatch(/backendUrl/);
    expect(errorOf(() => resolveSettings({ backendUrl: 'https://user:pw@numa.example.com' }))).toMatch(
      /backendUrl: must not contain credentials/,
    );
  });

  it('checks Fargate CPU and memory combinations', () => {
    expect(resolveSettings({ ...base, runnerCpu: 2048, runnerMemoryMiB: 8192 }).runnerMemoryMiB).toBe(8192);
    expect(resolveSettings({ ...base, runnerCpu: 256, runnerMemoryMiB: 512 }).runnerMemoryMiB).toBe(512);
    expect(errorOf(() => resolveSettings({ ...base, runnerCpu: 1024, runnerMemoryMiB: 1024 }))).toMatch(
      /runnerMemoryMiB: 1024 is not a Fargate size for runnerCpu 1024 \(expected 2048, 3072/,
    );
    expect(errorOf(() => resolveSettings({ ...base, runnerCpu: 3000 }))).toMatch(/runnerCpu/);
  });

  it('keeps the long-poll window inside the poller timeout', () => {
    expect(
      errorOf(() =>
        resolveSettings({
          ...base,
          pollWaitSeconds: 50,
          pollSafetyMarginSeconds: 15,
          pollerTimeoutSeconds: 60,
        }),
      ),
    ).toMatch(
      /pollWaitSeconds \(50\) \+ pollSafetyMarginSeconds \(15\) must be less than pollerTimeoutSeconds \(60\)/,
    );
  });

  it('needs vpcId with subnetIds, and checks their shape', () => {
    expect(errorOf(() => resolveSettings({ ...base, subnetIds: ['subnet-0abc'] }))).toMatch(
      /subnetIds: needs vpcId/,
    );
    expect(errorOf(() => resolveSettings({ ...base, vpcId: 'my-vpc' }))).toMatch(/vpcId/);
  });

  it('rejects keys it does not know (a typo is not silently ignored)', () => {
    expect(() => settingsSchema.parse({ ...base, maxRunner: 3 })).toThrow(/maxRunner/);
  });
});
