import * as pulumi from "@pulumi/pulumi";
import { LoadBalancer, LoadBalancerArgs } from "../../components/loadBalancer";
import { configDigest } from "../../components/readiness";
import { byName, childrenOf, ofType, Rule } from "../helpers";
import { alarmTopicArn, monitored, planComponent, tier } from "./helpers";

const settings = (https: boolean) => ({
    algorithm: "leastconn" as const,
    backends: [
        { name: "web-1", address: "10.0.128.10" },
        { name: "web-2", address: "10.0.192.10" },
    ],
    https,
    siteName: "www.foobar.com",
    tlsParameter: https ? "/foobar/test/lb/tls-pem" : undefined,
    configParameter: "/foobar/test/lb/haproxy-cfg",
    monitoring: false,
});
const server = { name: "lb-1", privateIp: "10.0.0.10", subnetId: "subnet-1" };
const args = (overrides: Partial<LoadBalancerArgs> = {}): LoadBalancerArgs => ({
    ...tier,
    servers: { kind: "single", server },
    settings: settings(false),
    ...overrides,
});

/** The component with its configuration published after `ready` (what index.ts does with the web tier's gates). */
const withConfig = (a: LoadBalancerArgs, ready: () => pulumi.Resource[] = () => []) => {
    const lb = new LoadBalancer("lb", a);
    lb.publishConfiguration(ready());
    return lb;
};

test("plain HTTP: an instance with an Elastic IP and a role that reads its configuration, no certificate", async () => {
    const plan = await planComponent(() => withConfig(args()));
    expect(
        childrenOf(plan, "lb")
            .map((r) => r.type)
            .sort(),
    ).toEqual([
        "aws:ec2/eip:Eip",
        "aws:ec2/instance:Instance",
        "aws:ec2/securityGroup:SecurityGroup",
        "aws:iam/instanceProfile:InstanceProfile",
        "aws:iam/role:Role",
        "aws:iam/rolePolicy:RolePolicy",
        "aws:ssm/parameter:Parameter",
        "command:local:Command",
    ]);
    const ports = (byName(plan, "lb-sg").inputs.ingress as Rule[]).map((r) => r.fromPort);
    expect(ports).toEqual([80, 8404]);
    expect(byName(plan, "lb-1").inputs).toMatchObject({ privateIp: "10.0.0.10", subnetId: "subnet-1" });
    expect(byName(plan, "lb-eip").inputs.instance).toBe(byName(plan, "lb-1").outputs.id);
    const policy = JSON.parse(byName(plan, "lb-read-parameters").inputs.policy as string);
    expect(policy.Statement).toEqual([
        { Effect: "Allow", Action: ["ssm:GetParameter"], Resource: [byName(plan, "lb-haproxy-config").outputs.arn] },
    ]);
});

test("the HAProxy configuration is published in a parameter, not in the user-data, so settings and backends never replace the instance", async () => {
    const plan = await planComponent(() => withConfig(args()));
    const parameter = byName(plan, "lb-haproxy-config");
    expect(parameter.inputs).toMatchObject({ name: "/foobar/test/lb/haproxy-cfg", type: "String" });
    expect(parameter.inputs.value).toMatch(/balance leastconn/);
    expect(parameter.inputs.value).toMatch(/server web-2 10\.0\.192\.10:80 check/);
    const userData = byName(plan, "lb-1").inputs.userData as string;
    expect(userData).not.toMatch(/balance (roundrobin|leastconn)|server web-|10\.0\.128\.10/);
    expect(userData).toMatch(/LB_CONFIG_PARAMETER="\/foobar\/test\/lb\/haproxy-cfg"/);
    const other = await planComponent(() =>
        withConfig(
            args({ settings: { ...settings(false), algorithm: "roundrobin", backends: [{ name: "web-1", address: "10.0.128.10" }] } }),
        ),
    );
    expect(byName(other, "lb-1").inputs.userData).toBe(userData);
    expect(byName(other, "lb-haproxy-config").inputs.value).not.toBe(parameter.inputs.value);
});

