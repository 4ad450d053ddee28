/** The web/app tier: nginx + gunicorn + the app on each instance, spread over the AZs. */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { renderWebServerUserData, WebServerSettings } from "../userdata/webServer";
import { createTierInstance, ServerPlacement, TierArgs } from "./instance";
import { createInstanceProfile } from "./instanceRole";
import { consoleMarkerGate, markers } from "./readiness";
import { createTierSecurityGroup, IngressSource, serviceIngress } from "./securityGroup";
import { resourceTags } from "./tags";

export interface WebTierArgs extends TierArgs {
    /** One instance per entry, named as the topology plan names it, in the order they are created and replaced (webRolloutOrder). */
    servers: ServerPlacement[];
    /** Who may reach the app port: the load balancer's group, or anyone (the whiteboard's "no firewall"). */
    appIngress: IngressSource;
    /** Whiteboard mode: servers get public addresses. */
    publicAddresses: boolean;
    /** The app's settings: site name, database endpoints and the password parameter. */
    settings: WebServerSettings;
    /** The parameter named in the settings; the tier's role may read it and nothing else. */
    passwordParameterArn: pulumi.Input<string>;
}

export class WebTier extends pulumi.ComponentResource {
    public readonly instanceIds: pulumi.Output<string>[];
    public readonly privateIps: string[];
    public readonly securityGroupId: pulumi.Output<string>;
    /** One gate per server, in order: each completes when its server serves. */
    public readonly readiness: pulumi.Resource[];

    constructor(name: string, args: WebTierArgs, opts?: pulumi.ComponentResourceOptions) {
        super("foobar:webTier:WebTier", name, {}, opts);
        if (args.servers.length === 0) {
            throw new pulumi.InputPropertyError({ propertyPath: "servers", reason: "the web tier needs at least one server" });
        }
        const parent = { parent: this };
        const tags = resourceTags("web", name, args.stack);

        const appFrom = serviceIngress(80, "HTTP", args.appIngress, "the load balancer");
        const securityGroup = createTierSecurityGroup(`${name}-sg`, "web", [appFrom], args, parent);
        const profile = createInstanceProfile(name, [args.passwordParameterArn], tags, parent);
        const userData = renderWebServerUserData({ ...args.settings, target: { kind: "aws", region: args.region } });
        // One server at a time, in the order given: each waits for the previous one's readiness gate, so a change that replaces
        // them all (the app, nginx, the instance type) takes down at most one, and a server that does not
        // come up stops the rollout there (README: Changes on a running stack).
        const instances: aws.ec2.Instance[] = [];
        this.readiness = [];
        for (const server of args.servers) {
            const previous = this.readiness.slice(-1);
            const { instance } = createTierInstance(
                server.name,
                "web",
                args,
                {
                    subnetId: server.subnetId,
                    privateIp: server.privateIp,
                    securityGroupIds: [securityGroup.id],
                    userData,
                    instanceProfile: profile.name,
                    associatePublicIp: args.publicAddresses,
                    replaceOnUserDataChange: true,
                },
                { parent: this, dependsOn: previous },
            );
            instances.push(instance);
            this.readiness.push(
                consoleMarkerGate(
                    `${server.name}-ready`,
                    { instanceId: instance.id, region: args.region, marker: markers.webReady },
                    parent,
                ),
            );
        }

        this.instanceIds = instances.map((i) => i.id);
        this.privateIps = args.servers.map((s) => s.privateIp);
        this.securityGroupId = securityGroup.id;
        this.registerOutputs({ instanceIds: this.instanceIds, privateIps: this.privateIps, securityGroupId: this.securityGroupId });
    }
}
