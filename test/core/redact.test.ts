import { describe, expect, it } from 'vitest';
import { isSecretEnvName, scrubEnv } from '../../core/env.ts';
import { createLogger, silentLogger } from '../../core/log.ts';
import { patternRedactor, REDACTED, Redactor } from '../../core/redact.ts';

const r = patternRedactor;

describe('Redactor: credential patterns', () => {
  it.each([
    ['https://user:pa55word@github.com/org/repo.git', 'https://[REDACTED]@github.com/org/repo.git'],
    ['https://x-access-token:ghs_abc@github.com/o/r', 'https://[REDACTED]@github.com/o/r'],
    [
      'clone https://oauth2:glpat-abc@gitlab.com/g/p.git done',
      'clone https://[REDACTED]@gitlab.com/g/p.git done',
    ],
    ['https://tokenonly@gitea.local/r.git', 'https://[REDACTED]@gitea.local/r.git'],
    ['git+https://u:p@host/x', 'git+https://[REDACTED]@host/x'],
    ['HTTP://U:P@HOST:8080/', 'HTTP://[REDACTED]@HOST:8080/'],
  ])('userinfo in a URL: %s', (input, expected) => {
    expect(r.redact(input)).toBe(expected);
  });

  it('URLs without userinfo, and e-mail addresses, are left alone', () => {
    const text =
      'fetching https://github.com/org/repo.git as avatar@example.com at http://localhost:7301/api';
    expect(r.redact(text)).toBe(text);
  });

  it('a URL pattern never reaches across quotes (JSON stays JSON, nothing else is eaten)', () => {
    const json = JSON.stringify({ url: 'http://localhost:7301', email: 'numa-avatar@localhost' });
    expect(r.redact(json)).toBe(json);
    const withCreds = JSON.stringify({ url: 'https://u:p@h/x', email: 'a@b' });
    expect(JSON.parse(r.redact(withCreds))).toEqual({ url: 'https://[REDACTED]@h/x', email: 'a@b' });
  });

  it.each([
    ['Authorization: Bearer abc.def-ghi_jkl', 'Authorization: Bearer [REDACTED]'],
    ['authorization=token 0123456789abcdef', 'authorization=token [REDACTED]'],
    ['Authorization: Basic dXNlcjpwYXNzd29yZA==', 'Authorization: Basic [REDACTED]'],
    ['sent bearer eyJhbGciOiJIUzI1NiJ9.payload.sig ok', 'sent bearer [REDACTED] ok'],
    ['curl -H "Authorization: Bearer abcdefgh12345678"', 'curl -H "Authorization: Bearer [REDACTED]"'],
  ])('authorization values: %s', (input, expected) => {
    expect(r.redact(input)).toBe(expected);
  });

  it('the word "bearer" in prose is not a credential', () => {
    expect(r.redact('the bearer of bad news')).toBe('the bearer of bad news');
  });

  const TOKENS: Array<[string, string]> = [
    ['GitHub classic', 'ghp_' + 'A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8'],
    ['GitHub app installation', 'ghs_' + 'abcdefghijklmnopqrstuvwxyz0123'],
    ['GitHub OAuth', 'gho_' + 'abcdefghijklmnopqrstuvwxyz0123'],
    ['GitHub fine-grained', 'github_pat_' + '11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz'],
    ['GitLab', 'glpat-' + 'xYz012345678901234567'],
    ['OpenAI', 'sk-' + 'proj-abcdefghijklmnop0123456789'],
    ['OpenAI short form', 'sk-' + 'abcdefghijklmnop'],
    ['AWS access key id', 'AKIA' + 'IOSFODNN7EXAMPLE'],
    ['AWS temporary key id', 'ASIA' + 'IOSFODNN7EXAMPLE'],
    ['Slack', 'xoxb-' + '1234567890-abcdefghij'],
  ];
  it.each(TOKENS)('well-known token format: %s', (_kind, token) => {
    const out = r.redact(`before ${token} after`);
    expect(out).toBe(`before ${REDACTED} after`);
    expect(out).not.toContain(token);
  });

  it('things that only look a little like tokens are left alone', () => {
    const text = 'ghp_short sk-abc AKIA1234 task-123 risk-assessment skeleton-key';
    expect(r.redact(text)).toBe(text);
  });

  it.each([
    ['api_key=abcd1234efgh', 'api_key=[REDACTED]'],
    ['API-KEY: "abcd1234efgh"', 'API-KEY: "[REDACTED]"'],
    ['apikey=0123456789', 'apikey=[REDACTED]'],
    ['{"api_token": "tok_value_1"}', '{"api_token": "[REDACTED]"}'],
    ["access_token='zzzz9999'", "access_token='[REDACTED]'"],
    // A value runs to the next space, quote, comma or semicolon: the rest of a query string goes too (safe side).
    ['https://host/cb?access_token=abcd1234&state=1', 'https://host/cb?access_token=[REDACTED]'],
    ['secret_key = qwerty123', 'secret_key = [REDACTED]'],
    ['password: hunter22', 'password: [REDACTED]'],
    ['passwd=hunter22', 'passwd=[REDACTED]'],
    ['client_secret=cs_live_123', 'client_secret=[REDACTED]'],
    ['git_token=abcdefgh', 'git_token=[REDACTED]'],
    ['NUMA_API_TOKEN=numa-secret-1', 'NUMA_API_TOKEN=[REDACTED]'],
    // Environment-style names with a prefix before the secret word.
    ['AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', 'AWS_SECRET_ACCESS_KEY=[REDACTED]'],
    ['OPENAI_API_KEY=mysecretvalue', 'OPENAI_API_KEY=[REDACTED]'],
    ['GITHUB_TOKEN=plainvalue99', 'GITHUB_TOKEN=[REDACTED]'],
    ['x-api-key: 9f8e7d6c5b', 'x-api-key: [REDACTED]'],
    ['DB_PASSWORD=letmein!', 'DB_PASSWORD=[REDACTED]'],
  ])('key=value form: %s', (input, expected) => {
    expect(r.redact(input)).toBe(expected);
  });

  it('key=value forms leave ordinary settings and counters alone', () => {
    const text = 'status=done task_id=123 "prompt_tokens": 1234 max_tokens=4096 password: abc';
    expect(r.redact(text)).toBe(text);
  });

  it('redacts every occurrence in a multi-line text', () => {
    const text = 'a https://u:p@h/x\nb ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8\nc https://u:p@h/y';
    const out = r.redact(text);
    expect(out.split('\n')).toEqual(['a https://[REDACTED]@h/x', 'b [REDACTED]', 'c https://[REDACTED]@h/y']);
  });
});

