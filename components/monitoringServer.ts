/**
 * The monitoring instance: Prometheus, Alertmanager and the blackbox exporter (Debian's packages) in a private
 * subnet, scraping every instance of the plan and publishing alerts to the stack's SNS topic.
 */
import * as pulumi from "@pulumi/pulumi";
import { MonitoringServerSettings, monitoringPorts, renderMonitoringUserData } from "../userdata/monitoring";
import { createTierInstance, ServerPlacement, TierArgs } from "./instance";
import { createScopedInstanceProfile } from "./instanceRole";
import { createTierSecurityGroup, tcpIngress } from "./securityGroup";
import { resourceTags } from "./tags";

export interface MonitoringServerArgs extends TierArgs {
    /** The instance, named as the topology plan names it. */
    server: ServerPlacement;
    /** What it scrapes: every instance of the plan. */
    settings: MonitoringServerSettings;
    /** The site as users reach it (the load balancer's URL at its Elastic IP): what the blackbox exporter probes. */
    publicUrl: pulumi.Input<string>;
    /** The topic Alertmanager publishes to; the instance role may publish there and nowhere else. */
    alarmTopicArn: pulumi.Input<string>;
    /** The topic's KMS key: publishing to an encrypted topic needs kms:GenerateDataKey and kms:Decrypt on it. */
    alarmTopicKeyArn: pulumi.Input<string>;
    /** Whiteboard mode (no NAT gateway): the instance needs a public address to reach Debian's archive and SNS. */
    publicAddress: boolean;
}

export class MonitoringServer extends pulumi.ComponentResource {
    public readonly instanceId: pulumi.Output<string>;
    public readonly privateIp: string;
    public readonly securityGroupId: pulumi.Output<string>;
    /** Where people look (through an SSH tunnel, e.g. `ssh -L 9090:<privateIp>:9090 admin@<load balancer>`). */
    public readonly prometheusUrl: string;
    public readonly alertmanagerUrl: string;

    constructor(name: string, args: MonitoringServerArgs, opts?: pulumi.ComponentResourceOptions) {
        super("foobar:monitoring:MonitoringServer", name, {}, opts);
        if (!args.monitoring.enabled || args.monitoring.scraperIp !== args.server.privateIp) {
            throw new pulumi.InputPropertyError({
                propertyPath: "monitoring",
                reason: "the monitoring instance is itself monitored, and the tiers' exporters must be open to its own address",
            });
        }
        const parent = { parent: this };
        const tags = resourceTags("monitoring", name, args.stack);

        // The web UIs, like HAProxy's stats page, are open to the VPC only: an SSH tunnel through an instance reaches them.
        const ui = [
            tcpIngress(monitoringPorts.prometheus, "Prometheus UI and console from the VPC", { cidrBlocks: args.vpcCidrBlocks }),
            tcpIngress(monitoringPorts.alertmanager, "Alertmanager UI from the VPC", { cidrBlocks: args.vpcCidrBlocks }),
        ];
        const securityGroup = createTierSecurityGroup(`${name}-sg`, "monitoring", ui, args, parent);

        // Alertmanager's SNS receiver signs with this role, which may publish to the stack's topic and do nothing else.
        const profile = createScopedInstanceProfile(
            name,
            "publish-alerts",
            [
                { actions: ["sns:Publish"], resources: [args.alarmTopicArn] },
                // SNS encrypts with the topic's key on the publisher's behalf: GenerateDataKey and Decrypt, no other
                // GenerateDataKey* (https://docs.aws.amazon.com/sms-voice/latest/userguide/configuration-sets-sns-creating-role.html).
                { actions: ["kms:GenerateDataKey", "kms:Decrypt"], resources: [args.alarmTopicKeyArn] },
            ],
            tags,
            parent,
        );

        const userData = pulumi
            .all([args.publicUrl, args.alarmTopicArn])
            .apply(([publicUrl, alarmTopicArn]) =>
                renderMonitoringUserData({ ...args.settings, publicUrl, target: { kind: "aws", region: args.region, alarmTopicArn } }),
            );
        const { instance } = createTierInstance(
            args.server.name,
            "monitoring",
            args,
            {
                subnetId: args.server.subnetId,
                privateIp: args.server.privateIp,
                securityGroupIds: [securityGroup.id],
                userData,
                instanceProfile: profile.name,
                associatePublicIp: args.publicAddress,
                // Fifteen days of metrics (Prometheus's default retention) for a handful of instances fit easily.
                rootVolumeGiB: 20,
                replaceOnUserDataChange: true,
            },
            parent,
        );

        this.instanceId = instance.id;
        this.privateIp = args.server.privateIp;
        this.securityGroupId = securityGroup.id;
        this.prometheusUrl = `http://${args.server.privateIp}:${monitoringPorts.prometheus}/`;
        this.alertmanagerUrl = `http://${args.server.privateIp}:${monitoringPorts.alertmanager}/`;
        this.registerOutputs({
            instanceId: this.instanceId,
            privateIp: this.privateIp,
            securityGroupId: this.securityGroupId,
            prometheusUrl: this.prometheusUrl,
            alertmanagerUrl: this.alertmanagerUrl,
        });
    }
}
