import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { isAvatarError } from '../../core/errors.ts';
import { Redactor } from '../../core/redact.ts';
import { readDispatcherEnv, readPollerEnv, readStoppedEnv } from '../../functions/common/env.ts';
import { createLogger, toCoreLogger } from '../../functions/common/logger.ts';
import { SecretCache, SecretFieldError, type SecretFieldProblem } from '../../functions/common/secrets.ts';
import { describeStop, ecsTaskDetailSchema } from '../../functions/dispatcher/ecs-event.ts';
import { captureStdout, fakeSecrets, MOCK_AWS, SECRET_ARN, TASK_DEF_ARN, type Captured } from './harness.ts';

function configError(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(isAvatarError(err, 'CONFIG_INVALID')).toBe(true);
    return (err as Error).message;
  }
  throw new Error('expected a CONFIG_INVALID error');
}

const DISPATCHER_ENV = {
  QUEUE_URL: 'https://sqs/q',
  DLQ_URL: 'https://sqs/dlq',
  BUCKET: 'b',
  CLUSTER_ARN: 'arn:aws:ecs:us-east-1:123456789012:cluster/c',
  TASK_DEFINITION_ARN: TASK_DEF_ARN,
  SUBNET_IDS: 'subnet-1,subnet-2',
  SECURITY_GROUP_IDS: 'sg-1',
  MAX_RUNNERS: '4',
  NUMA_BACKEND_URL: 'https://numa.example',
};

describe('environment readers', () => {
  it('apply the documented defaults', () => {
    const p = readPollerEnv({ NUMA_BACKEND_URL: 'http://x', QUEUE_URL: 'q', DLQ_URL: 'd', BUCKET: 'b' });
    expect(p).toMatchObject({ waitSeconds: 2, limit: 50, safetyMarginSeconds: 15, intervalSeconds: 5 });
    expect(p.apiTokenSecretArn).toBeUndefined();
    expect(p.apiTokenSecretField).toBeUndefined();
    const d = readDispatcherEnv(DISPATCHER_ENV);
    expect(d).toMatchObject({
      containerName: 'runner',
      family: 'numa-avatar-runner',
      assignPublicIp: 'DISABLED',
      capacityProvider: 'FARGATE',
      maxRunners: 4,
      maxAttempts: 2,
      subnetIds: ['subnet-1', 'subnet-2'],
      statuses: { done: 'done', failed: 'failed', blocked: 'blocked' },
    });
    expect(readStoppedEnv({ ...DISPATCHER_ENV, STATUS_FAILED: 'error' })).toMatchObject({
      family: 'numa-avatar-runner',
      statuses: { failed: 'error' },
    });
  });

  it('fail loudly, naming the variable and what was expected', () => {
    const { SUBNET_IDS: _s, ...noSubnets } = DISPATCHER_ENV;
    expect(configError(() => readDispatcherEnv(noSubnets))).toBe(
      'environment variable SUBNET_IDS: missing (expected a comma-separated list of subnet ids)',
    );
    expect(configError(() => readDispatcherEnv({ ...DISPATCHER_ENV, MAX_RUNNERS: 'lots' }))).toMatch(
      /^environment variable MAX_RUNNERS: not an integer \("lots"\)/,
    );
    expect(configError(() => readDispatcherEnv({ ...DISPATCHER_ENV, MAX_RUNNERS: '0' }))).toMatch(
      /MAX_RUNNERS: 0 is out of range/,
    );
    expect(configError(() => readDispatcherEnv({ ...DISPATCHER_ENV, CAPACITY_PROVIDER: 'EC2' }))).toMatch(
      /CAPACITY_PROVIDER: "EC2" is not allowed \(expected one of FARGATE, FARGATE_SPOT\)/,
    );
    expect(configError(() => readDispatcherEnv({ ...DISPATCHER_ENV, NUMA_BACKEND_URL: 'ftp://x' }))).toMatch(
      /NUMA_BACKEND_URL: unsupported scheme ftp:/,
    );
    expect(configError(() => readPollerEnv({ ...DISPATCHER_ENV, POLL_WAIT_SECONDS: '9999' }))).toMatch(
      /POLL_WAIT_SECONDS: 9999 is out of range \(expected the long-poll wait in seconds, 0-300\)/,
    );
    expect(
      configError(() => readPollerEnv({ ...DISPATCHER_ENV, NUMA_API_TOKEN_SECRET_ARN: 'not an arn!' })),
    ).toMatch(/NUMA_API_TOKEN_SECRET_ARN: not a Secrets Manager ARN/);
  });

  it('read the secret field name of the backend token, and refuse a bad one', () => {
    const withArn = { ...DISPATCHER_ENV, NUMA_API_TOKEN_SECRET_ARN: SECRET_ARN };
    expect(readPollerEnv({ ...withArn, NUMA_API_TOKEN_SECRET_FIELD: 'backend_token' })).toMatchObject({
      apiTokenSecretArn: SECRET_ARN,
      apiTokenSecretField: 'backend_token',
    });
    expect(readDispatcherEnv({ ...withArn, NUMA_API_TOKEN_SECRET_FIELD: 'backend_token' })).toMatchObject({
      apiTokenSecretField: 'backend_token',
    });
    expect(
      configError(() => readPollerEnv({ ...withArn, NUMA_API_TOKEN_SECRET_FIELD: 'backend token!' })),
    ).toMatch(/^environment variable NUMA_API_TOKEN_SECRET_FIELD: not a JSON key name/);
    expect(
      configError(() => readPollerEnv({ ...DISPATCHER_ENV, NUMA_API_TOKEN_SECRET_FIELD: 'backend_token' })),
    ).toMatch(/NUMA_API_TOKEN_SECRET_FIELD: set without NUMA_API_TOKEN_SECRET_ARN/);
  });
});

