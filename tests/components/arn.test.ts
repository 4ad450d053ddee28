/**
 * ARNs the components build are in the partition of the stack's region: run under the mocks in a China and a
 * GovCloud region, every ARN in the policies names that partition (the mocks' own ARNs do too, as AWS's would).
 */
import * as fs from "fs";
import * as path from "path";
import { LoadBalancer, LoadBalancerArgs } from "../../components/loadBalancer";
import { Monitoring } from "../../components/monitoring";
import { recordPlan } from "../../tools/preview/plan";
import { byName } from "../helpers";
import { tier } from "./helpers";

const vrrp = (self: string, peer: string, priority: number) => ({
    self,
    peer,
    priority,
    startupDelaySeconds: 0,
    passwordParameter: "/foobar/test/lb/vrrp-password",
});
const pair = (region: string): LoadBalancerArgs => ({
    ...tier,
    region,
    servers: {
        kind: "pair",
        servers: [
            { name: "lb-1", privateIp: "10.0.0.10", subnetId: "subnet-1", vrrp: vrrp("10.0.0.10", "10.0.64.9", 250) },
            { name: "lb-2", privateIp: "10.0.64.9", subnetId: "subnet-2", vrrp: vrrp("10.0.64.9", "10.0.0.10", 240) },
        ],
    },
    settings: {
        algorithm: "roundrobin",
        backends: [{ name: "web-1", address: "10.0.128.10" }],
        https: false,
        siteName: "www.foobar.com",
        configParameter: "/foobar/test/lb/haproxy-cfg",
        monitoring: false,
    },
});

test.each([
    ["cn-north-1", "aws-cn"],
    ["us-gov-west-1", "aws-us-gov"],
    ["eu-west-1", "aws"],
])("in %s every ARN of the roles' and the alarm key's policies is in partition %s", async (region, partition) => {
    const plan = await recordPlan({ project: "foobar", stack: "test", config: { "aws:region": region } }, async () => {
        new LoadBalancer("lb", pair(region)).publishConfiguration([]);
        new Monitoring("monitoring", { stack: "test" });
    });
    const policies = [byName(plan, "lb-read-parameters-and-move-address"), byName(plan, "monitoring-alarms-key")].map(
        (r) => r.inputs.policy as string,
    );
    const arns = policies.flatMap((p) => [...p.matchAll(/"(arn:[^"]*)"/g)].map((m) => m[1]));
    // The parameter, the address, the instances, the interfaces, the VPC, the instance profile, the account's root.
    expect(arns.length).toBeGreaterThanOrEqual(7);
    for (const arn of arns) expect(arn.split(":")[1]).toBe(partition);
    expect(arns).toContain(`arn:${partition}:ssm:${region}:123456789012:parameter/foobar/test/lb/haproxy-cfg`);
    expect(arns).toContain(`arn:${partition}:iam::123456789012:root`);
});

test("no component writes the commercial partition's ARN prefix: every ARN they build takes the region's partition", () => {
    const dir = path.join(__dirname, "../../components");
    const literal = "arn:" + "aws:";
    const found = fs
        .readdirSync(dir)
        .filter((f) => f.endsWith(".ts"))
        .filter((f) => fs.readFileSync(path.join(dir, f), "utf8").includes(literal));
    expect(found).toEqual([]);
});