test("the configuration is published after the backends are ready, and a gate waits until the load balancer runs it", async () => {
    const plan = await planComponent(() =>
        withConfig(args(), () => [
            new pulumi.ComponentResource("test:index:Gate", "web-1-ready"),
            new pulumi.ComponentResource("test:index:Gate", "web-2-ready"),
        ]),
    );
    const parameter = byName(plan, "lb-haproxy-config");
    expect(parameter.options.dependsOn).toEqual([byName(plan, "web-1-ready").urn, byName(plan, "web-2-ready").urn]);
    const gate = byName(plan, "lb-1-config-applied");
    expect(gate.options.dependsOn).toEqual([parameter.urn]);
    const digest = configDigest(parameter.inputs.value as string);
    expect(gate.inputs.triggers).toEqual([byName(plan, "lb-1").outputs.id, digest]);
    expect(gate.inputs.environment).toMatchObject({
        INSTANCE_ID: byName(plan, "lb-1").outputs.id,
        MARKER: `foobar-lb-config ${digest}`,
        FAILURE_MARKER: `foobar-lb-config-rejected ${digest}`,
    });
    expect(byName(plan, "lb-1").options).toMatchObject({ deleteBeforeReplace: true, replaceOnChanges: ["instanceType"] });
});

test("a configuration over the standard parameter's 4 KB is an input property error", async () => {
    const backends = Array.from({ length: 80 }, (_, i) => ({ name: `web-${i + 1}`, address: `10.0.128.${i + 10}` }));
    const error = await planComponent(() => withConfig(args({ settings: { ...settings(false), backends } }))).catch((e: unknown) => e);
    expect(pulumi.InputPropertyError.isInstance(error)).toBe(true);
    expect(error).toMatchObject({ propertyPath: "settings" });
});

test("the instance is named as the plan names it, not after the component", async () => {
    const plan = await planComponent(
        () => new LoadBalancer("lb", args({ servers: { kind: "single", server: { ...server, name: "edge-a" } } })),
    );
    expect(ofType(plan, "aws:ec2/instance:Instance").map((i) => [i.name, (i.inputs.tags as Record<string, string>).Name])).toEqual([
        ["edge-a", "edge-a"],
    ]);
});

test("HTTPS: a generated certificate in SSM that only this tier's role may read, and 443 open", async () => {
    const plan = await planComponent(() => withConfig(args({ settings: settings(true), adminCidr: "198.51.100.0/24" })));
    expect(ofType(plan, "tls:index/selfSignedCert:SelfSignedCert")[0].inputs).toMatchObject({ dnsNames: ["www.foobar.com"] });
    expect(byName(plan, "lb-tls-pem").inputs).toMatchObject({ name: "/foobar/test/lb/tls-pem", type: "SecureString" });
    const policy = JSON.parse(byName(plan, "lb-read-parameters").inputs.policy as string);
    expect(policy.Statement).toEqual([
        {
            Effect: "Allow",
            Action: ["ssm:GetParameter"],
            Resource: [byName(plan, "lb-haproxy-config").outputs.arn, byName(plan, "lb-tls-pem").outputs.arn],
        },
    ]);
    expect(byName(plan, "lb-1").inputs.iamInstanceProfile).toBe("lb-profile");
    const rules = byName(plan, "lb-sg").inputs.ingress as Rule[];
    expect(rules.map((r) => r.fromPort)).toEqual([80, 443, 8404, 22]);
    expect(rules.find((r) => r.fromPort === 8404)!.cidrBlocks).toEqual(["10.0.0.0/16"]);
    expect(rules.find((r) => r.fromPort === 22)!.cidrBlocks).toEqual(["198.51.100.0/24"]);
});

test.each([
    ["HTTPS without a certificate parameter", { ...settings(true), tlsParameter: undefined }],
    ["a certificate parameter without HTTPS", { ...settings(false), tlsParameter: "/foobar/test/lb/tls-pem" }],
])("%s is an input property error", async (_, bad) => {
    const error = await planComponent(() => new LoadBalancer("lb", args({ settings: bad }))).catch((e: unknown) => e);
    expect(pulumi.InputPropertyError.isInstance(error)).toBe(true);
    expect(error).toMatchObject({ propertyPath: "settings.tlsParameter" });
});