describe('secrets and logs', () => {
  let out: Captured;
  beforeEach(() => {
    out = captureStdout();
  });
  afterEach(() => out.restore());

  it('reads a secret once per container, does not cache a failure, and registers the value for redaction', async () => {
    const secret = 'tok_live_4f8a2c9e1b7d';
    const sm = fakeSecrets({ [SECRET_ARN]: `  ${secret}\n` });
    const redactor = new Redactor();
    const cache = new SecretCache({ client: new SecretsManagerClient(MOCK_AWS), redactor });
    expect(await cache.get(SECRET_ARN)).toBe(secret);
    expect(await cache.get(SECRET_ARN)).toBe(secret);
    expect(sm.calls()).toBe(1);
    expect(redactor.redact(`token is ${secret}`)).toBe('token is [REDACTED]');

    const missing = SECRET_ARN.replace('AbCdEf', 'Nope00');
    await expect(cache.get(missing)).rejects.toThrow(/cannot read secret .*ResourceNotFoundException/);
    await expect(cache.get(missing)).rejects.toThrow();
    expect(sm.calls()).toBe(3);
  });

  describe('a JSON secret', () => {
    const values = {
      backend_token: 'numa_json_tok_6b1f0c9a2e',
      git_token: 'ghp_json_secret_value_0123456789ab',
      model_api_key: 'sk-json-secret-value-abcdef0123',
    };

    it('gives one field, trimmed, from one read, and registers every value for redaction', async () => {
      const sm = fakeSecrets({
        [SECRET_ARN]: JSON.stringify({ ...values, backend_token: `  ${values.backend_token}\n` }),
      });
      const redactor = new Redactor();
      const cache = new SecretCache({ client: new SecretsManagerClient(MOCK_AWS), redactor });
      expect(await cache.getField(SECRET_ARN, 'backend_token')).toBe(values.backend_token);
      expect(await cache.getField(SECRET_ARN, 'git_token')).toBe(values.git_token);
      expect(sm.calls()).toBe(1);
      for (const v of Object.values(values)) {
        expect(redactor.redact(`a ${v} b`)).toBe('a [REDACTED] b');
      }
    });

    const problems: Array<[string, string, SecretFieldProblem, RegExp]> = [
      ['a plain value', values.git_token, 'not-json-object', /its value is not a JSON object/],
      [
        'JSON that does not parse',
        `{"backend_token": "${values.backend_token}`,
        'not-json-object',
        /not a JSON object/,
      ],
      ['a JSON array', JSON.stringify([values.backend_token]), 'not-json-object', /not a JSON object/],
      [
        'no such field',
        JSON.stringify({ git_token: values.git_token }),
        'missing',
        /it has no field "backend_token"/,
      ],
      [
        'an empty field',
        JSON.stringify({ ...values, backend_token: ' \t ' }),
        'empty',
        /its field "backend_token" is empty/,
      ],
      ['a number', JSON.stringify({ ...values, backend_token: 12345678 }), 'not-a-string', /is a number/],
      ['null', JSON.stringify({ ...values, backend_token: null }), 'not-a-string', /is null/],
    ];
    for (const [what, text, problem, message] of problems) {
      it(`refuses ${what} with a SecretFieldError naming the field, never a value`, async () => {
        fakeSecrets({ [SECRET_ARN]: text });
        const cache = new SecretCache({
          client: new SecretsManagerClient(MOCK_AWS),
          redactor: new Redactor(),
        });
        const err = await cache.getField(SECRET_ARN, 'backend_token').catch((x: unknown) => x);
        expect(err).toBeInstanceOf(SecretFieldError);
        expect(isAvatarError(err, 'CONFIG_INVALID')).toBe(true);
        const e = err as SecretFieldError;
        expect(e).toMatchObject({
          field: 'backend_token',
          problem,
          secret: 'numa-avatar/backend-token-AbCdEf',
        });
        expect(e.message).toMatch(/^secret "numa-avatar\/backend-token-AbCdEf": /);
        expect(e.message).toMatch(message);
        expect(e.message).toMatch(/expected a JSON object with a non-empty string field "backend_token"/);
        for (const v of [...Object.values(values), '12345678']) expect(e.message).not.toContain(v);
      });
    }
  });

  it('redacts secrets from Powertools log lines: message, fields and errors', () => {
    const secret = 'tok_live_9d8c7b6a5f4e';
    const redactor = new Redactor([secret]);
    const log = toCoreLogger(createLogger({ redactor }), { fixed: 'yes' });
    log.warn(`calling with ${secret}`, {
      url: `https://user:${secret}@git.example/repo.git`,
      error: new Error(`401 for Bearer ${secret}`),
      nested: { list: [secret] },
    });
    const text = out.text();
    expect(text).toContain('"fixed":"yes"');
    expect(text).toContain('[REDACTED]');
    expect(text).toContain('"service":"numa-avatar"');
    expect(text).not.toContain(secret);
    expect(text).not.toContain('user:');
  });
});

