/**
 * cfn-lint over the synthesized templates (the default stack, and one with private subnets, Spot,
 * an alarm email and a DNS allow-list so NAT gateways, subscriptions and the DNS Firewall are
 * linted too). Skipped with a message where cfn-lint is not installed; NUMA_REQUIRE_CFN_LINT=1
 * (CI) turns its absence into a failure.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { synth } from './helpers.ts';
import type { Synthesized } from './helpers.ts';

const probe = spawnSync('cfn-lint', ['--version'], { encoding: 'utf8' });
const available = !probe.error && probe.status === 0;
const required = process.env.NUMA_REQUIRE_CFN_LINT === '1';

/**
 * Checks left out, each for a reason:
 * - W3005 (DependsOn already implied by a GetAtt): the CDK adds DependsOn on a Lambda's role
 *   (with its default policy) although the function's Role property already references it.
 */
const IGNORED_CHECKS = ['W3005'];

if (!available && !required) {
  console.warn(
    `cfn-lint not found (${probe.error?.message ?? probe.stderr}): skipping the template lint. Install it with \`pip install cfn-lint\`; NUMA_REQUIRE_CFN_LINT=1 makes this a failure.`,
  );
}

describe.skipIf(!available && !required)('cfn-lint', () => {
  const synthesized: Synthesized[] = [];
  beforeAll(() => {
    // Bundling is skipped: cfn-lint reads templates only.
    const skipBundling = { 'aws:cdk:bundling-stacks': [] };
    synthesized.push(synth(skipBundling));
    synthesized.push(
      synth({
        ...skipBundling,
        runnerSubnets: 'private',
        capacity: 'FARGATE_SPOT',
        alarmEmail: 'ops@example.com',
        egressPorts: '443,22',
        egressAllowDomains: 'github.com,*.github.com',
      }),
    );
  });
  afterAll(() => synthesized.forEach((s) => s.cleanup()));

  it('is installed', () => {
    expect(available, 'cfn-lint is required (NUMA_REQUIRE_CFN_LINT=1) but was not found on PATH').toBe(true);
  });

  it('finds nothing wrong with the templates', () => {
    const templates = synthesized.map((s) => path.join(s.outdir, `${s.stack.stackName}.template.json`));
    const result = spawnSync(
      'cfn-lint',
      ['--format', 'parseable', '--ignore-checks', ...IGNORED_CHECKS, '--', ...templates],
      { encoding: 'utf8' },
    );
    expect(result.error).toBeUndefined();
    // Exit status: 0 clean; bits 2 (errors), 4 (warnings), 8 (informational).
    expect(`${result.stdout}${result.stderr}`.trim()).toBe('');
    expect(result.status).toBe(0);
  });
});
