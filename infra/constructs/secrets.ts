/**
 * The three secrets, created without a value: the template never holds one. The user puts the
 * values after the first deploy (`aws secretsmanager put-secret-value`, see the stack outputs).
 * The runner gets them as ECS secrets; the Lambdas get the backend token's ARN and read it.
 */
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';

export class Secrets extends Construct {
  /** Bearer token for the Numa backend (NUMA_API_TOKEN). */
  readonly backendToken: secretsmanager.Secret;
  /** Token for cloning and pushing over HTTPS (GIT_TOKEN). */
  readonly gitToken: secretsmanager.Secret;
  /** API key of the OpenAI-compatible endpoint (OPENAI_API_KEY). */
  readonly modelKey: secretsmanager.Secret;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    this.backendToken = emptySecret(
      this,
      'BackendToken',
      'numa-avatar: Numa backend API token (NUMA_API_TOKEN)',
    );
    this.gitToken = emptySecret(
      this,
      'GitToken',
      'numa-avatar: git HTTPS token for clone and push (GIT_TOKEN)',
    );
    this.modelKey = emptySecret(this, 'ModelKey', 'numa-avatar: model API key (OPENAI_API_KEY)');
  }
}

function emptySecret(scope: Construct, id: string, description: string): secretsmanager.Secret {
  const secret = new secretsmanager.Secret(scope, id, { description });
  // The Secret construct generates a random value when given none; a random "token" would only
  // turn into confusing 401s. Without GenerateSecretString and SecretString, CloudFormation
  // creates the secret with no value, and a runner cannot start until the user sets one.
  const cfn = secret.node.defaultChild as secretsmanager.CfnSecret;
  cfn.addPropertyDeletionOverride('GenerateSecretString');
  return secret;
}
