/**
 * The one way this program creates an EC2 instance, so every tier gets the
 * same hygiene: IMDSv2 only, an encrypted root volume, tags, fixed private
 * address, and (when monitoring is on) detailed monitoring plus a
 * status-check alarm.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { encodeUserData } from "../userdata/cloudConfig";

export interface TierInstanceArgs {
    role: string;
    stack: string;
    ami: pulumi.Input<string>;
    instanceType: pulumi.Input<string>;
    subnetId: pulumi.Input<string>;
    privateIp: string;
    securityGroupIds: pulumi.Input<string>[];
    userData: pulumi.Input<string>;
    instanceProfile?: pulumi.Input<string>;
    keyName?: pulumi.Input<string>;
    associatePublicIp: boolean;
    rootVolumeGiB?: number;
    /** Detailed monitoring and an alarm on failed status checks that notifies this topic. */
    alarmTopicArn?: pulumi.Input<string>;
    /** Databases: termination protection. */
    disableApiTermination?: boolean;
    /** Stateless tiers: a changed user-data replaces the instance, so it boots with the new configuration. */
    replaceOnUserDataChange: boolean;
}

export function resourceTags(role: string, name: string, stack: string): Record<string, string> {
    return { Name: name, Role: role, Stack: stack };
}

export interface TierInstance {
    instance: aws.ec2.Instance;
    alarm?: aws.cloudwatch.MetricAlarm;
}

export function createTierInstance(
    name: string,
    args: TierInstanceArgs,
    opts: pulumi.CustomResourceOptions,
): TierInstance {
    const userData = pulumi.output(args.userData).apply(encodeUserData);
    const instance = new aws.ec2.Instance(
        name,
        {
            ami: args.ami,
            instanceType: args.instanceType,
            subnetId: args.subnetId,
            privateIp: args.privateIp,
            vpcSecurityGroupIds: args.securityGroupIds,
            associatePublicIpAddress: args.associatePublicIp,
            iamInstanceProfile: args.instanceProfile,
            keyName: args.keyName,
            userData: userData.apply((u) => u.userData),
            userDataBase64: userData.apply((u) => u.userDataBase64),
            userDataReplaceOnChange: args.replaceOnUserDataChange,
            monitoring: args.alarmTopicArn !== undefined,
            disableApiTermination: args.disableApiTermination,
            metadataOptions: { httpTokens: "required", httpEndpoint: "enabled", httpPutResponseHopLimit: 1 },
            rootBlockDevice: { encrypted: true, volumeType: "gp3", volumeSize: args.rootVolumeGiB ?? 8 },
            tags: resourceTags(args.role, name, args.stack),
        },
        opts,
    );
    if (args.alarmTopicArn === undefined) return { instance };
    const alarm = new aws.cloudwatch.MetricAlarm(
        `${name}-status-check`,
        {
            alarmDescription: `${name} (${args.role}) fails its EC2 status checks`,
            namespace: "AWS/EC2",
            metricName: "StatusCheckFailed",
            dimensions: { InstanceId: instance.id },
            statistic: "Maximum",
            period: 60,
            evaluationPeriods: 2,
            threshold: 1,
            comparisonOperator: "GreaterThanOrEqualToThreshold",
            treatMissingData: "missing",
            alarmActions: [args.alarmTopicArn],
            okActions: [args.alarmTopicArn],
            tags: resourceTags(args.role, `${name}-status-check`, args.stack),
        },
        { parent: opts.parent },
    );
    return { instance, alarm };
}
