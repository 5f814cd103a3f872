/**
 * The runners' opt-in DNS allow-list (`egressAllowDomains`): a Route 53 Resolver DNS Firewall rule
 * group associated with the runners' VPC. Names on the operator's list, and the names the runner
 * itself needs, resolve as usual; every other name gets NXDOMAIN. The VPC keeps its
 * Amazon-provided resolver (VPC base + 2): DNS Firewall filters the queries that resolver answers.
 *
 * What it does not do: filter connections. A process that connects to an IP address (one it was
 * given, or one it resolved elsewhere, e.g. DNS over HTTPS to a literal IP on an open egress port)
 * bypasses it. The security group's port list still applies. AWS Network Firewall, which filters
 * TLS connections by SNI, is the stronger option (README, "Isolation of the runners").
 */
import { Aws } from 'aws-cdk-lib';
import * as route53resolver from 'aws-cdk-lib/aws-route53resolver';
import { Construct } from 'constructs';

/**
 * Rule priorities inside the rule group (lowest first): both ALLOW rules come before the rule that
 * blocks everything else.
 */
export const DNS_FIREWALL_RULE_PRIORITY = { allowOperator: 100, allowService: 200, blockAll: 1000 } as const;
/**
 * The rule group's priority among the VPC's DNS Firewall rule groups (100..9900, unique per VPC):
 * late, so that rule groups already associated with an existing VPC are evaluated first.
 */
export const DNS_FIREWALL_ASSOCIATION_PRIORITY = 9000;
/** The domain list of the block rule: every name. */
export const BLOCK_ALL_DOMAINS = ['*'];

export interface RunnerServiceDomainsProps {
  backendUrl: string;
  /** OpenAI-compatible endpoint; unset: OpenAI's (api.openai.com). */
  modelBaseUrl?: string;
  /** The stack's bucket (a token at synth). */
  bucketName: string;
}

/** A URL's host name, unless it is an IP address (nothing to resolve). */
function hostOf(url: string): string | undefined {
  const host = new URL(url).hostname.toLowerCase();
  if (host.startsWith('[') || /^[0-9.]+$/.test(host)) return undefined;
  return host;
}

/**
 * Names the runner resolves whatever the task: the backend, the model endpoint, this stack's bucket
 * (virtual-hosted S3 URLs), and what the Fargate agent resolves through the task's network
 * interface to start the task: ECR (API, this account's registry and the S3 bucket that holds the
 * image layers), CloudWatch Logs (the awslogs driver) and Secrets Manager (the ECS secrets).
 */
export function runnerServiceDomains(props: RunnerServiceDomainsProps): string[] {
  const region = Aws.REGION;
  const suffix = Aws.URL_SUFFIX;
  const hosts = [
    hostOf(props.backendUrl),
    hostOf(props.modelBaseUrl ?? 'https://api.openai.com/v1'),
    `${props.bucketName}.s3.${region}.${suffix}`,
    `api.ecr.${region}.${suffix}`,
    `ecr.${region}.${suffix}`,
    `${Aws.ACCOUNT_ID}.dkr.ecr.${region}.${suffix}`,
    `prod-${region}-starport-layer-bucket.s3.${region}.${suffix}`,
    `prod-${region}-starport-layer-bucket.s3.${suffix}`,
    `logs.${region}.${suffix}`,
    `secretsmanager.${region}.${suffix}`,
  ];
  return [...new Set(hosts.filter((h): h is string => h !== undefined))];
}

export interface EgressDnsFirewallProps {
  /** The VPC the runners run in. */
  vpcId: string;
  /** The operator's allow-list (checked by resolveSettings). */
  allowDomains: string[];
  /** Names the runner itself needs (runnerServiceDomains). */
  serviceDomains: string[];
}

export class EgressDnsFirewall extends Construct {
  readonly allowList: route53resolver.CfnFirewallDomainList;
  readonly serviceList: route53resolver.CfnFirewallDomainList;
  readonly blockList: route53resolver.CfnFirewallDomainList;
  readonly ruleGroup: route53resolver.CfnFirewallRuleGroup;
  readonly association: route53resolver.CfnFirewallRuleGroupAssociation;

  constructor(scope: Construct, id: string, props: EgressDnsFirewallProps) {
    super(scope, id);
    this.allowList = new route53resolver.CfnFirewallDomainList(this, 'AllowedDomains', {
      domains: [...new Set(props.allowDomains)].sort(),
    });
    this.serviceList = new route53resolver.CfnFirewallDomainList(this, 'RunnerServiceDomains', {
      domains: props.serviceDomains,
    });
    this.blockList = new route53resolver.CfnFirewallDomainList(this, 'AllDomains', {
      domains: BLOCK_ALL_DOMAINS,
    });

    // An allowed name's CNAME chain is trusted: the targets (CDNs, S3's regional hosts) need not
    // be on the list.
    const allow = (list: route53resolver.CfnFirewallDomainList, priority: number) => ({
      action: 'ALLOW',
      firewallDomainListId: list.attrId,
      priority,
      firewallDomainRedirectionAction: 'TRUST_REDIRECTION_DOMAIN',
    });
    this.ruleGroup = new route53resolver.CfnFirewallRuleGroup(this, 'RuleGroup', {
      firewallRules: [
        allow(this.allowList, DNS_FIREWALL_RULE_PRIORITY.allowOperator),
        allow(this.serviceList, DNS_FIREWALL_RULE_PRIORITY.allowService),
        {
          action: 'BLOCK',
          blockResponse: 'NXDOMAIN',
          firewallDomainListId: this.blockList.attrId,
          priority: DNS_FIREWALL_RULE_PRIORITY.blockAll,
        },
      ],
    });
    this.association = new route53resolver.CfnFirewallRuleGroupAssociation(this, 'VpcAssociation', {
      firewallRuleGroupId: this.ruleGroup.attrId,
      vpcId: props.vpcId,
      priority: DNS_FIREWALL_ASSOCIATION_PRIORITY,
      name: `${Aws.STACK_NAME}-runner-egress`,
    });
  }
}
