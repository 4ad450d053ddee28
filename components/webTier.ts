/** The web/app tier: nginx + gunicorn + the app on each instance, spread over the AZs. */
import * as pulumi from "@pulumi/pulumi";
import { WithoutTarget } from "../userdata/site";
import { renderWebServerUserData, WebServerUserDataArgs } from "../userdata/webServer";
import { createTierInstance, resourceTags, TierArgs } from "./instance";
import { createInstanceProfile } from "./instanceRole";
import { anywhere, createTierSecurityGroup, tcpIngress } from "./securityGroup";

export interface WebServerPlacement {
    name: string;
    privateIp: string;
    subnetId: pulumi.Input<string>;
}

export interface WebTierArgs extends TierArgs {
    servers: WebServerPlacement[];
    /** App traffic only from this security group; from anywhere when unset (the whiteboard's "no firewall"). */
    loadBalancerSecurityGroupId?: pulumi.Input<string>;
    /** Whiteboard mode: servers get public addresses. */
    publicAddresses: boolean;
    /** The app's settings: site name, database endpoints and the password parameter. */
    settings: WithoutTarget<WebServerUserDataArgs>;
    /** The parameter named in the settings; the tier's role may read it and nothing else. */
    passwordParameterArn: pulumi.Input<string>;
    alarmTopicArn?: pulumi.Input<string>;
}

export class WebTier extends pulumi.ComponentResource {
    public readonly instanceIds: pulumi.Output<string>[];
    public readonly privateIps: string[];
    public readonly securityGroupId: pulumi.Output<string>;

    constructor(name: string, args: WebTierArgs, opts?: pulumi.ComponentResourceOptions) {
        super("foobar:webTier:WebTier", name, {}, opts);
        const parent = { parent: this };
        const tags = resourceTags("web", name, args.stack);

        const appFrom =
            args.loadBalancerSecurityGroupId !== undefined
                ? tcpIngress(80, "HTTP from the load balancer", { securityGroups: [args.loadBalancerSecurityGroupId] })
                : tcpIngress(80, "HTTP from anywhere", anywhere);
        const securityGroup = createTierSecurityGroup(`${name}-sg`, "web", [appFrom], args, parent);
        const profile = createInstanceProfile(name, [args.passwordParameterArn], tags, parent);
        const userData = renderWebServerUserData({ ...args.settings, target: { kind: "aws", region: args.region } });
        const instances = args.servers.map(
            (server) =>
                createTierInstance(
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
                    parent,
                ).instance,
        );

        this.instanceIds = instances.map((i) => i.id);
        this.privateIps = args.servers.map((s) => s.privateIp);
        this.securityGroupId = securityGroup.id;
        this.registerOutputs({ instanceIds: this.instanceIds, privateIps: this.privateIps, securityGroupId: this.securityGroupId });
    }
}