describe('Redactor: exact secrets', () => {
  it('removes every occurrence of a registered secret, whatever its shape', () => {
    const red = new Redactor(['plain-secret-value', undefined, '']);
    expect(red.redact('x plain-secret-value y plain-secret-value')).toBe(`x ${REDACTED} y ${REDACTED}`);
  });

  it('removes the URL-encoded form too', () => {
    const secret = 'p@ss/w:rd with space+plus';
    const red = new Redactor([secret]);
    const encoded = encodeURIComponent(secret);
    expect(encoded).not.toBe(secret);
    const out = red.redact(`raw=${secret} url=https://h/?t=${encoded}`);
    expect(out).not.toContain(secret);
    expect(out).not.toContain(encoded);
    expect(out).toBe(`raw=${REDACTED} url=https://h/?t=${REDACTED}`);
  });

  it('a longer secret containing a shorter one is removed whole', () => {
    const red = new Redactor(['abcd', 'abcdefgh-long']);
    expect(red.redact('abcdefgh-long and abcd')).toBe(`${REDACTED} and ${REDACTED}`);
  });

  it('values shorter than 4 characters are not registered (they would redact ordinary text)', () => {
    const red = new Redactor(['abc']);
    expect(red.redact('abc abcdef')).toBe('abc abcdef');
  });

  it('secrets added later are redacted too', () => {
    const red = new Redactor();
    red.add('later-secret');
    expect(red.redact('later-secret')).toBe(REDACTED);
  });

  it('secrets with regular-expression characters are matched literally', () => {
    const red = new Redactor(['a.b*c(d)[e]$']);
    expect(red.redact('x a.b*c(d)[e]$ y aXbbc(d)[e]$')).toBe(`x ${REDACTED} y aXbbc(d)[e]$`);
  });
});

