/**
 * What every function builds once per container: the S3 and SQS clients and the Numa client
 * (its token read from Secrets Manager by ARN). The dispatcher adds ECS on top.
 */
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { Logger as CoreLogger } from '../../core/log.ts';
import type { NumaClient, NumaClientOptions } from '../../core/numa/client.ts';
import { awsClientConfig, s3ClientConfig, type AwsClientConfigOptions } from '../../adapters/aws/clients.ts';
import type { BackendEnv } from './env.ts';
import { sharedRedactor } from './logger.ts';
import { createNumaClient } from './numa.ts';
import { SecretCache } from './secrets.ts';

export interface FunctionClients {
  s3: S3Client;
  sqs: SQSClient;
  numa: NumaClient;
}

export async function createFunctionClients(
  env: BackendEnv,
  o: { aws?: AwsClientConfigOptions; log: CoreLogger; numaClient?: Partial<NumaClientOptions> },
  /** This function's defaults for the Numa client (timeouts, attempts); `o.numaClient` overrides them. */
  numaDefaults: Partial<NumaClientOptions> = {},
): Promise<FunctionClients> {
  const secrets = new SecretCache({
    client: new SecretsManagerClient(awsClientConfig(o.aws)),
    redactor: sharedRedactor,
  });
  return {
    s3: new S3Client(s3ClientConfig(o.aws)),
    sqs: new SQSClient(awsClientConfig(o.aws)),
    numa: await createNumaClient({
      env,
      secrets,
      logger: o.log,
      client: { ...numaDefaults, ...o.numaClient },
    }),
  };
}
