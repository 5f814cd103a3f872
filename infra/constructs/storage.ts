/**
 * The bucket: poll state (state/), dispatch records (dispatch/, stopped/), run artifacts (runs/)
 * and caches (cache/). Encrypted, never public, TLS only, no versioning, kept when the stack goes.
 * Access is granted per key prefix (`grantPrefixes`), never to the whole bucket.
 */
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';

export interface StorageProps {
  runsRetentionDays: number;
  cacheRetentionDays: number;
}

/** Object-level S3 actions a grant may give (never `s3:*`). */
export type ObjectAction = 's3:GetObject' | 's3:PutObject' | 's3:DeleteObject';

export class Storage extends Construct {
  readonly bucket: s3.Bucket;

  constructor(scope: Construct, id: string, props: StorageProps) {
    super(scope, id);
    this.bucket = new s3.Bucket(this, 'Bucket', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      versioned: false,
      // Run artifacts outlive the stack: delete the bucket by hand when they are no longer wanted.
      removalPolicy: RemovalPolicy.RETAIN,
      autoDeleteObjects: false,
      lifecycleRules: [
        { id: 'expire-runs', prefix: 'runs/', expiration: Duration.days(props.runsRetentionDays) },
        {
          id: 'expire-dispatch-records',
          prefix: 'dispatch/',
          expiration: Duration.days(props.runsRetentionDays),
        },
        {
          id: 'expire-stopped-records',
          prefix: 'stopped/',
          expiration: Duration.days(props.runsRetentionDays),
        },
        { id: 'expire-cache', prefix: 'cache/', expiration: Duration.days(props.cacheRetentionDays) },
        { id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
    });
  }

  /**
   * Grants object actions per key prefix (`{ 'runs/': ['s3:GetObject'] }`) and s3:ListBucket on the
   * bucket. The list grant is what makes a read of a missing key answer 404 (NoSuchKey, which the
   * adapters treat as "absent") instead of 403. It is deliberately not narrowed with an `s3:prefix`
   * condition: whether S3 honours such a condition for that 404 decision is not documented, and a
   * role that gets 403 for its first cursor or dispatch-record read would fail every invocation.
   * What it reveals is key names in this stack's own bucket (task and run ids, cache hashes).
   */
  grantPrefixes(grantee: iam.IGrantable, access: Record<string, ObjectAction[]>): void {
    const prefixes = Object.keys(access);
    // One statement per distinct set of actions.
    const byActions = new Map<string, string[]>();
    for (const prefix of prefixes) {
      const actions = [...new Set(access[prefix])].sort().join(',');
      byActions.set(actions, [...(byActions.get(actions) ?? []), prefix]);
    }
    for (const [actions, group] of byActions) {
      grantee.grantPrincipal.addToPrincipalPolicy(
        new iam.PolicyStatement({
          actions: actions.split(','),
          resources: group.map((p) => this.bucket.arnForObjects(`${p}*`)),
        }),
      );
    }
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['s3:ListBucket'],
        resources: [this.bucket.bucketArn],
      }),
    );
  }
}
