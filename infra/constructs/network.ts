/**
 * Where the runners run: a VPC (new, or an existing one by id), the subnets handed to RunTask, and
 * the runners' security group (egress on the configured ports only, no ingress).
 */
import { Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { Construct } from 'constructs';

export interface NetworkProps {
  /** An existing VPC; without it a new one is created. */
  vpcId?: string;
  /** Subnets of `vpcId` (no lookup needed when given). */
  subnetIds?: string[];
  /** Public subnets with public IPs (no NAT), or private subnets behind NAT gateways. */
  runnerSubnets: 'public' | 'private';
  /** NAT gateways in a new VPC when runnerSubnets is 'private'. */
  natGateways: number;
  /** TCP ports the runners may connect out to. */
  egressPorts: number[];
}

export class Network extends Construct {
  readonly vpc: ec2.IVpc;
  /** Subnet ids for the runners (RunTask's awsvpcConfiguration). */
  readonly subnetIds: string[];
  readonly securityGroup: ec2.SecurityGroup;
  /** ENABLED in public subnets (the runners need a public IP to reach anything), else DISABLED. */
  readonly assignPublicIp: 'ENABLED' | 'DISABLED';

  constructor(scope: Construct, id: string, props: NetworkProps) {
    super(scope, id);
    const subnetType =
      props.runnerSubnets === 'public' ? ec2.SubnetType.PUBLIC : ec2.SubnetType.PRIVATE_WITH_EGRESS;
    this.assignPublicIp = props.runnerSubnets === 'public' ? 'ENABLED' : 'DISABLED';

    if (props.vpcId && props.subnetIds) {
      // Attributes only: no lookup, so synth needs no AWS credentials. Only the id is used (the
      // security group's VPC); the subnets go to RunTask as given.
      this.vpc = ec2.Vpc.fromVpcAttributes(this, 'Vpc', {
        vpcId: props.vpcId,
        availabilityZones: Stack.of(this).availabilityZones,
      });
      this.subnetIds = props.subnetIds;
    } else if (props.vpcId) {
      // Needs AWS credentials at the first synth; the answer is cached in cdk.context.json.
      this.vpc = ec2.Vpc.fromLookup(this, 'Vpc', { vpcId: props.vpcId });
      this.subnetIds = this.vpc.selectSubnets({ subnetType }).subnetIds;
    } else {
      const subnetConfiguration: ec2.SubnetConfiguration[] = [
        { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 20 },
      ];
      if (props.runnerSubnets === 'private') {
        subnetConfiguration.push({
          name: 'runners',
          subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS,
          cidrMask: 20,
        });
      }
      this.vpc = new ec2.Vpc(this, 'Vpc', {
        maxAzs: 2,
        // No NAT gateway by default: idle cost near zero; runners in public subnets get public IPs.
        natGateways: props.runnerSubnets === 'private' ? props.natGateways : 0,
        subnetConfiguration,
        // S3 traffic (code cache, snapshots) stays on the AWS network; gateway endpoints are free.
        gatewayEndpoints: { S3: { service: ec2.GatewayVpcEndpointAwsService.S3 } },
        // The default security group is used by nothing here: strip its rules.
        restrictDefaultSecurityGroup: true,
      });
      this.subnetIds = this.vpc.selectSubnets({ subnetType }).subnetIds;
    }

    this.securityGroup = new ec2.SecurityGroup(this, 'RunnerSecurityGroup', {
      vpc: this.vpc,
      description: 'numa-avatar runners: no inbound; outbound only on the configured TCP ports',
      allowAllOutbound: false,
    });
    // DNS needs no rule: the runners resolve names through the VPC's Amazon-provided resolver
    // (VPC base + 2), and security groups do not filter traffic to it.
    for (const port of [...new Set(props.egressPorts)].sort((a, b) => a - b)) {
      this.securityGroup.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(port), `runners out on tcp/${port}`);
    }
  }
}
