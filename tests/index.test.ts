/** The whole program under Pulumi's mocks: what `pulumi up` would ask AWS for. */
import * as pulumi from "@pulumi/pulumi";
import { parse } from "yaml";
import { OfflinePlan, planProgram, PlannedResource, planStack } from "../tools/preview/plan";
import { CloudConfig } from "../userdata/cloudConfig";
import { ALARM_EMAIL_STAND_IN, ipToInt } from "../config";
import { loadStackConfig } from "../tools/stackFile";
import { byName, devStackFile, ingress, ofType, Rule } from "./helpers";

const plans: Record<string, OfflinePlan> = {};
const variants: Record<string, Record<string, string>> = {
    dev: {},
    hardened: { firewall: "strict", https: "self-signed", monitoring: "true", alarmEmail: "ops@foobar.com", adminCidr: "198.51.100.0/24" },
    large: { webCount: "5", replicaCount: "3", firewall: "strict" },
    minimal: { webCount: "1", replicaCount: "0" },
    domain: { domain: "foobar.com", hostedZoneId: "Z0123456789ABC", https: "self-signed" },
};

/** The shipped stacks, as their stack files say. */
const stacks: Record<string, OfflinePlan> = {};

beforeAll(async () => {
    for (const [name, overrides] of Object.entries(variants)) plans[name] = await planProgram(devStackFile(overrides));
    for (const stack of ["dev", "prod"]) stacks[stack] = await planStack(stack);
}, 120000);

const instances = (plan: OfflinePlan, role?: string) =>
    ofType(plan, "aws:ec2/instance:Instance").filter((i) => !role || (i.inputs.tags as Record<string, string>).Role === role);
const cloudConfig = (r: PlannedResource) => parse(r.inputs.userData as string) as CloudConfig;
const writtenFile = (r: PlannedResource, p: string) => cloudConfig(r).write_files.find((f) => f.path === p)?.content ?? "";
const env = (r: PlannedResource) =>
    Object.fromEntries(
        writtenFile(r, "/etc/foobar/foobar.env")
            .trim()
            .split("\n")
            .map((l) => l.split("="))
            .map(([k, v]) => [k, JSON.parse(v)]),
    );
const world = (r: Rule) => (r.cidrBlocks ?? []).includes("0.0.0.0/0") || (r.ipv6CidrBlocks ?? []).includes("::/0");

describe("components", () => {
    test("each tier is a component resource with its children parented and name-prefixed", () => {
        const plan = plans.dev;
        const components = plan.resources.filter((r) => r.type.startsWith("foobar:"));
        expect(components.map((c) => c.type).sort()).toEqual([
            "foobar:database:Database",
            "foobar:database:DatabaseCredentials",
            "foobar:loadBalancer:LoadBalancer",
            "foobar:network:Network",
            "foobar:webTier:WebTier",
        ]);
        for (const c of components) {
            const children = plan.resources.filter((r) => r.parent === c.urn);
            expect(children.length).toBeGreaterThan(0);
            for (const child of children)
                expect(child.name.startsWith(`${c.name}-`) || /^(web|db)-(\d+|primary|replica-\d+)/.test(child.name)).toBe(true);
        }
        for (const [role, type] of [
            ["lb", "LoadBalancer"],
            ["web", "WebTier"],
            ["db", "Database"],
        ]) {
            for (const i of instances(plan, role)) expect(i.parent).toMatch(new RegExp(`foobar:\\w+:${type}::`));
        }
    });

    test.each(["dev", "prod"])("stack %s: no two resources share a name, whatever their types (exemptions match by name)", (stack) => {
        for (const plan of [stacks[stack], ...Object.values(plans)]) {
            const typesByName = new Map<string, string[]>();
            for (const r of plan.resources) typesByName.set(r.name, [...(typesByName.get(r.name) ?? []), r.type]);
            expect([...typesByName].filter(([, types]) => types.length > 1)).toEqual([]);
        }
    });

    test("resources renamed to make names unique carry their old names as aliases, so existing stacks keep them", () => {
        const plan = stacks.prod;
        const oldNames = Object.fromEntries(
            plan.resources
                .filter((r) => r.options.aliases.length > 0)
                .map((r) => [r.name, r.options.aliases.map((a) => a.split("::").pop())]),
        );
        expect(oldNames).toEqual({
            "vpc-nat-eip": ["vpc-nat"],
            "vpc-public-a-routes": ["vpc-public-a"],
            "vpc-public-b-routes": ["vpc-public-b"],
            "vpc-private-a-routes": ["vpc-private-a"],
            "vpc-private-b-routes": ["vpc-private-b"],
            // prod's third zone (Galera's db-3) came later: its associations' aliases, like the attachments' below, match nothing.
            "vpc-public-c-routes": ["vpc-public-c"],
            "vpc-private-c-routes": ["vpc-private-c"],
            "db-credentials-app-password-value": ["db-credentials-app-password"],
            "db-credentials-replication-password-value": ["db-credentials-replication-password"],
            // prod's Galera nodes are named db-1 ...: their attachments carry the same kind of alias, which matches nothing.
            "db-1-data-attachment": ["db-1-data"],
            "db-2-data-attachment": ["db-2-data"],
            "db-3-data-attachment": ["db-3-data"],
        });
        for (const r of plan.resources) {
            // Each alias is the resource's own URN (same parent, same type) under its old name.
            for (const alias of r.options.aliases) expect(alias.replace(/::[^:]*$/, "")).toBe(r.urn.replace(/::[^:]*$/, ""));
        }
    });
});

