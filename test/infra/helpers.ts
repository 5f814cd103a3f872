/**
 * Shared by the infra tests: the fixture code paths, cdk.json's context, one synthesis into a
 * temporary directory, and a walk over every IAM policy statement of a template.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import { createNumaAvatarApp } from '../../infra/create-app.ts';
import type { NumaAvatarProps, NumaAvatarStack } from '../../infra/stack.ts';

export const REPO_ROOT = path.resolve(import.meta.dirname, '../..');
export const FIXTURES = path.join(import.meta.dirname, 'fixtures');
export const TEST_BACKEND_URL = 'https://numa.test.example';

/** Stand-ins for the handlers and the runner image: synthesis works whatever state those are in. */
export const FIXTURE_CODE: Partial<NumaAvatarProps> = {
  pollerEntry: path.join(FIXTURES, 'handler.ts'),
  dispatcherEntry: path.join(FIXTURES, 'handler.ts'),
  stoppedEntry: path.join(FIXTURES, 'handler.ts'),
  runnerImageDirectory: path.join(FIXTURES, 'runner'),
  runnerDockerfile: 'Dockerfile',
};

/** cdk.json's context: the feature flags and setting defaults `cdk synth` uses. */
export function cdkJsonContext(): Record<string, unknown> {
  const cdkJson = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'cdk.json'), 'utf8')) as {
    context: Record<string, unknown>;
  };
  return cdkJson.context;
}

export interface Synthesized {
  stack: NumaAvatarStack;
  template: Template;
  /** The template as CloudFormation JSON. */
  json: CfnTemplate;
  /** The cloud assembly directory (removed by cleanup). */
  outdir: string;
  cleanup: () => void;
}

/** Synthesizes through the same path as `cdk synth` (cdk.json context + extra context + overrides). */
export function synth(
  extraContext: Record<string, unknown> = {},
  overrides: Partial<NumaAvatarProps> = {},
): Synthesized {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'numa-infra-'));
  const { app, stack } = createNumaAvatarApp({
    context: { ...cdkJsonContext(), backendUrl: TEST_BACKEND_URL, ...extraContext },
    outdir,
    overrides: { ...FIXTURE_CODE, ...overrides },
    // cfn-lint (cfn-lint.test.ts) checks the templates; the CDK's own check only slows tests down.
    builtinValidation: false,
  });
  const assembly = app.synth();
  const json = assembly.getStackByName(stack.stackName).template as CfnTemplate;
  return {
    stack,
    template: Template.fromJSON(json),
    json,
    outdir,
    cleanup: () => fs.rmSync(outdir, { recursive: true, force: true }),
  };
}

export interface CfnResource {
  Type: string;
  Properties?: Record<string, unknown>;
  DeletionPolicy?: string;
  UpdateReplacePolicy?: string;
}
export interface CfnTemplate {
  Resources: Record<string, CfnResource>;
  Outputs?: Record<string, { Value: unknown; Description?: string }>;
}

export interface PolicyStatement {
  Effect: 'Allow' | 'Deny';
  Action?: string | string[];
  Resource?: unknown;
  Condition?: Record<string, Record<string, unknown>>;
  Principal?: unknown;
}

export interface FoundStatement {
  /** Logical id of the policy or role holding it. */
  holder: string;
  statement: PolicyStatement;
}

function statementsOf(doc: unknown): PolicyStatement[] {
  const d = doc as { Statement?: PolicyStatement[] } | undefined;
  return d?.Statement ?? [];
}

/** Every identity-policy statement: AWS::IAM::Policy, AWS::IAM::ManagedPolicy and inline role policies. */
export function identityStatements(json: CfnTemplate): FoundStatement[] {
  const found: FoundStatement[] = [];
  for (const [id, r] of Object.entries(json.Resources)) {
    const props = r.Properties ?? {};
    if (r.Type === 'AWS::IAM::Policy' || r.Type === 'AWS::IAM::ManagedPolicy') {
      for (const statement of statementsOf(props.PolicyDocument)) found.push({ holder: id, statement });
    }
    if (r.Type === 'AWS::IAM::Role') {
      for (const p of (props.Policies as { PolicyDocument: unknown }[] | undefined) ?? []) {
        for (const statement of statementsOf(p.PolicyDocument)) found.push({ holder: id, statement });
      }
    }
  }
  return found;
}

export const asList = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/** A CloudFormation value with intrinsic functions turned into text, e.g. for Fn::Join bodies. */
export function flatten(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    if ('Fn::Join' in o) {
      const [sep, parts] = o['Fn::Join'] as [string, unknown[]];
      return parts.map(flatten).join(sep);
    }
    if ('Ref' in o) return `\${${String(o.Ref)}}`;
    if ('Fn::GetAtt' in o) return `\${${(o['Fn::GetAtt'] as string[]).join('.')}}`;
  }
  return `\${${JSON.stringify(value)}}`;
}

/** Resources of one type, by logical id. */
export function resourcesOf(json: CfnTemplate, type: string): [string, CfnResource][] {
  return Object.entries(json.Resources).filter(([, r]) => r.Type === type);
}
