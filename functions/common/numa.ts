/**
 * The Numa client for a Lambda: the backend URL from the environment, the API token from Secrets
 * Manager (fetched once per container by ARN, when one is configured: the secret's whole value, or
 * its JSON field NUMA_API_TOKEN_SECRET_FIELD), retries logged at debug.
 */
import { AvatarError, describeError } from '../../core/errors.ts';
import type { Logger as CoreLogger } from '../../core/log.ts';
import { NumaClient, type NumaClientOptions } from '../../core/numa/client.ts';
import type { BackendEnv } from './env.ts';
import type { SecretCache } from './secrets.ts';

export interface NumaClientFactoryOptions {
  env: BackendEnv;
  secrets?: SecretCache;
  logger?: CoreLogger;
  /** Overrides for the client (timeouts, attempts, fetch). */
  client?: Partial<NumaClientOptions>;
}

export async function createNumaClient(opts: NumaClientFactoryOptions): Promise<NumaClient> {
  let apiToken: string | undefined;
  const { apiTokenSecretArn: arn, apiTokenSecretField: field } = opts.env;
  if (arn) {
    if (!opts.secrets) throw new Error('a SecretCache is needed to read NUMA_API_TOKEN_SECRET_ARN');
    try {
      apiToken = await (field === undefined ? opts.secrets.get(arn) : opts.secrets.getField(arn, field));
    } catch (err) {
      if (err instanceof AvatarError) {
        throw new AvatarError(err.code, `NUMA_API_TOKEN_SECRET_ARN: ${err.message}`, { cause: err });
      }
      throw err;
    }
  }
  const logger = opts.logger;
  return new NumaClient({
    baseUrl: opts.env.backendUrl,
    ...(apiToken ? { apiToken } : {}),
    userAgent: 'numa-avatar-lambda',
    ...(logger
      ? {
          onRetry: (r) =>
            logger.debug('backend retry', {
              path: r.path.split('?')[0],
              attempt: r.attempt,
              delay_ms: r.delayMs,
              error: describeError(r.error),
            }),
        }
      : {}),
    ...opts.client,
  });
}