describe('Redactor.redactValue', () => {
  it('redacts strings anywhere in a value and keeps its shape and other types', () => {
    const red = new Redactor(['tok-123456']);
    const value = {
      a: 'Bearer tok-123456',
      nested: { list: ['x', 'https://u:p@h/r.git', 3, true, null], n: 1.5 },
      untouched: 'hello',
    };
    expect(red.redactValue(value)).toEqual({
      a: `Bearer ${REDACTED}`,
      nested: { list: ['x', `https://${REDACTED}@h/r.git`, 3, true, null], n: 1.5 },
      untouched: 'hello',
    });
    // The input is not changed.
    expect(value.a).toBe('Bearer tok-123456');
  });

  it('does not merge or drop fields when a URL and an @ sit in different fields', () => {
    const config = { backend: { url: 'http://localhost:7301' }, git: { email: 'numa-avatar@localhost' } };
    expect(patternRedactor.redactValue(config)).toEqual(config);
  });

  it('redacts a secret containing characters JSON escapes (quotes, backslashes)', () => {
    const secret = 'ab"cd\\ef12';
    const red = new Redactor([secret]);
    const out = red.redactValue({ s: `x ${secret} y` });
    expect(out).toEqual({ s: `x ${REDACTED} y` });
  });

  it('passes plain strings and primitives through redaction too', () => {
    const red = new Redactor(['tok-123456']);
    expect(red.redactValue('tok-123456')).toBe(REDACTED);
    expect(red.redactValue(42)).toBe(42);
    expect(red.redactValue(null)).toBe(null);
  });
});

describe('scrubEnv', () => {
  const env: NodeJS.ProcessEnv = {
    PATH: '/usr/bin:/bin',
    HOME: '/home/avatar',
    LANG: 'C.UTF-8',
    HTTPS_PROXY: 'http://proxy:3128',
    NODE_ENV: 'test',
    GOPATH: '/go',
    // the avatar's own settings
    NUMA_API_TOKEN: 'numa',
    NUMA_BACKEND_URL: 'http://b',
    OPENAI_API_KEY: 'sk',
    OPENAI_BASE_URL: 'http://m',
    // cloud credentials
    AWS_ACCESS_KEY_ID: 'AKIA',
    AWS_SECRET_ACCESS_KEY: 's',
    AWS_SESSION_TOKEN: 't',
    AZURE_CLIENT_SECRET: 'a',
    GOOGLE_APPLICATION_CREDENTIALS: '/k.json',
    GCP_SA_KEY: 'k',
    ECS_CONTAINER_METADATA_URI_V4: 'http://169.254.170.2/v4',
    // forges
    GH_TOKEN: 'gh',
    GITHUB_TOKEN: 'gh',
    GITLAB_TOKEN: 'gl',
    ANTHROPIC_API_KEY: 'an',
    // exact names
    GIT_TOKEN: 'g',
    GIT_USERNAME: 'u',
    GIT_ASKPASS: '/bin/askpass',
    SSH_AUTH_SOCK: '/tmp/ssh',
    NPM_TOKEN: 'n',
    NODE_AUTH_TOKEN: 'n',
    DOCKER_AUTH_CONFIG: '{}',
    // words in the name
    MY_SERVICE_TOKEN: 'x',
    DB_PASSWORD: 'x',
    db_passwd: 'x',
    STRIPE_SECRET: 'x',
    SOME_API_KEY: 'x',
    SOMEAPIKEY: 'x',
    DEPLOY_PRIVATE_KEY: 'x',
    S3_ACCESS_KEY: 'x',
    REGISTRY_CREDENTIALS: 'x',
    BASIC_AUTH: 'x',
  };
  const KEEP = ['PATH', 'HOME', 'LANG', 'HTTPS_PROXY', 'NODE_ENV', 'GOPATH'];

  it('keeps what a build needs and drops every kind of credential', () => {
    const out = scrubEnv(env);
    for (const k of KEEP) expect(out[k], k).toBe(env[k]);
    for (const k of Object.keys(env)) {
      if (!KEEP.includes(k)) expect(out, `${k} must be dropped`).not.toHaveProperty(k);
    }
  });

  it('tells git never to prompt, and adds the extras (which win)', () => {
    const out = scrubEnv({ PATH: '/bin' }, { CI: '1', PATH: '/custom/bin' });
    expect(out).toEqual({ PATH: '/custom/bin', GIT_TERMINAL_PROMPT: '0', CI: '1' });
  });

  it('does not change its input', () => {
    const input = { PATH: '/bin', GIT_TOKEN: 'x' };
    scrubEnv(input);
    expect(input).toEqual({ PATH: '/bin', GIT_TOKEN: 'x' });
  });

  it('isSecretEnvName is case-insensitive', () => {
    expect(isSecretEnvName('github_token')).toBe(true);
    expect(isSecretEnvName('Numa_Work_Dir')).toBe(true);
    expect(isSecretEnvName('PATH')).toBe(false);
    expect(isSecretEnvName('TERM')).toBe(false);
  });
});

