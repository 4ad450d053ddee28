/** The web/app tier: nginx + gunicorn + the app on each instance, spread over the AZs. */
import * as pulumi from "@pulumi/pulumi";
import { renderWebServerUserData, WebServerSettings } from "../userdata/webServer";
import { createTierInstance, ServerPlacement, TierArgs } from "./instance";
import { createInstanceProfile } from "./instanceRole";
import { createTierSecurityGroup, IngressSource, serviceIngress } from "./securityGroup";
import { resourceTags } from "./tags";

export interface WebTierArgs extends TierArgs {
    /** One instance per entry, named as the topology plan names it. */
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
