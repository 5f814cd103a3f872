/**
 * Secret redaction. Every text that leaves the process (logs, task logs, transcripts, error
 * messages, /status) passes through a Redactor. It removes the exact secret values it was given
 * (configured tokens and keys) and their common encodings (base64, hex, reversed: secret-forms.ts) and anything shaped like a credential: userinfo in URLs, bearer
 * and basic authorization values, and well-known token formats.
 */
import { secretForms } from './secret-forms.ts';

export const REDACTED = '[REDACTED]';

const PATTERNS: ReadonlyArray<[RegExp, string]> = [
  // user:password@ or token@ in URLs (http, https, git+https, ssh with password...)
  // (never across a quote or a backslash, which a URL cannot hold: in JSON that would reach into the next field)
  [/\b([a-z][a-z0-9+.-]*:\/\/)[^/\s:@"<>\\`]+(?::[^/\s@"<>\\`]*)?@/gi, `$1${REDACTED}@`],
  // Authorization headers and similar key/value forms
  [/\b(authorization\s*[:=]\s*)(bearer|basic|token)\s+[^\s"',]+/gi, `$1$2 ${REDACTED}`],
  [/\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}/gi, `$1 ${REDACTED}`],
  // Well-known token formats
  [/\bgh[pousr]_[A-Za-z0-9]{20,}\b/g, REDACTED],
  [/\bgithub_pat_[A-Za-z0-9_]{20,}\b/g, REDACTED],
  // (a token whose alphabet has "-" may end with one: \b would not match there, so the end is "no
  // more token characters")
  [/\bglpat-[A-Za-z0-9_-]{20,}(?![A-Za-z0-9_-])/g, REDACTED],
  [/\bsk-[A-Za-z0-9_-]{16,}(?![A-Za-z0-9_-])/g, REDACTED],
  [/\b(AKIA|ASIA)[A-Z0-9]{16}\b/g, REDACTED],
  [/\bxox[abposr]-[A-Za-z0-9-]{10,}(?![A-Za-z0-9-])/g, REDACTED],
  // key=value / "key": "value" where the key says it is secret, also after a prefix as in
  // environment-style names (OPENAI_API_KEY=, AWS_SECRET_ACCESS_KEY=, GITHUB_TOKEN=, DB_PASSWORD=)
  [
    /\b((?:[a-z0-9]+[_-])*(?:api[_-]?key|secret(?:[_-]?access)?[_-]?key|private[_-]?key|client[_-]?secret|token|secret|password|passwd)["']?\s*[:=]\s*["']?)[^\s"',;]{4,}/gi,
    `$1${REDACTED}`,
  ],
];

export class Redactor {
  private readonly secrets = new Set<string>();

  constructor(secrets: Iterable<string | undefined> = []) {
    for (const s of secrets) this.add(s);
  }

  /** Registers an exact secret value. Values shorter than 4 characters are ignored (they would redact ordinary text). */
  add(secret: string | undefined): void {
    if (!secret || secret.length < 4) return;
    this.secrets.add(secret);
    // The same secret as it appears URL-encoded (in a URL's userinfo or query). A Basic header's
    // base64 is caught by the `basic …` pattern below.
    let encoded: string | undefined;
    try {
      encoded = encodeURIComponent(secret);
    } catch {
      encoded = undefined; // a lone surrogate: no URL-encoded form exists
    }
    if (encoded !== undefined && encoded !== secret) this.secrets.add(encoded);
    // Its base64, hex and reversed forms (secret-forms.ts), for secrets long enough not to match by chance.
    if (secret.length >= 12) for (const form of secretForms(secret)) this.secrets.add(form);
  }

  redact(text: string): string {
    let out = this.redactValues(text);
    for (const [re, replacement] of PATTERNS) out = out.replace(re, replacement);
    return out;
  }

  /**
   * Removes the registered secret values only, not credential-shaped text: for repository content
   * the agent reads (a fixture's `password = "changeme"` must stay quotable for an edit), where the
   * avatar's own secrets must still never reach the model.
   */
  redactValues(text: string): string {
    let out = text;
    // Longest first, so a secret containing another is removed whole.
    for (const s of [...this.secrets].sort((a, b) => b.length - a.length)) {
      if (out.includes(s)) out = out.split(s).join(REDACTED);
    }
    return out;
  }

  /**
   * Redacts every string inside a JSON-like value (the value as JSON would carry it). Each string is
   * redacted on its own: redacting the serialised text could match across fields (and so drop or
   * merge them) and misses secrets that JSON escapes (quotes, backslashes).
   */
  redactValue<T>(value: T): T {
    if (value === undefined) return value;
    return this.redactJson(JSON.parse(JSON.stringify(value)) as unknown) as T;
  }

  private redactJson(v: unknown): unknown {
    if (typeof v === 'string') return this.redact(v);
    if (Array.isArray(v)) return v.map((x) => this.redactJson(x));
    if (v !== null && typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) {
        // Two keys may redact to the same text ("token=a" and "token=b"): both are kept.
        const redacted = this.redact(k);
        let key = redacted;
        for (let n = 2; Object.hasOwn(out, key); n++) key = `${redacted} (${n})`;
        Object.defineProperty(out, key, {
          value: this.redactJson(x),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      return out;
    }
    return v;
  }
}

/** A redactor for code that has no configured secrets (patterns only). */
export const patternRedactor = new Redactor();