describe('createLogger', () => {
  const TOKEN = 'numa-token-8f7e6d5c';
  const at = () => new Date('2025-08-03T10:00:00.000Z');

  it('text format: one line, level, message, fields; secrets redacted in message and fields', () => {
    const lines: string[] = [];
    const log = createLogger({ write: (l) => lines.push(l), now: at, redactor: new Redactor([TOKEN]) });
    log.info(`calling with ${TOKEN}`, {
      url: 'https://u:pw@git.example.com/r.git',
      header: `Bearer ${TOKEN}`,
      n: 3,
      plain: 'simple',
      err: new Error(`failed: ${TOKEN}`),
    });
    expect(lines).toHaveLength(1);
    const line = lines[0]!;
    expect(line.startsWith('2025-08-03T10:00:00.000Z INFO  calling with [REDACTED] ')).toBe(true);
    expect(line).toContain('url=https://[REDACTED]@git.example.com/r.git');
    expect(line).toContain('n=3');
    expect(line).toContain('plain=simple');
    expect(line).not.toContain(TOKEN);
    expect(line).not.toContain('pw@');
    expect(line).not.toContain('\n');
  });

  it('json format: one JSON object per line, secrets redacted, errors as name and message', () => {
    const lines: string[] = [];
    const log = createLogger({
      format: 'json',
      write: (l) => lines.push(l),
      now: at,
      redactor: new Redactor([TOKEN]),
      fields: { service: 'avatar' },
    });
    log.warn('backend refused', {
      token: TOKEN,
      url: 'https://ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8@github.com/o/r',
      email: 'me@example.com',
      err: new Error(`Authorization: Bearer ${TOKEN}`),
    });
    expect(lines).toHaveLength(1);
    const obj = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(obj).toEqual({
      time: '2025-08-03T10:00:00.000Z',
      level: 'warn',
      msg: 'backend refused',
      service: 'avatar',
      token: REDACTED,
      url: 'https://[REDACTED]@github.com/o/r',
      email: 'me@example.com',
      err: { name: 'Error', message: 'Authorization: Bearer [REDACTED]' },
    });
  });

  it('pattern redaction applies even without a configured redactor', () => {
    const lines: string[] = [];
    createLogger({ write: (l) => lines.push(l) }).error('push to https://bot:s3cret@host/r.git failed');
    expect(lines[0]).toContain('https://[REDACTED]@host/r.git');
    expect(lines[0]).not.toContain('s3cret');
  });

  it('levels filter, and child loggers add fields and keep the redactor', () => {
    const lines: string[] = [];
    const log = createLogger({
      level: 'warn',
      format: 'json',
      write: (l) => lines.push(l),
      now: at,
      redactor: new Redactor([TOKEN]),
    });
    log.debug('d');
    log.info('i');
    log.warn('w');
    const child = log.child({ task_id: 7 });
    child.info('hidden');
    child.error(`boom ${TOKEN}`);
    expect(lines.map((l) => JSON.parse(l) as { level: string; msg: string; task_id?: number })).toEqual([
      { time: '2025-08-03T10:00:00.000Z', level: 'warn', msg: 'w' },
      { time: '2025-08-03T10:00:00.000Z', level: 'error', msg: 'boom [REDACTED]', task_id: 7 },
    ]);
  });

  it('silentLogger writes nothing and its child is silent', () => {
    expect(() => silentLogger.child({ a: 1 }).error('x')).not.toThrow();
  });
});