describe.each([
    ["dev", 2, 1],
    ["large", 5, 3],
    ["minimal", 1, 0],
])("stack %s", (variant, webCount, replicaCount) => {
    const plan = () => plans[variant];

    test(`${webCount} web instances, 1 load balancer, ${1 + replicaCount} database servers each with its own data volume`, () => {
        expect(instances(plan(), "lb")).toHaveLength(1);
        expect(instances(plan(), "web")).toHaveLength(webCount);
        expect(instances(plan(), "db")).toHaveLength(1 + replicaCount);
        expect(ofType(plan(), "aws:ebs/volume:Volume")).toHaveLength(1 + replicaCount);
        expect(ofType(plan(), "aws:ec2/volumeAttachment:VolumeAttachment")).toHaveLength(1 + replicaCount);
    });

    test("the HAProxy backend the deploy publishes lists exactly the web instances", () => {
        const cfg = byName(plan(), "lb-haproxy-config").inputs.value as string;
        const servers = [...cfg.matchAll(/^\s+server (\S+) (\S+):80 check$/gm)].map((m) => `${m[1]} ${m[2]}`);
        expect(servers.sort()).toEqual(
            instances(plan(), "web")
                .map((w) => `${w.name} ${w.inputs.privateIp}`)
                .sort(),
        );
    });

    test("web instances spread over the availability zones", () => {
        const subnets = new Map(ofType(plan(), "aws:ec2/subnet:Subnet").map((s) => [s.name, s.inputs.availabilityZone]));
        const azs = instances(plan(), "web").map((w) => subnets.get(String(w.inputs.subnetId).replace(/-[0-9a-f]{8}$/, "")));
        expect(new Set(azs).size).toBe(Math.min(webCount, 2));
    });

    test("replication: binlog primary, read-only replicas, grants limited to the blocks the replicas' and web servers' addresses come from", () => {
        const [primary, ...replicas] = instances(plan(), "db");
        const webIps = instances(plan(), "web").map((w) => w.inputs.privateIp as string);
        const replicaIps = replicas.map((r) => r.inputs.privateIp as string);
        expect(env(primary)).toMatchObject({ DB_ROLE: "primary" });
        // MariaDB's ip/netmask hosts: a client matches when its address ANDed with the netmask is the ip.
        const matches = (ip: string, host: string) => {
            const [net, mask = "255.255.255.255"] = host.split("/");
            return (ipToInt(ip) & ipToInt(mask)) >>> 0 === ipToInt(net);
        };
        const granted = (hosts: string, ip: string) => hosts.split(" ").some((h) => matches(ip, h));
        const all = instances(plan()).map((i) => [i.name, i.inputs.privateIp as string]);
        for (const [name, ip] of all) {
            expect([name, granted(env(primary).APP_HOSTS, ip)]).toEqual([name, webIps.includes(ip)]);
            expect([name, granted(env(primary).REPLICA_HOSTS, ip)]).toEqual([name, replicaIps.includes(ip)]);
        }
        const primaryCnf = writtenFile(primary, "/etc/mysql/mariadb.conf.d/60-foobar.cnf");
        expect(primaryCnf).toMatch(/^log_bin = mysql-bin$/m);
        expect(primaryCnf).not.toMatch(/read_only/);
        const ids = new Set<string>();
        for (const r of [primary, ...replicas])
            ids.add(/^server_id = (\d+)$/m.exec(writtenFile(r, "/etc/mysql/mariadb.conf.d/60-foobar.cnf"))![1]);
        expect(ids.size).toBe(1 + replicaCount);
        for (const r of replicas) {
            expect(env(r)).toMatchObject({ DB_ROLE: "replica", DB_WRITER_HOST: "db-writer.foobar.internal" });
            expect(writtenFile(r, "/etc/mysql/mariadb.conf.d/60-foobar.cnf")).toMatch(/^read_only = ON$/m);
        }
        const records = Object.fromEntries(ofType(plan(), "aws:route53/record:Record").map((r) => [r.inputs.name, r.inputs.records]));
        expect(records["db-writer.foobar.internal"]).toEqual([primary.inputs.privateIp]);
        expect(records["db-reader.foobar.internal"]).toEqual(replicaCount > 0 ? replicaIps : [primary.inputs.privateIp]);
    });
});

