import * as pulumi from "@pulumi/pulumi";
import { TierMonitoring } from "../../components/instance";
import { waitForConsoleMarkerScript } from "../../components/readiness";
import { WebTier, WebTierArgs } from "../../components/webTier";
import { byName, childrenOf, ingress, ofType } from "../helpers";
import { monitored, planComponent, tier } from "./helpers";

const settings = {
    siteName: "www.foobar.com",
    dbWriterHost: "db-writer.foobar.internal",
    dbReaderHost: "db-reader.foobar.internal",
    dbName: "foobar",
    dbUser: "app",
    appPasswordParameter: "/foobar/test/db/app-password",
    monitoring: false,
};
const servers = (n: number) =>
    Array.from({ length: n }, (_, i) => ({ name: `web-${i + 1}`, privateIp: `10.0.128.${10 + i}`, subnetId: `subnet-${i % 2}` }));
const args = (overrides: Partial<WebTierArgs> = {}): WebTierArgs => ({
    ...tier,
    servers: servers(2),
    appIngress: { from: "securityGroup", securityGroupId: "sg-lb" },
    publicAddresses: false,
    settings,
    passwordParameterArn: "arn:aws:ssm:eu-west-1:1:parameter/foobar/test/db/app-password",
    ...overrides,
});

test.each([1, 3])("%i servers: that many instances behind one security group and one role", async (n) => {
    const plan = await planComponent(() => new WebTier("web", args({ servers: servers(n) })));
    const instances = ofType(plan, "aws:ec2/instance:Instance");
    expect(instances.map((i) => [i.name, i.inputs.privateIp, i.inputs.subnetId])).toEqual(
        servers(n).map((s) => [s.name, s.privateIp, s.subnetId]),
    );
    expect(ofType(plan, "aws:ec2/securityGroup:SecurityGroup")).toHaveLength(1);
    // Per server an instance and its readiness gate; one group, role, policy and profile.
    expect(childrenOf(plan, "web").length).toBe(2 * n + 4);
    expect(new Set(instances.map((i) => i.inputs.userData)).size).toBe(1);
    expect(ingress(plan, "web-sg")).toEqual([
        expect.objectContaining({ fromPort: 80, securityGroups: ["sg-lb"], description: "HTTP from the load balancer" }),
    ]);
    expect(instances.every((i) => i.inputs.associatePublicIpAddress === false && i.inputs.userDataReplaceOnChange === true)).toBe(true);
});

test("servers roll one at a time: each is replaced delete-first, and waits for the previous one's readiness gate", async () => {
    const plan = await planComponent(() => new WebTier("web", args({ servers: servers(3) })));
    const urn = (name: string) => byName(plan, name).urn;
    for (const [i, server] of servers(3).entries()) {
        const instance = byName(plan, server.name);
        expect(instance.options).toMatchObject({ deleteBeforeReplace: true, replaceOnChanges: ["instanceType"] });
        expect(instance.options.dependsOn).toEqual(i === 0 ? [] : [urn(`web-${i}-ready`)]);
        const gate = byName(plan, `${server.name}-ready`);
        expect(gate.type).toBe("command:local:Command");
        // A replaced instance (a new id) replaces the gate, which then waits for the new instance.
        expect(gate.inputs.triggers).toEqual([instance.outputs.id]);
        expect(gate.inputs.environment).toMatchObject({
            INSTANCE_ID: instance.outputs.id,
            AWS_REGION: "eu-west-1",
            MARKER: "foobar-ready",
            FAILURE_MARKER: "foobar-not-ready",
        });
        expect(gate.inputs.create).toBe(waitForConsoleMarkerScript);
    }
});

test("app ingress from anywhere (whiteboard mode) opens the app port to the world, and only when asked", async () => {
    const plan = await planComponent(() => new WebTier("web", args({ appIngress: { from: "anywhere" }, publicAddresses: true })));
    expect(ingress(plan, "web-sg")).toEqual([
        expect.objectContaining({ fromPort: 80, cidrBlocks: ["0.0.0.0/0"], ipv6CidrBlocks: ["::/0"], description: "HTTP from anywhere" }),
    ]);
    expect(ofType(plan, "aws:ec2/instance:Instance").every((i) => i.inputs.associatePublicIpAddress === true)).toBe(true);
});

test("leaving out who may reach the app port is a type error, not an open port", () => {
    const { appIngress, ...withoutIngress } = args();
    expect(appIngress.from).toBe("securityGroup");
    // @ts-expect-error -- appIngress is required; `tsc` (npm run build) fails here if it ever becomes optional.
    const unchecked: WebTierArgs = withoutIngress;
    // @ts-expect-error -- a security group source must name the group.
    const noGroup: WebTierArgs["appIngress"] = { from: "securityGroup" };
    // @ts-expect-error -- enabled monitoring must name the topic it notifies.
    const noTopic: TierMonitoring = { enabled: true };
    expect([unchecked, noGroup, noTopic]).toHaveLength(3);
});

test("monitoring enabled: every server is watched", async () => {
    const plan = await planComponent(() => new WebTier("web", { ...args(), ...monitored }));
    expect(ofType(plan, "aws:cloudwatch/metricAlarm:MetricAlarm").map((a) => a.name)).toEqual(["web-1-status-check", "web-2-status-check"]);
});

test("no servers is an input property error", async () => {
    const error = await planComponent(() => new WebTier("web", args({ servers: [] }))).catch((e: unknown) => e);
    expect(pulumi.InputPropertyError.isInstance(error)).toBe(true);
    expect(error).toMatchObject({ propertyPath: "servers" });
});
