import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { validate } from '../../core/config/load.ts';
import { isAvatarError } from '../../core/errors.ts';
import {
  CONTEXT_KEYS,
  DEFAULT_POLL_WAIT_SECONDS,
  PLACEHOLDER_BACKEND_URL,
  egressDomainProblem,
  resolveSettings,
  runnerConfigYaml,
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
      pollWaitSeconds: DEFAULT_POLL_WAIT_SECONDS,
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
    for (const key of CONTEXT_KEYS) {
      expect(Object.keys(ctx)).toContain(key);
    }
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

  it('defaults the long-poll window to a short one, and checks it is whole seconds in 0..60', () => {
    expect(DEFAULT_POLL_WAIT_SECONDS).toBe(2);
    expect(resolveSettings({ ...base, pollWaitSeconds: 0 }).pollWaitSeconds).toBe(0);
    expect(resolveSettings({ ...base, pollWaitSeconds: 20 }).pollWaitSeconds).toBe(20);
    const fromText = (v: string) => settingsFromContext((k) => ({ ...base, pollWaitSeconds: v })[k]);
    expect(resolveSettings(fromText('5') as NumaAvatarSettings).pollWaitSeconds).toBe(5);
    for (const bad of [-1, 61, 1.5]) {
      expect(errorOf(() => resolveSettings({ ...base, pollWaitSeconds: bad }))).toMatch(/pollWaitSeconds/);
    }
    expect(errorOf(() => resolveSettings(fromText('two') as NumaAvatarSettings))).toMatch(/pollWaitSeconds/);
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

  it('reads egressAllowDomains as a comma list, and leaves it unset by default', () => {
    expect(resolveSettings(base).egressAllowDomains).toBeUndefined();
    const given: Record<string, string> = {
      backendUrl: base.backendUrl,
      egressAllowDomains: 'github.com, *.github.com,registry.npmjs.org',
    };
    expect(
      resolveSettings(settingsFromContext((k) => given[k]) as NumaAvatarSettings).egressAllowDomains,
    ).toEqual(['github.com', '*.github.com', 'registry.npmjs.org']);
    const domains = ['api.openai.com', 'a-b.example.co.uk', '*.githubusercontent.com', 'x1.io'];
    expect(resolveSettings({ ...base, egressAllowDomains: domains }).egressAllowDomains).toEqual(domains);
  });

  it('refuses an egressAllowDomains entry that is not a domain name, naming the value', () => {
    const bad: [string, RegExp][] = [
      ['https://github.com', /"https:\/\/github\.com" is not a domain name/],
      ['github.com/org', /"github\.com\/org" is not a domain name/],
      ['github.com:443', /"github\.com:443" is not a domain name/],
      ['github', /"github" is not a domain name/],
      ['git hub.com', /"git hub\.com" is not a domain name/],
      ['foo.*.com', /"foo\.\*\.com" is not a domain name/],
      ['*github.com', /"\*github\.com" is not a domain name/],
      ['*.com', /"\*\.com" is not a domain name/],
      ['-github.com', /"-github\.com" is not a domain name/],
      ['a..b', /"a\.\.b" is not a domain name/],
      ['github.com.', /"github\.com\." is not a domain name/],
      [`${'a'.repeat(64)}.com`, /is not a domain name/],
      ['', /"" is not a domain name/],
      ['GitHub.com', /"GitHub\.com": write it in lower case/],
      ['10.0.0.1', /"10\.0\.0\.1" is an IP address/],
      ['*', /"\*" would allow every domain/],
    ];
    for (const [domain, expected] of bad) {
      const message = errorOf(() => resolveSettings({ ...base, egressAllowDomains: ['github.com', domain] }));
      expect(message, domain).toMatch(/egressAllowDomains\.1: /);
      expect(message, domain).toMatch(expected);
      expect(egressDomainProblem(domain), domain).toBeDefined();
    }
    expect(errorOf(() => resolveSettings({ ...base, egressAllowDomains: [] }))).toMatch(
      /egressAllowDomains: needs at least one domain/,
    );
    expect(
      errorOf(() =>
        resolveSettings({
          ...base,
          egressAllowDomains: Array.from({ length: 1001 }, (_, i) => `h${i}.example.com`),
        }),
      ),
    ).toMatch(/egressAllowDomains: at most 1000 domains/);
  });

  it('adds sandbox.mode user to the runner configuration, keeping the rest', () => {
    const asConfig = (text: string) => validate(parseYaml(text), 'NUMA_CONFIG_YAML');
    expect(runnerConfigYaml(undefined)).toBe('sandbox:\n  mode: user\n');
    expect(asConfig(runnerConfigYaml('')).sandbox.mode).toBe('user');
    const given = '# tuned for big repos\nlimits:\n  max_steps: 60 # more\nsandbox:\n  uid: 62000\n';
    const out = runnerConfigYaml(given);
    expect(out).toContain('# tuned for big repos');
    expect(out).toContain('max_steps: 60 # more');
    const config = asConfig(out);
    expect(config.sandbox).toMatchObject({ mode: 'user', uid: 62000 });
    expect(config.limits.max_steps).toBe(60);
    // A section whose keys are all commented out, and one that already says user.
    expect(asConfig(runnerConfigYaml('sandbox:\n  # uid: 1\n')).sandbox.mode).toBe('user');
    expect(runnerConfigYaml('sandbox:\n  mode: user\n')).toBe('sandbox:\n  mode: user\n');
  });

  it('refuses a runnerConfigYaml with another sandbox mode, or that is not a YAML mapping', () => {
    for (const mode of ['none', 'auto', 'namespaces']) {
      const message = errorOf(() =>
        resolveSettings({
          ...base,
          runnerConfigYaml: `sandbox:\n  mode: ${mode}\n  allow_unsandboxed: true\n`,
        }),
      );
      expect(message).toMatch(new RegExp(`runnerConfigYaml: sandbox\\.mode is "${mode}"`));
      expect(message).toMatch(/leave sandbox\.mode out/);
    }
    expect(errorOf(() => resolveSettings({ ...base, runnerConfigYaml: 'limits: [1\n' }))).toMatch(
      /runnerConfigYaml: not valid YAML/,
    );
    expect(errorOf(() => resolveSettings({ ...base, runnerConfigYaml: '- a\n- b\n' }))).toMatch(
      /runnerConfigYaml: expected a mapping of keys at the top level/,
    );
    expect(errorOf(() => resolveSettings({ ...base, runnerConfigYaml: 'sandbox: user\n' }))).toMatch(
      /runnerConfigYaml: sandbox: expected a mapping/,
    );
    expect(errorOf(() => runnerConfigYaml('sandbox:\n  mode: none\n'))).toMatch(/sandbox\.mode is "none"/);
  });

  it('rejects keys it does not know (a typo is not silently ignored)', () => {
    expect(() => settingsSchema.parse({ ...base, maxRunner: 3 })).toThrow(/maxRunner/);
  });
});