describe("security", () => {
    test("no generated secret appears in any user-data or plain input", () => {
        for (const plan of Object.values(plans)) {
            expect(plan.secretValues.length).toBeGreaterThanOrEqual(2);
            for (const r of plan.resources) {
                if (r.type === "aws:ssm/parameter:Parameter" || r.type.startsWith("random:") || r.type.startsWith("tls:")) continue;
                const text = JSON.stringify(r.inputs);
                for (const secret of plan.secretValues) expect(text.includes(secret)).toBe(false);
            }
        }
    });

    test("the check above would see a leaked secret", () => {
        const plan = plans.dev;
        const params = ofType(plan, "aws:ssm/parameter:Parameter").filter((p) => p.name !== "lb-haproxy-config");
        expect(params.every((p) => p.inputs.type === "SecureString")).toBe(true);
        expect(plan.secretValues.some((s) => JSON.stringify(params.map((p) => p.inputs)).includes(s))).toBe(true);
    });

    test("every instance: IMDSv2 only, encrypted root volume, Name/Role/Stack tags", () => {
        for (const plan of Object.values(plans)) {
            for (const i of instances(plan)) {
                expect(i.inputs.metadataOptions).toMatchObject({ httpTokens: "required" });
                expect(i.inputs.rootBlockDevice).toMatchObject({ encrypted: true });
                expect(i.inputs.tags).toMatchObject({ Name: i.name, Stack: "dev" });
            }
            for (const v of ofType(plan, "aws:ebs/volume:Volume")) expect(v.inputs.encrypted).toBe(true);
        }
    });

    test("stateless tiers are replaced, delete first, on new user-data or instance type; databases ignore user-data and AMI drift and are protected", () => {
        for (const i of [...instances(plans.dev, "lb"), ...instances(plans.dev, "web")]) {
            expect(i.inputs.userDataReplaceOnChange).toBe(true);
            expect(i.options).toMatchObject({ deleteBeforeReplace: true, replaceOnChanges: ["instanceType"] });
        }
        for (const i of instances(plans.dev, "db")) {
            expect(i.options.ignoreChanges).toEqual(expect.arrayContaining(["ami", "userData", "userDataBase64"]));
            expect(i.options.protect).toBe(true);
            expect(i.inputs.disableApiTermination).toBe(true);
        }
        for (const v of ofType(plans.dev, "aws:ebs/volume:Volume")) expect(v.options.protect).toBe(true);
    });

    test("strict firewall: the world reaches only the load balancer's 80/443; each tier only from the one in front", () => {
        const plan = plans.hardened;
        for (const sg of ofType(plan, "aws:ec2/securityGroup:SecurityGroup")) {
            for (const rule of sg.inputs.ingress as Rule[]) {
                if (world(rule)) expect([sg.name, rule.fromPort]).toEqual(["lb-sg", expect.any(Number)]);
                if (world(rule)) expect([80, 443]).toContain(rule.fromPort);
            }
        }
        expect(ingress(plan, "web-sg").filter((r) => r.fromPort === 80)).toEqual([
            expect.objectContaining({ securityGroups: [expect.stringMatching(/^lb-sg-/)] }),
        ]);
        const db = ingress(plan, "db-sg").filter((r) => r.fromPort === 3306);
        expect(db).toEqual([
            expect.objectContaining({ securityGroups: [expect.stringMatching(/^web-sg-/)] }),
            expect.objectContaining({ self: true }),
        ]);
        for (const i of [...instances(plan, "web"), ...instances(plan, "db")]) expect(i.inputs.associatePublicIpAddress).toBe(false);
        expect(ofType(plan, "aws:ec2/natGateway:NatGateway")).toHaveLength(1);
    });

    test("SSH is open only to adminCidr, and closed without it", () => {
        for (const sg of ofType(plans.hardened, "aws:ec2/securityGroup:SecurityGroup")) {
            expect((sg.inputs.ingress as Rule[]).filter((r) => r.fromPort === 22)).toEqual([
                expect.objectContaining({ cidrBlocks: ["198.51.100.0/24"] }),
            ]);
        }
        for (const sg of ofType(plans.dev, "aws:ec2/securityGroup:SecurityGroup")) {
            expect((sg.inputs.ingress as Rule[]).some((r) => r.fromPort === 22)).toBe(false);
        }
    });

    test("dev reproduces the whiteboard's missing firewall: public servers, app and database ports open to the world", () => {
        const plan = plans.dev;
        expect(ingress(plan, "web-sg").some((r) => r.fromPort === 80 && world(r))).toBe(true);
        expect(ingress(plan, "db-sg").some((r) => r.fromPort === 3306 && world(r))).toBe(true);
        for (const i of [...instances(plan, "web"), ...instances(plan, "db")]) expect(i.inputs.associatePublicIpAddress).toBe(true);
        expect(ofType(plan, "aws:ec2/natGateway:NatGateway")).toHaveLength(0);
    });

    test("each tier's role reads only its own SSM parameters", () => {
        const plan = plans.hardened;
        const allowed = (name: string) =>
            (JSON.parse(byName(plan, name).inputs.policy as string).Statement as { Resource: string[] }[]).flatMap((s) => s.Resource);
        expect(allowed("web-read-parameters")).toEqual([expect.stringMatching(/parameter\/foobar\/dev\/db\/app-password$/)]);
        // With monitoring, the database servers also read the MariaDB exporter's password; nothing else does.
        expect(allowed("db-read-parameters").sort()).toEqual([
            expect.stringMatching(/app-password$/),
            expect.stringMatching(/exporter-password$/),
            expect.stringMatching(/replication-password$/),
        ]);
        expect(allowed("lb-read-parameters")).toEqual([
            byName(plan, "lb-haproxy-config").outputs.arn,
            expect.stringMatching(/parameter\/foobar\/dev\/lb\/tls-pem$/),
        ]);
        // Without HTTPS the load balancer still reads its configuration, and nothing else.
        expect(JSON.parse(byName(plans.dev, "lb-read-parameters").inputs.policy as string).Statement).toEqual([
            { Effect: "Allow", Action: ["ssm:GetParameter"], Resource: [byName(plans.dev, "lb-haproxy-config").outputs.arn] },
        ]);
        expect(ofType(plans.dev, "aws:ssm/parameter:Parameter").map((p) => p.inputs.name)).not.toContainEqual(
            expect.stringMatching(/exporter-password$/),
        );
        // The monitoring instance may publish to the alarm topic, with its key (the topic is encrypted), and do nothing else.
        expect(JSON.parse(byName(plan, "monitoring-server-publish-alerts").inputs.policy as string).Statement).toEqual([
            { Effect: "Allow", Action: ["sns:Publish"], Resource: [byName(plan, "monitoring-alarms").outputs.arn] },
            {
                Effect: "Allow",
                Action: ["kms:GenerateDataKey", "kms:Decrypt"],
                Resource: [byName(plan, "monitoring-alarms-key").outputs.arn],
            },
        ]);
    });
});

