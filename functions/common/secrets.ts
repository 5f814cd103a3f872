/**
 * Secrets Manager reads by ARN, cached for the life of the Lambda container (one GetSecretValue
 * per secret per cold start). The value is registered with the shared redactor the moment it
 * arrives, so it is cut from every log line; it is never logged, never put in an error message
 * and never written anywhere.
 */
import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { AvatarError, describeError } from '../../core/errors.ts';
import type { Redactor } from '../../core/redact.ts';

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
        `secret ${arn} is empty (expected the token as its plain text value)`,
      );
    }
    this.opts.redactor?.add(trimmed);
    return trimmed;
  }
}

/**
 * The secret's name, quoted, for messages. (The full ARN holds ":secret:<name>", which the log
 * redactor takes for a key=value secret and cuts.)
 */
export function secretName(arn: string): string {
  const i = arn.indexOf(':secret:');
  return JSON.stringify(i >= 0 ? arn.slice(i + ':secret:'.length) : arn);
}
