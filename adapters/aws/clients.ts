/**
 * Client configuration shared by the Lambda functions, the runner and the tests. Every AWS client
 * of the product is built from `awsClientConfig()` (or `s3ClientConfig()` for S3), so pointing
 * the whole product at an emulator (moto, localstack) takes one variable: `AWS_ENDPOINT_URL`.
 *
 *   new SQSClient(awsClientConfig())
 *   new S3Client(s3ClientConfig({ endpoint: moto.endpoint, region: 'us-east-1', credentials }))
 *
 * Credentials are never read here: the SDK's default chain finds them (the Lambda or task role in
 * AWS); tests hand in fake ones through `credentials`, never through the process environment.
 */
import { AvatarError } from '../../core/errors.ts';

export interface StaticCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface AwsClientConfigOptions {
  /** An emulator's URL (http://127.0.0.1:port); default `AWS_ENDPOINT_URL`, else AWS itself. */
  endpoint?: string;
  /** Default `AWS_REGION`, then `AWS_DEFAULT_REGION`, else left to the SDK (which fails loudly). */
  region?: string;
  /** Fixed credentials (tests against an emulator); default: the SDK's credential chain. */
  credentials?: StaticCredentials;
  /** SDK attempts per call (its own retries of throttling and 5xx); default the SDK's (3). */
  maxAttempts?: number;
  /** Where the variables are read; default `process.env`. */
  env?: NodeJS.ProcessEnv;
}

/** The fields every v3 client config accepts (SQS, S3, ECS, Secrets Manager, ...). */
export interface AwsClientConfig {
  region?: string;
  endpoint?: string;
  credentials?: StaticCredentials;
  maxAttempts?: number;
}

export interface S3ClientConfigShape extends AwsClientConfig {
  /** Path-style URLs (http://host/bucket/key): emulators have no per-bucket host names. */
  forcePathStyle?: boolean;
}

export function awsClientConfig(opts: AwsClientConfigOptions = {}): AwsClientConfig {
  const env = opts.env ?? process.env;
  const endpoint = nonEmpty(opts.endpoint) ?? nonEmpty(env.AWS_ENDPOINT_URL);
  const region = nonEmpty(opts.region) ?? nonEmpty(env.AWS_REGION) ?? nonEmpty(env.AWS_DEFAULT_REGION);
  const config: AwsClientConfig = {};
  if (region !== undefined) config.region = region;
  if (endpoint !== undefined) config.endpoint = checkEndpoint(endpoint);
  if (opts.credentials !== undefined) config.credentials = opts.credentials;
  if (opts.maxAttempts !== undefined) {
    if (!Number.isInteger(opts.maxAttempts) || opts.maxAttempts < 1) {
      throw new AvatarError('CONFIG_INVALID', `maxAttempts must be an integer >= 1, got ${opts.maxAttempts}`);
    }
    config.maxAttempts = opts.maxAttempts;
  }
  return config;
}

/** `awsClientConfig()` plus path-style addressing whenever an emulator endpoint is set. */
export function s3ClientConfig(opts: AwsClientConfigOptions = {}): S3ClientConfigShape {
  const config: S3ClientConfigShape = awsClientConfig(opts);
  if (config.endpoint !== undefined) config.forcePathStyle = true;
  return config;
}

function nonEmpty(v: string | undefined): string | undefined {
  const t = v?.trim();
  return t ? t : undefined;
}

/** An endpoint must be a plain http(s) URL; credentials in it would leak into logs and errors. */
function checkEndpoint(endpoint: string): string {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new AvatarError(
      'CONFIG_INVALID',
      'AWS endpoint is not a URL (AWS_ENDPOINT_URL or endpoint option)',
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new AvatarError('CONFIG_INVALID', `AWS endpoint must be http(s), got ${url.protocol}`);
  }
  if (url.username !== '' || url.password !== '') {
    throw new AvatarError('CONFIG_INVALID', 'AWS endpoint must not contain credentials');
  }
  return endpoint;
}
