import * as pulumi from "@pulumi/pulumi";
import { LoadBalancer, LoadBalancerArgs } from "../../components/loadBalancer";
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
    monitoring: false,
});
const server = { name: "lb-1", privateIp: "10.0.0.10", subnetId: "subnet-1" };
const args = (overrides: Partial<LoadBalancerArgs> = {}): LoadBalancerArgs => ({
    ...tier,
    server,
    settings: settings(false),
    ...overrides,
});

test("plain HTTP: an instance with an Elastic IP, no certificate, no role", async () => {
    const plan = await planComponent(() => new LoadBalancer("lb", args()));
    expect(
        childrenOf(plan, "lb")
            .map((r) => r.type)
            .sort(),
    ).toEqual(["aws:ec2/eip:Eip", "aws:ec2/instance:Instance", "aws:ec2/securityGroup:SecurityGroup"]);
    const ports = (byName(plan, "lb-sg").inputs.ingress as Rule[]).map((r) => r.fromPort);
    expect(ports).toEqual([80, 8404]);
    expect(byName(plan, "lb-1").inputs).toMatchObject({ privateIp: "10.0.0.10", subnetId: "subnet-1" });
    expect(byName(plan, "lb-1").inputs.userData).toMatch(/balance leastconn/);
    expect(byName(plan, "lb-eip").inputs.instance).toBe(byName(plan, "lb-1").outputs.id);
});

test("the instance is named as the plan names it, not after the component", async () => {
    const plan = await planComponent(() => new LoadBalancer("lb", args({ server: { ...server, name: "edge-a" } })));
    expect(ofType(plan, "aws:ec2/instance:Instance").map((i) => [i.name, (i.inputs.tags as Record<string, string>).Name])).toEqual([
        ["edge-a", "edge-a"],
    ]);
});

test("HTTPS: a generated certificate in SSM that only this tier's role may read, and 443 open", async () => {
    const plan = await planComponent(() => new LoadBalancer("lb", args({ settings: settings(true), adminCidr: "198.51.100.0/24" })));
    expect(ofType(plan, "tls:index/selfSignedCert:SelfSignedCert")[0].inputs).toMatchObject({ dnsNames: ["www.foobar.com"] });
    expect(byName(plan, "lb-tls-pem").inputs).toMatchObject({ name: "/foobar/test/lb/tls-pem", type: "SecureString" });
    const policy = JSON.parse(byName(plan, "lb-read-parameters").inputs.policy as string);
    expect(policy.Statement).toEqual([
        { Effect: "Allow", Action: ["ssm:GetParameter"], Resource: [byName(plan, "lb-tls-pem").outputs.arn] },
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