describe("https and monitoring", () => {
    test("https: HAProxy terminates TLS on 443 and redirects 80; the certificate comes from SSM, not user-data", () => {
        const lb = instances(plans.hardened, "lb")[0];
        const cfg = byName(plans.hardened, "lb-haproxy-config").inputs.value as string;
        expect(cfg).toMatch(/bind :443 ssl crt \/etc\/haproxy\/certs\/site\.pem/);
        expect(cfg).toMatch(/http-request redirect scheme https code 301 unless \{ ssl_fc \}/);
        expect(env(lb).TLS_PARAMETER).toBe("/foobar/dev/lb/tls-pem");
        expect(lb.inputs.userData).not.toMatch(/BEGIN (EC )?PRIVATE KEY/);
        expect(ingress(plans.hardened, "lb-sg").some((r) => r.fromPort === 443 && world(r))).toBe(true);
        expect(writtenFile(instances(plans.dev, "lb")[0], "/etc/haproxy/haproxy.cfg")).not.toMatch(/:443/);
    });

    test("monitoring: detailed monitoring and a status-check alarm per instance, notifying the stack's topic", () => {
        const plan = plans.hardened;
        const alarms = ofType(plan, "aws:cloudwatch/metricAlarm:MetricAlarm");
        expect(alarms).toHaveLength(instances(plan).length);
        for (const i of instances(plan)) expect(i.inputs.monitoring).toBe(true);
        const topic = ofType(plan, "aws:sns/topic:Topic")[0];
        for (const a of alarms) {
            expect(a.inputs).toMatchObject({ metricName: "StatusCheckFailed", namespace: "AWS/EC2" });
            expect(a.inputs.alarmActions).toEqual([expect.stringContaining(topic.name)]);
        }
        expect(ofType(plan, "aws:sns/topicSubscription:TopicSubscription")[0].inputs).toMatchObject({
            protocol: "email",
            endpoint: "ops@foobar.com",
        });
        expect(ofType(plans.dev, "aws:cloudwatch/metricAlarm:MetricAlarm")).toHaveLength(0);
    });
});

