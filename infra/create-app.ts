/**
 * Builds the CDK app the way `cdk synth` does (infra/app.ts), so tests can run the same path with
 * their own context and code paths: the settings come from the context, `overrides` (code paths,
 * test settings) win over it.
 */
import { App } from 'aws-cdk-lib';
import { settingsFromContext } from './config.ts';
import type { NumaAvatarSettings } from './config.ts';
import { NumaAvatarStack } from './stack.ts';
import type { NumaAvatarProps } from './stack.ts';

export interface CreateAppOptions {
  /** Context values (cdk.json's and -c ones). Default: what the CDK CLI passes in the environment. */
  context?: Record<string, unknown>;
  /** Where the cloud assembly goes. Default: the CLI's (CDK_OUTDIR) or a temporary directory. */
  outdir?: string;
  /** Props that win over the context (code paths in tests). */
  overrides?: Partial<NumaAvatarProps>;
  /**
   * The CDK's built-in CloudFormation validation at synth (default on). Tests turn it off: it is
   * the slowest part of a synth, and they run cfn-lint over the template instead.
   */
  builtinValidation?: boolean;
}

export function createNumaAvatarApp(options: CreateAppOptions = {}): { app: App; stack: NumaAvatarStack } {
  const app = new App({
    ...(options.context ? { context: options.context } : {}),
    ...(options.outdir ? { outdir: options.outdir } : {}),
    ...(options.builtinValidation === false ? { builtinCloudFormationValidation: false } : {}),
  });
  const stackName = String(app.node.tryGetContext('stackName') || 'NumaAvatar');
  const fromContext = settingsFromContext((key) => app.node.tryGetContext(key));
  const stack = new NumaAvatarStack(app, stackName, {
    // Account and region from the CLI's credentials when there are any; without them the stack is
    // environment-agnostic (synth needs no AWS credentials).
    env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
    // backendUrl and the rest are checked by the stack, which names a missing or bad key.
    ...(fromContext as NumaAvatarSettings),
    ...options.overrides,
  });
  return { app, stack };
}