test("monitoring enabled: detailed monitoring and a status-check alarm notifying the topic", async () => {
    const plan = await planComponent(() => new LoadBalancer("lb", { ...args(), ...monitored }));
    expect(byName(plan, "lb-1").inputs.monitoring).toBe(true);
    expect(byName(plan, "lb-1-status-check").inputs).toMatchObject({
        alarmActions: [alarmTopicArn],
        okActions: [alarmTopicArn],
        dimensions: { InstanceId: byName(plan, "lb-1").outputs.id },
    });
});

test("monitoring disabled: basic monitoring, no alarm", async () => {
    const plan = await planComponent(() => new LoadBalancer("lb", args()));
    expect(byName(plan, "lb-1").inputs.monitoring).toBe(false);
    expect(ofType(plan, "aws:cloudwatch/metricAlarm:MetricAlarm")).toEqual([]);
});

test("monitoring must be stated: leaving it out is a type error", () => {
    const { monitoring, ...withoutMonitoring } = args();
    expect(monitoring).toEqual({ enabled: false });
    // @ts-expect-error -- monitoring is required; `tsc` (npm run build) fails here if it ever becomes optional.
    const unchecked: LoadBalancerArgs = withoutMonitoring;
    expect(unchecked).not.toHaveProperty("monitoring");
});

