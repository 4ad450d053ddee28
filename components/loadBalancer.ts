/** The load balancer tier: one HAProxy instance with an Elastic IP in front of the web tier. */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import { LoadBalancerSettings, renderHaproxyConfig, renderLoadBalancerUserData, statsPort } from "../userdata/loadBalancer";
import { createTierInstance, ServerPlacement, TierArgs } from "./instance";
import { configDigest, consoleMarkerGate, markers } from "./readiness";
import { createInstanceProfile, createSecretParameter } from "./instanceRole";
import { anywhere, createTierSecurityGroup, tcpIngress } from "./securityGroup";
import { resourceTags } from "./tags";

export interface LoadBalancerArgs extends TierArgs {
    /** The HAProxy instance, named as the topology plan names it. */
    server: ServerPlacement;
    /** HAProxy settings: algorithm, the web servers, HTTPS (with a generated self-signed certificate). */
    settings: LoadBalancerSettings;
}

/** SSM's standard tier holds 4 KB per value (https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-advanced-parameters.html). */
export const standardParameterLimitBytes = 4096;

export class LoadBalancer extends pulumi.ComponentResource {
    public readonly instanceId: pulumi.Output<string>;
    public readonly publicIp: pulumi.Output<string>;
    public readonly securityGroupId: pulumi.Output<string>;
    public readonly url: pulumi.Output<string>;
    public readonly tlsParameterName?: pulumi.Output<string>;
    /** The HAProxy configuration this load balancer runs, as publishConfiguration publishes it. */
    public readonly haproxyConfig: string;
    private readonly settings: LoadBalancerSettings;
    private readonly region: string;
    private readonly stack: string;
    private readonly name: string;
    private readonly serverName: string;

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

        // The HAProxy configuration is published (publishConfiguration), not baked into the user-data: backends
        // (webCount), the algorithm and other settings reach the running instance by a checked, hitless reload.
        this.haproxyConfig = renderHaproxyConfig(args.settings);
        const size = Buffer.byteLength(this.haproxyConfig);
        if (size > standardParameterLimitBytes) {
            throw new pulumi.InputPropertyError({
                propertyPath: "settings",
                reason: `the HAProxy configuration is ${size} bytes, over the ${standardParameterLimitBytes}-byte limit of a standard SSM parameter`,
            });
        }
        // By name, since the parameter is published later; the role reads its own parameters only.
        const account = aws.getCallerIdentityOutput({}, parent).accountId;
        const configParameterArn = pulumi.interpolate`arn:aws:ssm:${args.region}:${account}:parameter${args.settings.configParameter}`;
        const readable = [configParameterArn, ...(tlsParameter ? [tlsParameter.arn] : [])];
        const profile = createInstanceProfile(name, readable, tags, parent);

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
                instanceProfile: profile.name,
                associatePublicIp: true,
                replaceOnUserDataChange: true,
            },
            { parent: this, dependsOn: tlsParameter ? [tlsParameter] : [] },
        );
        // Eip.instance is not ForceNew: on a replacement the provider moves the address to the new instance (rollout-eip-follows-replacement).
        const eip = new aws.ec2.Eip(`${name}-eip`, { domain: "vpc", instance: instance.id, tags }, parent);

        this.name = name;
        this.settings = args.settings;
        this.stack = args.stack;
        this.region = args.region;
        this.serverName = args.server.name;
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

    /**
     * Publishes the HAProxy configuration once `backendsReady` (the web
     * servers' readiness gates) have completed, so a new server enters the
     * backend serving; returns the gate that completes when the load balancer
     * runs it. A web server leaving the backend is deleted after that gate:
     * Pulumi deletes resources the program no longer declares only once
     * every step of the program has completed (pulumi/pulumi v3.248.0
     * deployment_executor.go, performPostSteps).
     */
    public publishConfiguration(backendsReady: pulumi.Resource[]): pulumi.Resource {
        const configParameter = new aws.ssm.Parameter(
            `${this.name}-haproxy-config`,
            {
                name: this.settings.configParameter,
                type: "String",
                value: this.haproxyConfig,
                tags: resourceTags("lb", `${this.name}-haproxy-config`, this.stack),
            },
            { parent: this, dependsOn: backendsReady },
        );
        const digest = configDigest(this.haproxyConfig);
        return consoleMarkerGate(
            `${this.serverName}-config-applied`,
            { instanceId: this.instanceId, region: this.region, marker: markers.lbConfig(digest), triggers: [digest] },
            { parent: this, dependsOn: [configParameter] },
        );
    }
}
