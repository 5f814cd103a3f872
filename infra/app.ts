/**
 * The CDK app (cdk.json: `npx tsx infra/app.ts`). Every stack setting is read from the context:
 * cdk.json holds the defaults, `-c key=value` overrides one (`npx cdk synth -c maxRunners=10`).
 * The stack name is the `stackName` context value (default NumaAvatar).
 */
import { describeError } from '../core/errors.ts';
import { createNumaAvatarApp } from './create-app.ts';

try {
  createNumaAvatarApp().app.synth();
} catch (err) {
  console.error(`numa-avatar: ${describeError(err)}`);
  process.exit(1);
}
