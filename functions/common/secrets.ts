/**
 * Secrets Manager reads by ARN, cached for the life of the Lambda container (one GetSecretValue
 * per secret per cold start). The value is registered with the shared redactor the moment it
 * arrives, and so is every string inside it when it is a JSON object (the stack's one secret holds
 * the backend token, the git token and the model key that way), so each is cut from every log
 * line; none is ever logged, put in an error message or written anywhere.
 */
import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { AvatarError, describeError } from '../../core/errors.ts';
import type { Redactor } from '../../core/redact.ts';

/** What is wrong with a field of a JSON secret (SecretCache.getField). */
export type SecretFieldProblem = 'not-json-object' | 'missing' | 'not-a-string' | 'empty';

/**
 * A JSON secret without a usable field. The message names the secret and the field, never a
 * value (nor the text of a JSON parse error, which quotes the value).
 */
export class SecretFieldError extends AvatarError {
  constructor(
    /** The secret's name (from its ARN). */
    readonly secret: string,
    readonly field: string,
    readonly problem: SecretFieldProblem,
    detail: string,
  ) {
    super(
      'CONFIG_INVALID',
      `secret ${JSON.stringify(secret)}: ${detail} (expected a JSON object with a non-empty string field ${JSON.stringify(field)})`,
    );
    this.name = 'SecretFieldError';
  }
}

export interface SecretCacheOptions {
  client: SecretsManagerClient;
  /** Every value fetched is added here (the logger's redactor). */
  redactor?: Redactor;
}

export class SecretCache {
  private readonly cache = new Map<string, Promise<string>>();

  constructor(private readonly opts: SecretCacheOptions) {}

  /** The secret's value (SecretString, or SecretBinary as UTF-8), trimmed of surrounding whitespace. */
  get(arn: string): Promise<string> {
    let p = this.cache.get(arn);
    if (!p) {
      p = this.fetch(arn);
      this.cache.set(arn, p);
      // A failed read is not cached: the next invocation tries again.
      p.catch(() => this.cache.delete(arn));
    }
    return p;
  }

  /**
   * The field `field` of a secret whose value is a JSON object (`{"backend_token": "..."}`),
   * trimmed. Throws SecretFieldError when the value is not a JSON object, or the field is missing,
   * not a string, or empty. One read per secret, whichever fields are asked for.
   */
  async getField(arn: string, field: string): Promise<string> {
    const name = secretDisplayName(arn);
    const fields = jsonObject(await this.get(arn));
    if (!fields) throw new SecretFieldError(name, field, 'not-json-object', 'its value is not a JSON object');
    if (!Object.hasOwn(fields, field)) {
      throw new SecretFieldError(name, field, 'missing', `it has no field ${JSON.stringify(field)}`);
    }
    const value = fields[field];
    if (typeof value !== 'string') {
      const kind = value === null ? 'null' : Array.isArray(value) ? 'an array' : `a ${typeof value}`;
      throw new SecretFieldError(
        name,
        field,
        'not-a-string',
        `its field ${JSON.stringify(field)} is ${kind}`,
      );
    }
    const trimmed = value.trim();
    if (!trimmed) {
      throw new SecretFieldError(name, field, 'empty', `its field ${JSON.stringify(field)} is empty`);
    }
    return trimmed;
  }

  private async fetch(arn: string): Promise<string> {
    let out;
    try {
      out = await this.opts.client.send(new GetSecretValueCommand({ SecretId: arn }));
    } catch (cause) {
      const name = cause instanceof Error ? cause.name : 'Error';
      throw new AvatarError(
        'AWS_FAILED',
        `cannot read secret ${secretName(arn)}: ${name}: ${describeError(cause)}`,
        { cause },
      );
    }
    const value =
      out.SecretString ?? (out.SecretBinary ? Buffer.from(out.SecretBinary).toString('utf8') : undefined);
    const trimmed = value?.trim();
    if (!trimmed) {
      throw new AvatarError(
        'CONFIG_INVALID',
        `secret ${arn} is empty (expected the token as its plain text value, or a JSON object of values)`,
      );
    }
    this.opts.redactor?.add(trimmed);
    const fields = jsonObject(trimmed);
    if (fields) {
      for (const v of stringsIn(fields)) this.opts.redactor?.add(v.trim());
    }
    return trimmed;
  }
}

/** The value as a JSON object, or undefined when it is not one. */
function jsonObject(text: string): Record<string, unknown> | undefined {
  if (!text.startsWith('{')) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // The parse error's text quotes the value: it is dropped on purpose.
    return undefined;
  }
  return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)
    ? (parsed as Record<string, unknown>)
    : undefined;
}

/** Every string inside a parsed JSON value (nested objects and arrays too). */
function stringsIn(value: unknown, depth = 0): string[] {
  if (typeof value === 'string') return [value];
  if (depth > 20 || value === null || typeof value !== 'object') return [];
  return Object.values(value).flatMap((v) => stringsIn(v, depth + 1));
}

/**
 * The secret's name, quoted, for messages. (The full ARN holds ":secret:<name>", which the log
 * redactor takes for a key=value secret and cuts.)
 */
export function secretName(arn: string): string {
  return JSON.stringify(secretDisplayName(arn));
}

/** The secret's name from its ARN (or the name itself), unquoted. */
function secretDisplayName(arn: string): string {
  const i = arn.indexOf(':secret:');
  return i >= 0 ? arn.slice(i + ':secret:'.length) : arn;
}