describe("a load-balancer pair", () => {
    const vrrp = (self: string, peer: string, priority: number, startupDelaySeconds: number) => ({
        self,
        peer,
        priority,
        startupDelaySeconds,
        passwordParameter: "/foobar/test/lb/vrrp-password",
    });
    const pair = (): LoadBalancerArgs =>
        args({
            servers: {
                kind: "pair",
                servers: [
                    { ...server, vrrp: vrrp("10.0.0.10", "10.0.64.9", 250, 0) },
                    { name: "lb-2", privateIp: "10.0.64.9", subnetId: "subnet-2", vrrp: vrrp("10.0.64.9", "10.0.0.10", 240, 5) },
                ],
            },
        });

    test("VRRP between the two only; the Elastic IP is keepalived's to move, never associated by Pulumi", async () => {
        const plan = await planComponent(() => withConfig(pair()));
        const vrrpRules = (byName(plan, "lb-sg").inputs.ingress as Rule[]).filter((r) => r.protocol === "112");
        expect(vrrpRules).toEqual([expect.objectContaining({ self: true, fromPort: 0, toPort: 0 })]);
        expect(vrrpRules[0]).not.toHaveProperty("cidrBlocks");
        const eip = byName(plan, "lb-eip");
        expect(eip.inputs.instance).toBeUndefined();
        expect(eip.options.ignoreChanges).toEqual(["instance"]);
        for (const name of ["lb-1", "lb-2"]) {
            expect(byName(plan, name).inputs.userData).toContain(`PUBLIC_ADDRESS_ALLOCATION_ID="${eip.outputs.id}"`);
        }
        // A single load balancer has no VRRP rule.
        const single = await planComponent(() => withConfig(args()));
        expect((byName(single, "lb-sg").inputs.ingress as Rule[]).filter((r) => r.protocol === "112")).toEqual([]);
    });

    test("the role may associate this one allocation with instances of the stack's VPC, describe addresses, and read its parameters", async () => {
        const plan = await planComponent(() => withConfig(pair()));
        const policy = JSON.parse(byName(plan, "lb-read-parameters-and-move-address").inputs.policy as string);
        expect(policy.Statement).toEqual([
            {
                Effect: "Allow",
                Action: ["ssm:GetParameter"],
                Resource: [byName(plan, "lb-haproxy-config").outputs.arn, byName(plan, "lb-vrrp-password").outputs.arn],
            },
            {
                Effect: "Allow",
                Action: ["ec2:AssociateAddress"],
                Resource: [`arn:aws:ec2:eu-west-1:123456789012:elastic-ip/${byName(plan, "lb-eip").outputs.id}`],
            },
            {
                // The instance resource has no ec2:Vpc key: its instances are those that run with the pair's profile.
                Effect: "Allow",
                Action: ["ec2:AssociateAddress"],
                Resource: ["arn:aws:ec2:eu-west-1:123456789012:instance/*"],
                Condition: { StringEquals: { "ec2:InstanceProfile": byName(plan, "lb-profile").outputs.arn } },
            },
            {
                Effect: "Allow",
                Action: ["ec2:AssociateAddress"],
                Resource: ["arn:aws:ec2:eu-west-1:123456789012:network-interface/*"],
                Condition: { StringEquals: { "ec2:Vpc": `arn:aws:ec2:eu-west-1:123456789012:vpc/${tier.vpcId}` } },
            },
            { Effect: "Allow", Action: ["ec2:DescribeAddresses"], Resource: ["*"] },
        ]);
        expect(byName(plan, "lb-vrrp-password").inputs).toMatchObject({ name: "/foobar/test/lb/vrrp-password", type: "SecureString" });
    });

    test("one at a time, lb-2 first: lb-1 waits for lb-2 to run the site's configuration; both are gated on a new one", async () => {
        const plan = await planComponent(() => withConfig(pair(), () => [new pulumi.ComponentResource("test:index:Gate", "web-1-ready")]));
        const parameter = byName(plan, "lb-haproxy-config");
        const digest = configDigest(parameter.inputs.value as string);
        const serving = byName(plan, "lb-2-config-applied");
        // Its clock starts once lb-2 can print the marker: after the configuration is published, after the web servers' gates.
        expect(serving.options.dependsOn).toEqual([parameter.urn]);
        expect(parameter.options.dependsOn).toEqual([byName(plan, "web-1-ready").urn]);
        expect(serving.inputs.environment).toMatchObject({
            INSTANCE_ID: byName(plan, "lb-2").outputs.id,
            MARKER: `foobar-lb-config ${digest}`,
        });
        expect(byName(plan, "lb-1").options.dependsOn).toContain(serving.urn);
        expect(byName(plan, "lb-2").options.dependsOn).not.toContain(byName(plan, "lb-1").urn);
        for (const name of ["lb-1", "lb-2"]) {
            expect(byName(plan, `${name}-config-applied`).inputs.environment).toMatchObject({ INSTANCE_ID: byName(plan, name).outputs.id });
        }
    });

    test("before lb-1 is touched, a gate checks the Elastic IP stays with the pair: on lb-2, or on a tagged member lb-2 backs up", async () => {
        const plan = await planComponent(() => withConfig(pair()));
        const holds = byName(plan, "lb-2-holds-address");
        expect(holds.inputs.environment).toMatchObject({
            ALLOCATION_ID: byName(plan, "lb-eip").outputs.id,
            INSTANCE_ID: byName(plan, "lb-2").outputs.id,
            MEMBER_TAG_KEY: "PublicAddress",
            MEMBER_TAG_VALUE: "keepalived",
        });
        expect(holds.inputs.triggers).toEqual([byName(plan, "lb-2").outputs.id, byName(plan, "lb-eip").outputs.id]);
        // Its clock starts once lb-2 serves (keepalived's track script keeps lb-2 away from the address before).
        expect(holds.options.dependsOn).toEqual([byName(plan, "lb-2-config-applied").urn]);
        expect(byName(plan, "lb-1").options.dependsOn).toContain(holds.urn);
        for (const name of ["lb-1", "lb-2"]) expect(byName(plan, name).inputs.tags).toMatchObject({ PublicAddress: "keepalived" });
        // A lone load balancer is no member of a pair: the gate waits for lb-2 to take the address from it.
        const single = await planComponent(() => withConfig(args()));
        expect(byName(single, "lb-1").inputs.tags).not.toHaveProperty("PublicAddress");
        expect(single.resources.filter((r) => r.name.endsWith("-holds-address"))).toEqual([]);
    });

    test("two password parameters for one pair is an input property error", async () => {
        const two = pair();
        if (two.servers.kind !== "pair") throw new Error("a pair");
        two.servers.servers[1].vrrp.passwordParameter = "/foobar/test/lb/other";
        const error = await planComponent(() => withConfig(two)).catch((e: unknown) => e);
        expect(pulumi.InputPropertyError.isInstance(error)).toBe(true);
    });
});
