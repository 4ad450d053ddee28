/**
 * The load balancer tier: HAProxy in front of the web tier behind an Elastic IP. One instance (the whiteboard's),
 * or a pair in two AZs whose keepalived gives the Elastic IP to the one that is VRRP master (userdata/keepalived.ts).
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import * as tls from "@pulumi/tls";
import { VrrpSettings, vrrpPasswordLength } from "../userdata/keepalived";
import { LoadBalancerSettings, renderHaproxyConfig, renderLoadBalancerUserData, statsPort } from "../userdata/loadBalancer";
import { stackArns } from "./arn";
import { createTierInstance, ServerPlacement, TierArgs } from "./instance";
import { addressHolderGate, configDigest, consoleMarkerGate, markers, pairMemberTag } from "./readiness";
import { createScopedInstanceProfile, createSecretParameter, Grant } from "./instanceRole";
import { anywhere, createTierSecurityGroup, IngressRule, tcpIngress } from "./securityGroup";
import { resourceTags } from "./tags";

/** A load balancer of the pair: where it goes, and what its keepalived is told. */
export interface PairedServer extends ServerPlacement {
    vrrp: VrrpSettings;
}

/** One load balancer, or a pair (the first in the first AZ, the second in the other) that moves the address between them. */
export type LoadBalancerServers = { kind: "single"; server: ServerPlacement } | { kind: "pair"; servers: [PairedServer, PairedServer] };

export interface LoadBalancerArgs extends TierArgs {
    /** The HAProxy instances, named as the topology plan names them. */
    servers: LoadBalancerServers;
    /** HAProxy settings: algorithm, the web servers, HTTPS (with a generated self-signed certificate). */
    settings: LoadBalancerSettings;
}

/** VRRP (IP protocol 112) between the members of the load balancers' group, and from nobody else. */
export const vrrpIngress: IngressRule = {
    protocol: "112",
    fromPort: 0,
    toPort: 0,
    self: true,
    description: "VRRP between the load balancers",
};

/** SSM's standard tier holds 4 KB per value (https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-advanced-parameters.html). */
export const standardParameterLimitBytes = 4096;

export class LoadBalancer extends pulumi.ComponentResource {
    /** Every load balancer's instance id, lb-1 first. */
    public readonly instanceIds: pulumi.Output<string>[];
    /** The Elastic IP: lb-1's, or the pair's, held by the VRRP master. */
    public readonly publicIp: pulumi.Output<string>;
    public readonly securityGroupId: pulumi.Output<string>;
    public readonly url: pulumi.Output<string>;
    public readonly tlsParameterName?: pulumi.Output<string>;
    /** A pair's VRRP password parameter. */
    public readonly vrrpPasswordParameterName?: pulumi.Output<string>;
    /** The HAProxy configuration this load balancer runs, as publishConfiguration publishes it. */
    public readonly haproxyConfig: string;
    private readonly settings: LoadBalancerSettings;
    private readonly region: string;
    private readonly stack: string;
    private readonly name: string;
    private readonly instances: { name: string; id: pulumi.Output<string> }[];
    /** A pair's lb-1 waits for what this is given: the gates on lb-2 that publishConfiguration makes. */
    private releaseFirst?: (gates: pulumi.Resource[]) => void;
    /** A pair's Elastic IP, which lb-2 must hold (or be ready to take) before lb-1 goes. */
    private pairAllocationId?: pulumi.Output<string>;
    private published = false;