describe('stop classification', () => {
  const detail = (d: object) => ecsTaskDetailSchema.parse({ taskArn: 'arn:aws:ecs:r:1:task/c/abc', ...d });

  it('recognises each kind of stop', () => {
    const kinds = [
      detail({
        stopCode: 'EssentialContainerExited',
        containers: [
          { name: 'runner', exitCode: 137, reason: 'OutOfMemoryError: Container killed due to memory usage' },
        ],
      }),
      detail({ stopCode: 'SpotInterruption', stoppedReason: 'Your Spot Task was interrupted.' }),
      detail({ stopCode: 'UserInitiated', stoppedReason: 'Task stopped by user' }),
      detail({
        stopCode: 'TaskFailedToStart',
        stoppedReason: 'ResourceInitializationError: unable to pull secrets',
      }),
      detail({ stoppedReason: 'CannotPullContainerError: ref not found' }),
      detail({ stopCode: 'EssentialContainerExited', containers: [{ name: 'runner', exitCode: 2 }] }),
      detail({ stopCode: 'EssentialContainerExited', containers: [{ name: 'runner', exitCode: 0 }] }),
      detail({ stopCode: 'ServiceSchedulerInitiated' }),
    ].map((d) => describeStop(d, 'runner'));
    expect(kinds.map((k) => k.kind)).toEqual([
      'oom',
      'spot',
      'user-stop',
      'failed-to-start',
      'failed-to-start',
      'exit',
      'exit',
      'unknown',
    ]);
    expect(kinds[3]!.summary).toBe('the runner failed to start (ResourceInitializationError)');
    expect(kinds[5]!.summary).toBe('the runner exited with code 2');
    expect(kinds[6]!.summary).toBe('the runner exited with code 0 without writing a result');
    expect(kinds[7]!.summary).toBe('the task stopped (ServiceSchedulerInitiated) for an unknown reason');
  });
});
