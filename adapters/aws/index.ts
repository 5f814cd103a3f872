/** The AWS adapters of the ports (core/ports.ts) and the shared client configuration. */
export { awsClientConfig, s3ClientConfig } from './clients.ts';
export type {
  AwsClientConfig,
  AwsClientConfigOptions,
  S3ClientConfigShape,
  StaticCredentials,
} from './clients.ts';
export { SqsTaskQueue, deadLetterBody, queueNameOf, sqsSafe } from './sqs-queue.ts';
export type { InvalidReceivedMessage, ReceiveBatch, SqsTaskQueueOptions } from './sqs-queue.ts';
export { S3BlobStore } from './s3-blob-store.ts';
export type { S3BlobStoreOptions } from './s3-blob-store.ts';
export { S3VersionedStore } from './s3-versioned-store.ts';
export type { S3VersionedStoreOptions } from './s3-versioned-store.ts';
export {
  EcsLauncher,
  clientTokenFor,
  isCapacityReason,
  isRetryableLaunchError,
  startedByFor,
} from './ecs-launcher.ts';
export type { EcsLauncherOptions, LaunchedTask } from './ecs-launcher.ts';
export { describeAwsError } from './aws-errors.ts';