    constructor(name: string, args: LoadBalancerArgs, opts?: pulumi.ComponentResourceOptions) {
        super("foobar:loadBalancer:LoadBalancer", name, {}, opts);
        const { https, siteName, tlsParameter: tlsParameterName } = args.settings;
        if (https !== (tlsParameterName !== undefined)) {
            throw new pulumi.InputPropertyError({
                propertyPath: "settings.tlsParameter",
                reason: "must name the certificate's SSM parameter when settings.https is on, and only then",
            });
        }
        const pair = args.servers.kind === "pair" ? args.servers.servers : undefined;
        const passwordParameters = new Set(pair?.map((s) => s.vrrp.passwordParameter));
        if (passwordParameters.size > 1) {
            throw new pulumi.InputPropertyError({
                propertyPath: "servers",
                reason: "both load balancers of a pair must share one VRRP password",
            });
        }
        const parent = { parent: this };
        const tags = resourceTags("lb", name, args.stack);

        const ingress = [
            tcpIngress(80, "HTTP from anywhere", anywhere),
            ...(https ? [tcpIngress(443, "HTTPS from anywhere", anywhere)] : []),
            tcpIngress(statsPort, "HAProxy stats and Prometheus metrics from the VPC", { cidrBlocks: args.vpcCidrBlocks }),
            ...(pair ? [vrrpIngress] : []),
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
        let vrrpParameter: aws.ssm.Parameter | undefined;
        if (pair) {
            const password = new random.RandomPassword(
                `${name}-vrrp-password-value`,
                { length: vrrpPasswordLength, special: false },
                parent,
            );
            vrrpParameter = createSecretParameter(`${name}-vrrp-password`, pair[0].vrrp.passwordParameter, password.result, tags, parent);
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
        const arns = stackArns(parent);
        const configParameterArn = arns.regional("ssm", args.region, `parameter${args.settings.configParameter}`);
        const readable = [configParameterArn, ...[tlsParameter, vrrpParameter].filter((p) => p !== undefined).map((p) => p.arn)];

        // A pair's Elastic IP is keepalived's to move (the master associates it), so Pulumi never associates it: it would
        // take the address from the master. A stack that had one load balancer keeps that association (ignoreChanges)
        // until the pair's first master takes the address.
        const servers =
            args.servers.kind === "pair"
                ? {
                      ...args.servers,
                      eip: new aws.ec2.Eip(`${name}-eip`, { domain: "vpc", tags }, { ...parent, ignoreChanges: ["instance"] }),
                  }
                : args.servers;
        const moveAddress = (profileArn: pulumi.Output<string>): Grant[] =>
            servers.kind === "pair"
                ? [
                      // AssociateAddress authorizes the address and what it is associated with (the instance, its network
                      // interface), each with its own condition keys (Service Authorization Reference, Amazon EC2:
                      // https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonec2.html): this one
                      // allocation; the instances that run with this profile (ec2:InstanceProfile; the instance resource
                      // has no ec2:Vpc key, so a condition on it never matches); interfaces of this stack's VPC (the
                      // pair's are not known before their role exists, and carry no tags of ours). Describe calls take no
                      // resource-level permission. tests/iam/simulate.test.ts simulates each call.
                      {
                          actions: ["ec2:AssociateAddress"],
                          resources: [arns.regional("ec2", args.region, pulumi.interpolate`elastic-ip/${servers.eip.id}`)],
                      },
                      {
                          actions: ["ec2:AssociateAddress"],
                          resources: [arns.regional("ec2", args.region, "instance/*")],
                          condition: { StringEquals: { "ec2:InstanceProfile": profileArn } },
                      },
                      {
                          actions: ["ec2:AssociateAddress"],
                          resources: [arns.regional("ec2", args.region, "network-interface/*")],
                          condition: {
                              StringEquals: { "ec2:Vpc": arns.regional("ec2", args.region, pulumi.interpolate`vpc/${args.vpcId}`) },
                          },
                      },
                      { actions: ["ec2:DescribeAddresses"], resources: ["*"] },
                  ]
                : [];
        const profile = createScopedInstanceProfile(
            name,
            pair ? "read-parameters-and-move-address" : "read-parameters",
            (profileArn) => [{ actions: ["ssm:GetParameter"], resources: readable }, ...moveAddress(profileArn)],
            tags,
            parent,
        );
        const secrets = [tlsParameter, vrrpParameter].filter((p) => p !== undefined);
        const target = { kind: "aws" as const, region: args.region };
        const create = (server: ServerPlacement, userData: pulumi.Input<string>, waitFor: Promise<pulumi.Resource[]>) => {
            const dependsOn: Promise<pulumi.Resource[]> = waitFor.then((d) => [...secrets, ...d]);
            return createTierInstance(
                server.name,
                "lb",
                args,
                {
                    subnetId: server.subnetId,
                    privateIp: server.privateIp,
                    securityGroupIds: [securityGroup.id],
                    userData,
                    instanceProfile: profile.name,
                    associatePublicIp: true,
                    replaceOnUserDataChange: true,
                    ...(pair ? { tags: { [pairMemberTag.key]: pairMemberTag.value } } : {}),
                },
                { parent: this, dependsOn },
            ).instance;
        };

        let eip: aws.ec2.Eip;
        if (servers.kind === "pair") {
            // One at a time, lb-2 first: lb-1 is touched only once lb-2 runs the site's configuration, so one of them always
            // serves (and on the way from one load balancer to two, lb-2 takes the address before lb-1 is replaced).
            const [first, second] = servers.servers;
            const userData = (server: PairedServer) =>
                servers.eip.id.apply((allocation) =>
                    renderLoadBalancerUserData({
                        ...args.settings,
                        vrrp: server.vrrp,
                        target: { ...target, elasticIpAllocationId: allocation },
                    }),
                );
            const secondInstance = create(second, userData(second), Promise.resolve([]));
            // lb-1 waits for lb-2's gate on the published configuration. That gate is made by publishConfiguration, once the
            // parameter exists: lb-2 can print the configuration's marker only after the parameter is published, which waits
            // for every web server's gate, so a gate made here would spend its clock on the web servers' rollout.
            const secondServes = new Promise<pulumi.Resource[]>((resolve) => (this.releaseFirst = resolve));
            const firstInstance = create(first, userData(first), secondServes);
            this.instances = [
                { name: first.name, id: firstInstance.id },
                { name: second.name, id: secondInstance.id },
            ];
            eip = servers.eip;
            this.pairAllocationId = eip.id;
        } else {
            const server = servers.server;
            const instance = create(server, renderLoadBalancerUserData({ ...args.settings, target }), Promise.resolve([]));
            // Eip.instance is not ForceNew: on a replacement the provider moves the address to the new instance (rollout-eip-follows-replacement).
            eip = new aws.ec2.Eip(`${name}-eip`, { domain: "vpc", instance: instance.id, tags }, parent);
            this.instances = [{ name: server.name, id: instance.id }];
        }

        this.name = name;
        this.settings = args.settings;
        this.stack = args.stack;
        this.region = args.region;
        this.instanceIds = this.instances.map((i) => i.id);
        this.publicIp = eip.publicIp;
        this.securityGroupId = securityGroup.id;
        this.url = pulumi.interpolate`${https ? "https" : "http"}://${eip.publicIp}/`;
        this.tlsParameterName = tlsParameter?.name;
        this.vrrpPasswordParameterName = vrrpParameter?.name;
        this.registerOutputs({
            instanceIds: this.instanceIds,
            publicIp: this.publicIp,
            securityGroupId: this.securityGroupId,
            url: this.url,
            tlsParameterName: this.tlsParameterName,
            vrrpPasswordParameterName: this.vrrpPasswordParameterName,
        });
    }

    /**
     * Publishes the HAProxy configuration once `backendsReady` (the web
     * servers' readiness gates) have completed, so a new server enters the
     * backend serving; returns the gates that complete when each load balancer
     * runs it. A web server leaving the backend is deleted after that gate:
     * Pulumi deletes resources the program no longer declares only once
     * every step of the program has completed (pulumi/pulumi v3.248.0
     * deployment_executor.go, performPostSteps). A pair's lb-1 is created
     * only once lb-2's gate has passed, so this must be called once.
     */
    public publishConfiguration(backendsReady: pulumi.Resource[]): pulumi.Resource[] {
        if (this.published) throw new Error(`${this.name}: publishConfiguration is called once`);
        this.published = true;
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
        const gates = this.instances.map((instance) =>
            consoleMarkerGate(
                `${instance.name}-config-applied`,
                { instanceId: instance.id, region: this.region, marker: markers.lbConfig(digest), triggers: [digest] },
                { parent: this, dependsOn: [configParameter] },
            ),
        );
        if (this.releaseFirst && this.pairAllocationId) {
            // A pair: lb-1 is created (or replaced) once lb-2 runs this configuration and the address stays with the pair
            // when lb-1 goes: on lb-2, or on lb-1 with lb-2 as its backup (wait-for-address-holder.sh). Its clock starts
            // when lb-2 serves: keepalived's track script keeps lb-2 from taking the address before.
            const [second, secondServes] = [this.instances[1], gates[1]];
            const holds = addressHolderGate(
                `${second.name}-holds-address`,
                { allocationId: this.pairAllocationId, instanceId: second.id, region: this.region },
                { parent: this, dependsOn: [secondServes] },
            );
            this.releaseFirst([secondServes, holds]);
        }
        return gates;
    }
}
