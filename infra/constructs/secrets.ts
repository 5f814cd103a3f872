/**
 * The stack's one secret, created without a value: the template never holds one. It holds the
 * three values as one JSON object (SECRET_FIELDS), which the user puts after the first deploy
 * (`aws secretsmanager put-secret-value`, see the stack's SetSecretsCommand output). One secret
 * instead of three is $0.80 a month less at Secrets Manager's $0.40 per secret-month.
 *
 * The runner gets each value as an ECS secret through a JSON-key reference
 * (`ecs.Secret.fromSecretsManager(secret, field)`), so it still sees NUMA_API_TOKEN, GIT_TOKEN and
 * OPENAI_API_KEY. The Lambdas get the secret's ARN and the backend token's field name
 * (NUMA_API_TOKEN_SECRET_ARN, NUMA_API_TOKEN_SECRET_FIELD) and read that field.
 */
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';

/** The secret's JSON keys, and the runner environment variable each one becomes. */
export const SECRET_FIELDS = {
  /** Bearer token for the Numa backend (the runner's NUMA_API_TOKEN; the Lambdas read it too). */
  backendToken: 'backend_token',
  /** Token for cloning and pushing over HTTPS (the runner's GIT_TOKEN). */
  gitToken: 'git_token',
  /** API key of the OpenAI-compatible endpoint (the runner's OPENAI_API_KEY). */
  modelApiKey: 'model_api_key',
} as const;

/** Runner environment variable → the secret's JSON key it is read from. */
export const RUNNER_SECRET_ENV = {
  NUMA_API_TOKEN: SECRET_FIELDS.backendToken,
  GIT_TOKEN: SECRET_FIELDS.gitToken,
  OPENAI_API_KEY: SECRET_FIELDS.modelApiKey,
} as const;

export class Secrets extends Construct {
  /** The JSON secret: `{"backend_token": "...", "git_token": "...", "model_api_key": "..."}`. */
  readonly secret: secretsmanager.Secret;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    this.secret = new secretsmanager.Secret(this, 'Values', {
      description: `numa-avatar: a JSON object with ${Object.values(SECRET_FIELDS).join(', ')} (NUMA_API_TOKEN, GIT_TOKEN, OPENAI_API_KEY of the runner)`,
    });
    // The Secret construct generates a random value when given none; a random "token" would only
    // turn into confusing 401s. Without GenerateSecretString and SecretString, CloudFormation
    // creates the secret with no value, and a runner cannot start until the user sets one.
    const cfn = this.secret.node.defaultChild as secretsmanager.CfnSecret;
    cfn.addPropertyDeletionOverride('GenerateSecretString');
  }
}
