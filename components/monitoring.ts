/** Where alarms go: an SNS topic per stack, with an optional email subscription. */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { stackArns } from "./arn";
import { resourceTags } from "./tags";

export interface MonitoringArgs {
    stack: string;
    alarmEmail?: string;
}

/**
 * The alarm topic key's policy: the account keeps full control (without it
 * KMS refuses the policy, lest the key become unmanageable), and CloudWatch
 * may decrypt and generate data keys, which publishing to an encrypted topic
 * needs (statement as in https://repost.aws/knowledge-center/cloudwatch-configure-alarm-sns).
 */
export function alarmTopicKeyPolicy(accountId: string, partition: string) {
    return {
        Version: "2012-10-17",
        Statement: [
            {
                Sid: "AccountAdministersTheKey",
                Effect: "Allow",
                Principal: { AWS: `arn:${partition}:iam::${accountId}:root` },
                Action: "kms:*",
                Resource: "*",
            },
            {
                Sid: "CloudWatchAlarmsPublishToTheTopic",
                Effect: "Allow",
                Principal: { Service: "cloudwatch.amazonaws.com" },
                // Named, not kms:GenerateDataKey*, which would also grant the key-pair actions (tests/iam/simulate.test.ts).
                Action: ["kms:Decrypt", "kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext"],
                Resource: "*",
            },
        ],
    };
}

export class Monitoring extends pulumi.ComponentResource {
    public readonly alarmTopicArn: pulumi.Output<string>;
    /** The topic's key: a publisher other than CloudWatch (Alertmanager) needs kms:GenerateDataKey and kms:Decrypt on it. */
    public readonly alarmTopicKeyArn: pulumi.Output<string>;

    constructor(name: string, args: MonitoringArgs, opts?: pulumi.ComponentResourceOptions) {
        super("foobar:monitoring:Monitoring", name, {}, opts);
        // A key of the stack's own: CloudWatch alarms cannot publish to a topic encrypted with the AWS managed
        // alias/aws/sns, whose key policy does not let cloudwatch.amazonaws.com use it and cannot be edited
        // (https://repost.aws/knowledge-center/cloudwatch-configure-alarm-sns). The policy rollout-alarm-topic-key holds this.
        const { account, partition } = stackArns({ parent: this });
        const key = new aws.kms.Key(
            `${name}-alarms-key`,
            {
                description: `encrypts the foobar ${args.stack} alarm topic; CloudWatch alarms may use it`,
                enableKeyRotation: true,
                policy: pulumi.all([account, partition]).apply(([id, p]) => JSON.stringify(alarmTopicKeyPolicy(id, p))),
                tags: resourceTags("monitoring", `${name}-alarms-key`, args.stack),
            },
            { parent: this },
        );
        // Changing the key is an in-place SetTopicAttributes (KmsMasterKeyId): the topic and its subscriptions stay.
        const topic = new aws.sns.Topic(
            `${name}-alarms`,
            { kmsMasterKeyId: key.arn, tags: resourceTags("monitoring", `${name}-alarms`, args.stack) },
            { parent: this },
        );
        if (args.alarmEmail) {
            new aws.sns.TopicSubscription(
                `${name}-alarms-email`,
                { topic: topic.arn, protocol: "email", endpoint: args.alarmEmail },
                { parent: this },
            );
        }
        this.alarmTopicArn = topic.arn;
        this.alarmTopicKeyArn = key.arn;
        this.registerOutputs({ alarmTopicArn: this.alarmTopicArn, alarmTopicKeyArn: this.alarmTopicKeyArn });
    }
}
