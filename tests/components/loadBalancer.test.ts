import { LoadBalancer } from "../../components/loadBalancer";
import { childrenOf, named, ofType, planComponent, Rule, tier } from "./helpers";

const settings = (https: boolean) => ({
    algorithm: "leastconn" as const,
    backends: [
        { name: "web-1", address: "10.0.128.10" },
        { name: "web-2", address: "10.0.192.10" },
    ],
    https,
    siteName: "www.foobar.com",
    tlsParameter: https ? "/foobar/test/lb/tls-pem" : undefined,
});

test("plain HTTP: an instance with an Elastic IP, no certificate, no role", async () => {
    const plan = await planComponent(
        () => new LoadBalancer("lb", { ...tier, subnetId: "subnet-1", privateIp: "10.0.0.10", settings: settings(false) }),
    );
    expect(
        childrenOf(plan, "lb")
            .map((r) => r.type)
            .sort(),
    ).toEqual(["aws:ec2/eip:Eip", "aws:ec2/instance:Instance", "aws:ec2/securityGroup:SecurityGroup"]);
    const ports = (named(plan, "lb-sg").inputs.ingress as Rule[]).map((r) => r.fromPort);
    expect(ports).toEqual([80, 8404]);
    expect(named(plan, "lb-1").inputs.userData).toMatch(/balance leastconn/);
    expect(named(plan, "lb-eip").inputs.instance).toBe(named(plan, "lb-1").outputs.id);
});

test("HTTPS: a generated certificate in SSM that only this tier's role may read, and 443 open", async () => {
    const plan = await planComponent(
        () =>
            new LoadBalancer("lb", {
                ...tier,
                subnetId: "subnet-1",
                privateIp: "10.0.0.10",
                settings: settings(true),
                adminCidr: "198.51.100.0/24",
            }),
    );
    expect(ofType(plan, "tls:index/selfSignedCert:SelfSignedCert")[0].inputs).toMatchObject({ dnsNames: ["www.foobar.com"] });
    expect(named(plan, "lb-tls-pem").inputs).toMatchObject({ name: "/foobar/test/lb/tls-pem", type: "SecureString" });
    const policy = JSON.parse(named(plan, "lb-read-parameters").inputs.policy as string);
    expect(policy.Statement).toEqual([
        { Effect: "Allow", Action: ["ssm:GetParameter"], Resource: [named(plan, "lb-tls-pem").outputs.arn] },
    ]);
    expect(named(plan, "lb-1").inputs.iamInstanceProfile).toBe("lb-profile");
    const rules = named(plan, "lb-sg").inputs.ingress as Rule[];
    expect(rules.map((r) => r.fromPort)).toEqual([80, 443, 8404, 22]);
    expect(rules.find((r) => r.fromPort === 8404)!.cidrBlocks).toEqual(["10.0.0.0/16"]);
    expect(rules.find((r) => r.fromPort === 22)!.cidrBlocks).toEqual(["198.51.100.0/24"]);
});

test("with an alarm topic: detailed monitoring and a status-check alarm on the instance", async () => {
    const plan = await planComponent(
        () =>
            new LoadBalancer("lb", {
                ...tier,
                subnetId: "subnet-1",
                privateIp: "10.0.0.10",
                settings: settings(false),
                alarmTopicArn: "arn:aws:sns:eu-west-1:1:alarms",
            }),
    );
    expect(named(plan, "lb-1").inputs.monitoring).toBe(true);
    expect(named(plan, "lb-1-status-check").inputs).toMatchObject({
        alarmActions: ["arn:aws:sns:eu-west-1:1:alarms"],
        dimensions: { InstanceId: named(plan, "lb-1").outputs.id },
    });
});
