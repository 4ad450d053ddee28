/** The load balancer tier: one HAProxy instance with an Elastic IP in front of the web tier. */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import { LoadBalancerSettings, renderLoadBalancerUserData, statsPort } from "../userdata/loadBalancer";
import { createTierInstance, ServerPlacement, TierArgs } from "./instance";
import { createInstanceProfile, createSecretParameter } from "./instanceRole";
import { anywhere, createTierSecurityGroup, tcpIngress } from "./securityGroup";
import { resourceTags } from "./tags";

export interface LoadBalancerArgs extends TierArgs {
    /** The HAProxy instance, named as the topology plan names it. */
    server: ServerPlacement;
    /** HAProxy settings: algorithm, the web servers, HTTPS (with a generated self-signed certificate). */
    settings: LoadBalancerSettings;
}

export class LoadBalancer extends pulumi.ComponentResource {
    public readonly instanceId: pulumi.Output<string>;
    public readonly publicIp: pulumi.Output<string>;
    public readonly securityGroupId: pulumi.Output<string>;
    public readonly url: pulumi.Output<string>;
    public readonly tlsParameterName?: pulumi.Output<string>;

    constructor(name: string, args: LoadBalancerArgs, opts?: pulumi.ComponentResourceOptions) {
        super("foobar:loadBalancer:LoadBalancer", name, {}, opts);
        const { https, siteName, tlsParameter: tlsParameterName } = args.settings;
        if (https !== (tlsParameterName !== undefined)) {
            throw new pulumi.InputPropertyError({
                propertyPath: "settings.tlsParameter",
                reason: "must name the certificate's SSM parameter when settings.https is on, and only then",
            });
        }
        const parent = { parent: this };
        const tags = resourceTags("lb", name, args.stack);

        const ingress = [
            tcpIngress(80, "HTTP from anywhere", anywhere),
            ...(https ? [tcpIngress(443, "HTTPS from anywhere", anywhere)] : []),
            tcpIngress(statsPort, "HAProxy stats and Prometheus metrics from the VPC", { cidrBlocks: [args.vpcCidr] }),
        ];
        const securityGroup = createTierSecurityGroup(`${name}-sg`, "lb", ingress, args, parent);

        let tlsParameter: aws.ssm.Parameter | undefined;
        if (tlsParameterName !== undefined) {
            const key = new tls.PrivateKey(`${name}-tls-key`, { algorithm: "ECDSA", ecdsaCurve: "P256" }, parent);
            const certificate = new tls.SelfSignedCert(
                `${name}-tls-cert`,
                {
                    privateKeyPem: key.privateKeyPem,
                    subject: { commonName: siteName, organization: "foobar" },
                    dnsNames: [siteName],
                    validityPeriodHours: 24 * 365,
                    earlyRenewalHours: 24 * 30,
                    allowedUses: ["digital_signature", "key_encipherment", "server_auth"],
                },
                parent,
            );
            tlsParameter = createSecretParameter(
                `${name}-tls-pem`,
                tlsParameterName,
                pulumi.interpolate`${certificate.certPem}${key.privateKeyPem}`,
                tags,
                parent,
            );
        }
        const profile = tlsParameter ? createInstanceProfile(name, [tlsParameter.arn], tags, parent) : undefined;

        const userData = renderLoadBalancerUserData({ ...args.settings, target: { kind: "aws", region: args.region } });
        const { instance } = createTierInstance(
            args.server.name,
            "lb",
            args,
            {
                subnetId: args.server.subnetId,
                privateIp: args.server.privateIp,
                securityGroupIds: [securityGroup.id],
                userData,
                instanceProfile: profile?.name,
                associatePublicIp: true,
                replaceOnUserDataChange: true,
            },
            { parent: this, dependsOn: tlsParameter ? [tlsParameter] : [] },
        );
        const eip = new aws.ec2.Eip(`${name}-eip`, { domain: "vpc", instance: instance.id, tags }, parent);

        this.instanceId = instance.id;
        this.publicIp = eip.publicIp;
        this.securityGroupId = securityGroup.id;
        this.url = pulumi.interpolate`${https ? "https" : "http"}://${eip.publicIp}/`;
        this.tlsParameterName = tlsParameter?.name;
        this.registerOutputs({
            instanceId: this.instanceId,
            publicIp: this.publicIp,
            securityGroupId: this.securityGroupId,
            url: this.url,
            tlsParameterName: this.tlsParameterName,
        });
    }
}
