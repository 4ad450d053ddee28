/**
 * The one way this program creates an EC2 instance, so every tier gets the
 * same hygiene: IMDSv2 only, an encrypted root volume, tags, fixed private
 * address, and (when monitoring is on) detailed monitoring plus a
 * status-check alarm.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { TierRole } from "../roles";
import { encodeUserData } from "../userdata/cloudConfig";
import { resourceTags } from "./tags";

/**
 * Whether a tier is watched: detailed monitoring and a status-check alarm per
 * instance notifying the topic, and the tier's exporters open to the
 * monitoring instance's address only. Required, so leaving it out is a type
 * error rather than a silently unwatched tier.
 */
export type TierMonitoring = { enabled: true; alarmTopicArn: pulumi.Input<string>; scraperIp: string } | { enabled: false };

/** What every tier component takes besides its own settings. */
export interface TierArgs {
    stack: string;
    region: string;
    vpcId: pulumi.Input<string>;
    /** The VPC's IPv4 blocks (the third zone's too): what a rule "from the VPC" or "inside the VPC" names. */
    vpcCidrBlocks: string[];
    ami: pulumi.Input<string>;
    instanceType: pulumi.Input<string>;
    /** SSH is open only to this CIDR, and closed when it is unset. */
    adminCidr?: string;
    keyName?: pulumi.Input<string>;
    monitoring: TierMonitoring;
}

/** Where one server of a tier goes: its name (from the topology plan), fixed address and subnet. */
export interface ServerPlacement {
    name: string;
    privateIp: string;
    subnetId: pulumi.Input<string>;
}

/** What differs between instances of a tier. */
export interface TierInstanceArgs extends Omit<ServerPlacement, "name"> {
    securityGroupIds: pulumi.Input<string>[];
    userData: pulumi.Input<string>;
    instanceProfile?: pulumi.Input<string>;
    associatePublicIp: boolean;
    rootVolumeGiB?: number;
    /** Besides Name, Role and Stack. */
    tags?: Record<string, string>;
    /** Databases: termination protection. */
    disableApiTermination?: boolean;
    /**
     * Stateless tiers: a changed user-data or instance type replaces the
     * instance, so it boots with the new configuration. Otherwise the provider
     * applies either by stop, ModifyInstanceAttribute, start (an outage, and
     * cloud-init, whose modules run once per instance, would not apply the
     * new user-data; terraform-provider-aws ec2_instance.go).
     */
    replaceOnUserDataChange: boolean;
}

export interface TierInstance {
    instance: aws.ec2.Instance;
    alarm?: aws.cloudwatch.MetricAlarm;
}

export function createTierInstance(
    name: string,
    role: TierRole | "monitoring",
    tier: TierArgs,
    args: TierInstanceArgs,
    opts: pulumi.CustomResourceOptions,
): TierInstance {
    const userData = pulumi.output(args.userData).apply(encodeUserData);
    const instance = new aws.ec2.Instance(
        name,
        {
            ami: tier.ami,
            instanceType: tier.instanceType,
            subnetId: args.subnetId,
            privateIp: args.privateIp,
            vpcSecurityGroupIds: args.securityGroupIds,
            associatePublicIpAddress: args.associatePublicIp,
            iamInstanceProfile: args.instanceProfile,
            keyName: tier.keyName,
            userData: userData.apply((u) => u.userData),
            userDataBase64: userData.apply((u) => u.userDataBase64),
            userDataReplaceOnChange: args.replaceOnUserDataChange,
            monitoring: tier.monitoring.enabled,
            disableApiTermination: args.disableApiTermination,
            metadataOptions: { httpTokens: "required", httpEndpoint: "enabled", httpPutResponseHopLimit: 1 },
            rootBlockDevice: { encrypted: true, volumeType: "gp3", volumeSize: args.rootVolumeGiB ?? 8 },
            tags: { ...resourceTags(role, name, tier.stack), ...args.tags },
        },
        {
            ...opts,
            // The address is fixed, and AWS refuses a second instance with an address still in use
            // (InvalidIPAddress.InUse; pulumi/pulumi#8679, hashicorp/terraform-provider-aws#17431):
            // a replacement must delete the old instance first. The policy rollout-fixed-address-delete-first holds this.
            deleteBeforeReplace: true,
            replaceOnChanges: [...(opts.replaceOnChanges ?? []), ...(args.replaceOnUserDataChange ? ["instanceType"] : [])],
        },
    );
    if (!tier.monitoring.enabled) return { instance };
    const { alarmTopicArn } = tier.monitoring;
    const alarm = new aws.cloudwatch.MetricAlarm(
        `${name}-status-check`,
        {
            alarmDescription: `${name} (${role}) fails its EC2 status checks`,
            namespace: "AWS/EC2",
            metricName: "StatusCheckFailed",
            dimensions: { InstanceId: instance.id },
            statistic: "Maximum",
            period: 60,
            evaluationPeriods: 2,
            threshold: 1,
            comparisonOperator: "GreaterThanOrEqualToThreshold",
            treatMissingData: "missing",
            alarmActions: [alarmTopicArn],
            okActions: [alarmTopicArn],
            tags: resourceTags(role, `${name}-status-check`, tier.stack),
        },
        { parent: opts.parent },
    );
    return { instance, alarm };
}