describe("outputs", () => {
    test("url, load balancer address, web addresses, database endpoints, parameter names", () => {
        const o = plans.dev.outputs as Record<string, unknown>;
        expect(o.url).toMatch(/^http:\/\/203\.0\.113\.\d+\/$/);
        expect(o.loadBalancerPublicIp).toMatch(/^203\.0\.113\.\d+$/);
        expect(o.webPrivateIps).toEqual(instances(plans.dev, "web").map((w) => w.inputs.privateIp));
        expect(o).toMatchObject({
            databaseWriterEndpoint: "db-writer.foobar.internal",
            databaseReaderEndpoint: "db-reader.foobar.internal",
        });
        expect(o.ssmParameterNames).toEqual({
            appPassword: "/foobar/dev/db/app-password",
            replicationPassword: "/foobar/dev/db/replication-password",
        });
    });

    test("a domain gets a www record on the load balancer and an https url", () => {
        const www = byName(plans.domain, "www");
        expect(www.inputs).toMatchObject({ zoneId: "Z0123456789ABC", name: "www.foobar.com", type: "A" });
        expect(plans.domain.outputs.url).toBe("https://www.foobar.com/");
    });
});

describe("alarmEmail", () => {
    test("prod as committed names no address: the preview plans its alerts to the stand-in and warns that pulumi up refuses it", async () => {
        const warn = jest.spyOn(pulumi.log, "warn").mockImplementation(() => Promise.resolve());
        try {
            const plan = await planProgram(loadStackConfig("prod"));
            expect(ofType(plan, "aws:sns/topicSubscription:TopicSubscription").map((r) => r.inputs.endpoint)).toEqual([
                ALARM_EMAIL_STAND_IN,
            ]);
            expect(warn.mock.calls.map((c) => c[0])).toEqual([
                `alarmEmail is not set: this preview mails alerts to ${ALARM_EMAIL_STAND_IN}, and pulumi up refuses the stack until it is set: ` +
                    "pulumi config set alarmEmail <address> --stack prod",
            ]);
        } finally {
            warn.mockRestore();
        }
    });
});

