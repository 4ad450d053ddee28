import { WebTier } from "../../components/webTier";
import { childrenOf, named, ofType, planComponent, Rule, tier } from "./helpers";

const settings = {
    siteName: "www.foobar.com",
    dbWriterHost: "db-writer.foobar.internal",
    dbReaderHost: "db-reader.foobar.internal",
    dbName: "foobar",
    dbUser: "app",
    appPasswordParameter: "/foobar/test/db/app-password",
};
const servers = (n: number) =>
    Array.from({ length: n }, (_, i) => ({ name: `web-${i + 1}`, privateIp: `10.0.128.${10 + i}`, subnetId: `subnet-${i % 2}` }));

test.each([1, 3])("%i servers: that many instances behind one security group and one role", async (n) => {
    const plan = await planComponent(
        () =>
            new WebTier("web", {
                ...tier,
                servers: servers(n),
                loadBalancerSecurityGroupId: "sg-lb",
                publicAddresses: false,
                settings,
                passwordParameterArn: "arn:aws:ssm:eu-west-1:1:parameter/foobar/test/db/app-password",
            }),
    );
    const instances = ofType(plan, "aws:ec2/instance:Instance");
    expect(instances.map((i) => [i.name, i.inputs.privateIp, i.inputs.subnetId])).toEqual(
        servers(n).map((s) => [s.name, s.privateIp, s.subnetId]),
    );
    expect(ofType(plan, "aws:ec2/securityGroup:SecurityGroup")).toHaveLength(1);
    expect(childrenOf(plan, "web").length).toBe(n + 4);
    expect(new Set(instances.map((i) => i.inputs.userData)).size).toBe(1);
    expect(named(plan, "web-sg").inputs.ingress as Rule[]).toEqual([expect.objectContaining({ fromPort: 80, securityGroups: ["sg-lb"] })]);
    expect(instances.every((i) => i.inputs.associatePublicIpAddress === false && i.inputs.userDataReplaceOnChange === true)).toBe(true);
});

test("without the load balancer's group (whiteboard mode) the app port is open to the world", async () => {
    const plan = await planComponent(
        () =>
            new WebTier("web", {
                ...tier,
                servers: servers(2),
                publicAddresses: true,
                settings,
                passwordParameterArn: "arn:aws:ssm:eu-west-1:1:parameter/x",
            }),
    );
    expect(named(plan, "web-sg").inputs.ingress as Rule[]).toEqual([expect.objectContaining({ fromPort: 80, cidrBlocks: ["0.0.0.0/0"] })]);
});
