/**
 * The secret scanner: the lines a change adds (never the whole files: what was there before is
 * not this change's doing) checked for private keys, cloud and service tokens, credentials in
 * URLs, random-looking values assigned to names like *token*, *secret*, *password*, and the exact
 * secrets the avatar is configured with, raw or in a common encoding (base64, hex, reversed:
 * core/secret-forms.ts). A finding names the file, the line and the kind of
 * secret; it never carries the secret itself.
 */
import { findSecretForm } from '../../../../core/secret-forms.ts';
import { addedLines } from './diff.ts';

export interface SecretFinding {
  file: string;
  line: number;
  /** What it looks like, e.g. "a GitHub token". */
  kind: string;
}

const TOKEN_PATTERNS: ReadonlyArray<[RegExp, string]> = [
  [/-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----/, 'a private key'],
  [/\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b/, 'an AWS access key id'],
  [
    /aws.{0,24}?(?:secret|private).{0,24}?(?<![A-Za-z0-9/+])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])/i,
    'an AWS secret access key',
  ],
  [/\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,}\b/, 'a GitHub token'],
  [/\bgithub_pat_[A-Za-z0-9_]{22,}\b/, 'a GitHub token'],
  [/\bgl(?:pat|dt|rt|ptt|ft|cbt|imt|agent|oas)-[A-Za-z0-9_-]{20,}\b/, 'a GitLab token'],
  [/\bxox[abposre]-[A-Za-z0-9-]{10,}\b/, 'a Slack token'],
  [
    /https:\/\/hooks\.slack\.com\/services\/T[A-Za-z0-9_]+\/B[A-Za-z0-9_]+\/[A-Za-z0-9_]+/,
    'a Slack webhook URL',
  ],
  [/\bsk-ant-[A-Za-z0-9_-]{20,}/, 'an Anthropic API key'],
  [/\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}/, 'an OpenAI-style API key'],
  [/\bAIza[0-9A-Za-z_-]{35}\b/, 'a Google API key'],
  [/\b[rs]k_live_[0-9a-zA-Z]{20,}\b/, 'a Stripe live key'],
  [/\bnpm_[A-Za-z0-9]{36}\b/, 'an npm token'],
  [/\bpypi-[A-Za-z0-9_-]{50,}/, 'a PyPI token'],
  [/\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}/, 'a JSON web token'],
];

/** Names that say the value is a secret (in code, config and env files). */
const SECRET_NAME =
  /(?:token|secret|passw(?:or)?d|passwd|pwd|api[_-]?key|apikey|access[_-]?key|private[_-]?key|client[_-]?secret|auth[_-]?key|credentials?)/i;

/** `name = "value"`, `name: 'value'`, `"name": "value"`, `NAME=value`, `name := "value"`, `name => 'value'`. */
const ASSIGNMENT =
  /([A-Za-z_$][\w$.-]*)["']?\s*(?::=|=>|==?=?|:)\s*(?:[a-zA-Z]?(["'`]))?([^\s"'`,;)]{8,})\2?/g;

const PLACEHOLDER =
  /example|sample|changeme|change[_-]?me|your[_-]|placeholder|dummy|fake|xxxx|\*\*\*|redacted|<[^>]*>|\$\{|\{\{|%\(|process\.env|os\.environ|getenv|env\(|^none$|^null$|^true$|^false$|^undefined$/i;

/** Shannon entropy in bits per character. */
export function entropy(s: string): number {
  const freq = new Map<string, number>();
  for (const ch of s) freq.set(ch, (freq.get(ch) ?? 0) + 1);
  let h = 0;
  for (const n of freq.values()) {
    const p = n / s.length;
    h -= p * Math.log2(p);
  }
  return h;
}

/** Whether a value looks like a real secret rather than a word, a reference or a placeholder. */
export function looksRandom(value: string): boolean {
  if (value.length < 8) return false;
  if (PLACEHOLDER.test(value)) return false;
  // an identifier path (config.apiToken, self.password): a reference, not a value
  if (/^[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)+$/.test(value)) return false;
  if (!/[0-9]/.test(value) || !/[A-Za-z]/.test(value)) return false;
  if (/^(.)\1+$/.test(value)) return false;
  return entropy(value) >= 3;
}

export interface ScanOptions {
  /** Exact values that must never be committed (the avatar's configured tokens and keys). */
  secrets?: readonly string[];
  /**
   * Told each secret value found (never stored in a finding), e.g. to add it to the Redactor so
   * that snapshots and transcripts of the run do not keep it either.
   */
  onValue?: (value: string) => void;
}

interface SecretMatch {
  kind: string;
  value: string;
}

function matchesInLine(text: string, opts: ScanOptions): SecretMatch[] {
  const found: SecretMatch[] = [];
  for (const s of opts.secrets ?? []) {
    if (s.length < 4) continue;
    // Encoded forms only for secrets long enough that their forms cannot be ordinary text.
    const form = s.length >= 12 ? findSecretForm(text, s) : text.includes(s) ? 'raw' : undefined;
    if (form) {
      const how = form === 'raw' ? '' : ' (encoded)';
      found.push({ kind: `one of the avatar's configured secrets${how}`, value: s });
      break;
    }
  }
  for (const [re, kind] of TOKEN_PATTERNS) {
    const m = re.exec(text);
    if (m && !found.some((f) => f.kind === kind)) found.push({ kind, value: m[0] });
  }
  const url = /\b[a-z][a-z0-9+.-]*:\/\/([^/\s:@'"`]+):([^/\s@'"`]+)@/i.exec(text);
  if (url && looksRandom(url[2]!)) found.push({ kind: 'credentials in a URL', value: url[2]! });
  if (found.length === 0) {
    for (const m of text.matchAll(ASSIGNMENT)) {
      if (SECRET_NAME.test(m[1]!) && looksRandom(m[3]!)) {
        found.push({ kind: `a secret-looking value assigned to "${m[1]}"`, value: m[3]! });
        break;
      }
    }
  }
  return found;
}

/** Secrets in one added line; the kinds found (each at most once). */
export function secretKindsInLine(text: string, opts: ScanOptions = {}): string[] {
  return matchesInLine(text, opts).map((m) => m.kind);
}

/** Scans the lines a patch adds. */
export function scanPatchForSecrets(patch: string, opts: ScanOptions = {}): SecretFinding[] {
  const findings: SecretFinding[] = [];
  let keyBlockIn: string | undefined;
  for (const added of addedLines(patch)) {
    // The body of a private key: its lines match no pattern, but they are the secret.
    if (keyBlockIn === added.file) {
      opts.onValue?.(added.text.trim());
      if (/-----END [A-Z0-9 ]*PRIVATE KEY/.test(added.text)) keyBlockIn = undefined;
      continue;
    }
    keyBlockIn = undefined;
    for (const m of matchesInLine(added.text, opts)) {
      findings.push({ file: added.file, line: added.line, kind: m.kind });
      if (m.kind === 'a private key') keyBlockIn = added.file;
      else opts.onValue?.(m.value);
    }
  }
  return findings;
}

export function formatSecretFinding(f: SecretFinding): string {
  return `${f.file}:${f.line}: ${f.kind}`;
}
