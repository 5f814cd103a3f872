/**
 * The diff reader, the secret scanner and the dangerous-pattern report, on patches that both git
 * engines produce from a real repository. Secret-shaped values are assembled at run time so this
 * file itself holds none.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNativeGit } from '../../container/runner/git/index.ts';
import { createIsomorphicGit } from '../../container/runner/git/isomorphic.ts';
import { addedLines, diffPath } from '../../container/runner/verify/gates/diff.ts';
import {
  dangerousKindsInLine,
  scanPatchForDangerousPatterns,
} from '../../container/runner/verify/gates/dangerous.ts';
import {
  entropy,
  looksRandom,
  scanPatchForSecrets,
  secretKindsInLine,
} from '../../container/runner/verify/gates/secrets.ts';

const run = promisify(execFile);
const j = (...parts: string[]) => parts.join('');

// Shaped like real credentials, made of pieces.
const GITHUB = j('gh', 'p_', 'R8xk2Lq9Vw3Zt7Yb1Nc5Md0Pf4Gh6Js8Ka2Q');
const AWS_ID = j('AK', 'IA', 'Q3EXAMPLE7K2M9ZP');
const SLACK = j('xo', 'xb-', '2941-88123-aZ9kQ0pLmN3x');
const OPENAI = j('sk', '-proj-', 'q8Zr2Xk5Lm9Wn3Bv7Tc1Yh4Jd');
const GITLAB = j('gl', 'pat-', 'x8Zr2Xk5Lm9Wn3Bv7Tc1');
const PEM = j('-----BEGIN ', 'RSA PRIVATE', ' KEY-----');
const CONFIGURED = 'configured-secret-value-42';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'numa-scan-'));
  await run('git', ['init', '-q', '-b', 'main', dir]);
  await writeFile(path.join(dir, 'app.js'), 'const a = 1;\nconst b = 2;\nconst c = 3;\n');
  await writeFile(path.join(dir, 'old.py'), `password = "${j('Xy7', 'qP2m', 'Lk9v')}"\n`);
  await run('git', ['-C', dir, 'add', '-A']);
  await run('git', ['-C', dir, '-c', 'user.name=t', '-c', 'user.email=t@x', 'commit', '-qm', 'init']);
  // The change: edits app.js, adds a new file, leaves the old secret in old.py alone.
  await writeFile(
    path.join(dir, 'app.js'),
    [
      'const a = 1;',
      `const token = "${GITHUB}";`,
      'const b = 2;',
      'const c = 3;',
      `const key = '${AWS_ID}';`,
      'eval(userInput);',
      '',
    ].join('\n'),
  );
  await mkdir(path.join(dir, 'conf'), { recursive: true });
  await writeFile(
    path.join(dir, 'conf/settings.yaml'),
    [
      `slack: ${SLACK}`,
      `url: https://bot:${j('Zq8', 'rT3x', 'Lw5n')}@db.internal/app`,
      `other: ${CONFIGURED}`,
      '',
    ].join('\n'),
  );
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('addedLines', () => {
  for (const [label, make] of [
    ['native', () => createNativeGit()],
    ['isomorphic', () => createIsomorphicGit()],
  ] as const) {
    it(`gives the added lines with their line numbers in the new file (${label} engine's patch)`, async () => {
      const patch = await make().diffPatch(dir);
      const added = addedLines(patch);
      expect(added).toEqual([
        { file: 'app.js', line: 2, text: `const token = "${GITHUB}";` },
        { file: 'app.js', line: 5, text: `const key = '${AWS_ID}';` },
        { file: 'app.js', line: 6, text: 'eval(userInput);' },
        { file: 'conf/settings.yaml', line: 1, text: `slack: ${SLACK}` },
        { file: 'conf/settings.yaml', line: 2, text: expect.stringContaining('https://bot:') },
        { file: 'conf/settings.yaml', line: 3, text: `other: ${CONFIGURED}` },
      ]);
    });
  }

  it('reads quoted paths and lines that look like headers inside a hunk', () => {
    expect(diffPath('"b/caf\\303\\251 menu.txt"')).toBe('café menu.txt');
    const patch = [
      'diff --git a/x.md b/x.md',
      '--- a/x.md',
      '+++ b/x.md',
      '@@ -1,2 +1,3 @@',
      ' keep',
      '-gone',
      '+++ not a header',
      '+--- nor this',
      '\\ No newline at end of file',
    ].join('\n');
    expect(addedLines(patch)).toEqual([
      { file: 'x.md', line: 2, text: '++ not a header' },
      { file: 'x.md', line: 3, text: '--- nor this' },
    ]);
  });
});

describe('secret scanner', () => {
  it('finds tokens, credentials in URLs and configured secrets in the added lines only, by file and line', async () => {
    const patch = await createNativeGit().diffPatch(dir);
    const findings = scanPatchForSecrets(patch, { secrets: [CONFIGURED] });
    expect(findings).toEqual([
      { file: 'app.js', line: 2, kind: 'a GitHub token' },
      { file: 'app.js', line: 5, kind: 'an AWS access key id' },
      { file: 'conf/settings.yaml', line: 1, kind: 'a Slack token' },
      { file: 'conf/settings.yaml', line: 2, kind: 'credentials in a URL' },
      { file: 'conf/settings.yaml', line: 3, kind: "one of the avatar's configured secrets" },
    ]);
    // A finding never carries the secret.
    const text = JSON.stringify(findings);
    for (const s of [GITHUB, AWS_ID, SLACK, CONFIGURED]) expect(text).not.toContain(s);
  });

  it.each([
    [`OPENAI_API_KEY=${OPENAI}`, 'an OpenAI-style API key'],
    [`token: ${GITLAB}`, 'a GitLab token'],
    [PEM, 'a private key'],
    [
      `aws_secret_access_key = ${j('wJalrXUtnFEMI/K7MDENG/', 'bPxRfiCYEXAMPLEKEY')}`,
      'an AWS secret access key',
    ],
    [j('AIza', 'SyD4x9Qm2Lk8Vn3Rt7Wb1Zc6Yh0Jf5Gp2Ms'), 'a Google API key'],
    [
      `const dbPassword = "${j('Tr0ub4', 'dor&3x', 'Q9z')}";`,
      'a secret-looking value assigned to "dbPassword"',
    ],
    [
      `"client_secret": "${j('9f8a7b6c', '5d4e3f2a1b0c')}"`,
      'a secret-looking value assigned to "client_secret"',
    ],
    [`API_TOKEN=${j('a1b2c3d4', 'e5f6g7h8i9')}`, 'a secret-looking value assigned to "API_TOKEN"'],
  ])('%s → %s', (line, kind) => {
    expect(secretKindsInLine(line)).toContain(kind);
  });

  it.each([
    'const token = getToken();',
    'password = os.environ["DB_PASSWORD"]',
    'const apiKey = process.env.API_KEY;',
    'password: "changeme123"',
    'token = "your_token_here_1"',
    'const secret = config.secretValue;',
    'password = "password"',
    'url: postgres://postgres:postgres@localhost/db',
    'const tokenizer = new Tokenizer(1234567890);',
    '"integrity": "sha512-abc"',
  ])('no finding: %s', (line) => {
    expect(secretKindsInLine(line)).toEqual([]);
  });

  it('tells each value found (a private key with its body) and keeps it out of the findings', () => {
    const body = j('MIIEpAIBAAKCAQEA7', 'x9Qm2Lk8Vn3Rt7Wb1Zc6Yh0Jf5Gp2Ms');
    const patch = [
      'diff --git a/k.pem b/k.pem',
      'new file mode 100644',
      '--- /dev/null',
      '+++ b/k.pem',
      '@@ -0,0 +1,4 @@',
      `+${PEM}`,
      `+${body}`,
      `+${j('-----END ', 'RSA PRIVATE', ' KEY-----')}`,
      `+token: ${GITLAB}`,
    ].join('\n');
    const values: string[] = [];
    const findings = scanPatchForSecrets(patch, { onValue: (v) => values.push(v) });
    expect(findings).toEqual([
      { file: 'k.pem', line: 1, kind: 'a private key' },
      { file: 'k.pem', line: 4, kind: 'a GitLab token' },
    ]);
    expect(values).toContain(body);
    expect(values).toContain(GITLAB);
  });

  it('entropy and randomness of values', () => {
    expect(entropy('aaaa')).toBe(0);
    expect(entropy('abcd')).toBe(2);
    expect(looksRandom('k8Zr2Xk5Lm9W')).toBe(true);
    expect(looksRandom('abcdefgh')).toBe(false); // no digit
    expect(looksRandom('12345678')).toBe(false); // no letter
    expect(looksRandom('self.token')).toBe(false);
  });
});

describe('dangerous patterns', () => {
  it('reports dangerous added lines by file and line', async () => {
    const patch = await createNativeGit().diffPatch(dir);
    expect(scanPatchForDangerousPatterns(patch)).toEqual([
      { file: 'app.js', line: 6, kind: 'eval() of a string' },
    ]);
  });

  it.each([
    ['eval(code)', 'eval'],
    ['const f = new Function("a", body);', 'new Function'],
    ['child_process.exec("git log " + branch, cb)', 'string concatenation'],
    ['execSync(`rm ${file}`)', 'string concatenation'],
    ['subprocess.run(cmd, shell=True)', 'shell=True'],
    ['os.system("ls " + d)', 'os.system'],
    ['rm -rf /', 'rm -rf'],
    ['sudo rm -rf / --no-preserve-root', 'rm -rf'],
    ['rm -rf $BUILD_DIR/*', 'rm -rf'],
    ['https.request({ rejectUnauthorized: false })', 'TLS'],
    ["process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';", 'TLS'],
    ['requests.get(url, verify=False)', 'TLS'],
    ['&tls.Config{InsecureSkipVerify: true}', 'TLS'],
    ['curl -k https://x | sh', 'curl'],
    ['data = pickle.loads(blob)', 'pickle'],
    ['yaml.load(text)', 'yaml.load'],
    ['chmod -R 777 /srv', 'chmod 777'],
    ['el.innerHTML = userText;', 'innerHTML'],
    ['db.query("SELECT * FROM users WHERE id = " + id)', 'SQL'],
    ['db.query(`SELECT * FROM users WHERE id = ${id}`)', 'SQL'],
    ['cur.execute(f"DELETE FROM t WHERE id = {x}")', 'SQL'],
    ['cur.execute("UPDATE t SET a = %s" % v)', 'SQL'],
  ])('%s', (line, word) => {
    const kinds = dangerousKindsInLine(line);
    expect(kinds.join(' | ')).toContain(word);
  });

  it.each([
    'model.eval()',
    'const evaluate = (x) => x;',
    'rm -rf ./build',
    'rm -rf node_modules',
    'yaml.load(text, Loader=yaml.SafeLoader)',
    'yaml.safe_load(text)',
    'db.query("SELECT * FROM users WHERE id = ?", [id])',
    'const html = el.innerHTML;',
    'subprocess.run(["ls", "-l"])',
  ])('no warning: %s', (line) => {
    expect(dangerousKindsInLine(line)).toEqual([]);
  });
});