describe("a Galera cluster's third zone", () => {
    const galera = { database: "galera", replicaCount: "", firewall: "strict", monitoring: "true", alarmEmail: "ops@foobar.com" };

    test("prod: a secondary VPC block for zone c holds db-3; every rule that says 'the VPC' names both blocks", () => {
        const plan = stacks.prod;
        expect(ofType(plan, "aws:ec2/vpcIpv4CidrBlockAssociation:VpcIpv4CidrBlockAssociation").map((r) => r.inputs.cidrBlock)).toEqual([
            "10.1.0.0/17",
        ]);
        const db3 = byName(plan, "db-3");
        expect(db3.inputs).toMatchObject({ privateIp: "10.1.64.56", subnetId: byName(plan, "vpc-private-c").outputs.id });
        expect(byName(plan, "db-3-data").inputs.availabilityZone).toBe("eu-west-1c");
        expect(byName(plan, "vpc-private-c").inputs.availabilityZone).toBe("eu-west-1c");
        const vpcWide = ofType(plan, "aws:ec2/securityGroup:SecurityGroup").flatMap((g) =>
            [...(g.inputs.ingress as Rule[]), ...(g.inputs.egress as Rule[])].filter((r) => (r.cidrBlocks ?? []).includes("10.0.0.0/16")),
        );
        expect(vpcWide.length).toBeGreaterThanOrEqual(7);
        for (const rule of vpcWide) expect(rule.cidrBlocks).toEqual(["10.0.0.0/16", "10.1.0.0/17"]);
    });

    test("a region with two zones for this account: no secondary block, db-3 in zone a, and pulumi up warns", async () => {
        const warn = jest.spyOn(pulumi.log, "warn").mockImplementation(() => Promise.resolve());
        try {
            const plan = await planProgram(devStackFile(galera), undefined, { regionZones: 2 });
            expect(ofType(plan, "aws:ec2/vpcIpv4CidrBlockAssociation:VpcIpv4CidrBlockAssociation")).toEqual([]);
            expect(byName(plan, "db-3").inputs.privateIp).toBe("10.0.128.57");
            expect(warn.mock.calls.map((c) => c[0])).toEqual([expect.stringMatching(/alternate over two: losing zone a \(db-1, db-3/)]);
        } finally {
            warn.mockRestore();
        }
    });

    test("replication never asks for a third zone", () => {
        for (const plan of [...Object.values(plans), stacks.dev]) {
            expect(ofType(plan, "aws:ec2/vpcIpv4CidrBlockAssociation:VpcIpv4CidrBlockAssociation")).toEqual([]);
            expect(ofType(plan, "aws:ec2/subnet:Subnet")).toHaveLength(4);
        }
    });
});

describe("boot order: cloud-init's apt needs the internet", () => {
    test.each([...Object.keys(variants).map((v) => ["variant", v]), ["stack", "dev"], ["stack", "prod"]])(
        "%s %s: every instance is created after its subnet's route to the internet (NAT gateway or internet gateway)",
        (kind, name) => {
            const plan = kind === "stack" ? stacks[name] : plans[name];
            const byId = (id: unknown) => plan.resources.find((r) => r.outputs.id === id)!;
            for (const instance of instances(plan)) {
                const association = ofType(plan, "aws:ec2/routeTableAssociation:RouteTableAssociation").find(
                    (a) => a.inputs.subnetId === instance.inputs.subnetId,
                );
                expect([instance.name, association?.name]).toEqual([instance.name, expect.any(String)]);
                const routes = byId(association!.inputs.routeTableId).inputs.routes as {
                    cidrBlock: string;
                    natGatewayId?: string;
                    gatewayId?: string;
                }[];
                const route = routes.find((r) => r.cidrBlock === "0.0.0.0/0")!;
                const gateway = byId(route.natGatewayId ?? route.gatewayId);
                expect(gateway.type).toMatch(/^aws:ec2\/(natGateway:NatGateway|internetGateway:InternetGateway)$/);
                // The association waits for its route table, the table for its gateway (a NAT gateway's create returns once it is available).
                expect(association!.dependencies).toContain(byId(association!.inputs.routeTableId).urn);
                expect(byId(association!.inputs.routeTableId).dependencies).toContain(gateway.urn);
                expect([instance.name, instance.dependencies]).toEqual([instance.name, expect.arrayContaining([association!.urn])]);
            }
        },
    );
});
