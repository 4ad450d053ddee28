/** Where alarms go: an SNS topic per stack, with an optional email subscription. */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { resourceTags } from "./tags";

export interface MonitoringArgs {
    stack: string;
    alarmEmail?: string;
}

export class Monitoring extends pulumi.ComponentResource {
    public readonly alarmTopicArn: pulumi.Output<string>;

    constructor(name: string, args: MonitoringArgs, opts?: pulumi.ComponentResourceOptions) {
        super("foobar:monitoring:Monitoring", name, {}, opts);
        const topic = new aws.sns.Topic(
            `${name}-alarms`,
            { kmsMasterKeyId: "alias/aws/sns", tags: resourceTags("monitoring", `${name}-alarms`, args.stack) },
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
        this.registerOutputs({ alarmTopicArn: this.alarmTopicArn });
    }
}
