/** No firewall: each tier reachable only from the tier in front of it, nothing but the load balancer from the internet. */
import { adminPortsClosed, databaseFromWebOnly, noPublicIp, noWorldIngress, webFromLoadBalancerOnly } from "../../policies/firewall";
import {
    check,
    expectNoVerdict,
    instance,
    rule,
    securityGroup,
    Spec,
    subnet,
    types,
    UNKNOWN,
    UNKNOWN_ARRAY,
    UNKNOWN_BOOL,
    UNKNOWN_NUMBER,
    world,
} from "./helpers";

const vpc = "10.0.0.0/16";
const subnets = [
    subnet("public-a", "eu-west-1a", "10.0.0.0/24"),
    subnet("private-a", "eu-west-1a", "10.0.128.0/24"),
    subnet("private-b", "eu-west-1b", "10.0.129.0/24"),
];

/** The strict firewall: what `firewall: strict` builds. */
function strict(overrides: Record<string, Spec> = {}): Spec[] {
    const specs: Spec[] = [
        ...subnets,
        securityGroup("lb-sg", "lb", [
            rule({ fromPort: 80, ...world }),
            rule({ fromPort: 443, ...world }),
            rule({ fromPort: 8404, cidrBlocks: [vpc] }),
        ]),
        securityGroup("web-sg", "web", [
            rule({ fromPort: 80, securityGroups: ["sg-lb-sg"] }),
            rule({ fromPort: 22, cidrBlocks: ["198.51.100.0/24"] }),
        ]),
        securityGroup("db-sg", "db", [rule({ fromPort: 3306, securityGroups: ["sg-web-sg"] }), rule({ fromPort: 3306, self: true })]),
        instance("lb-1", "lb", { subnetId: "subnet-public-a", vpcSecurityGroupIds: ["sg-lb-sg"], associatePublicIpAddress: true }),
        instance("web-1", "web", { subnetId: "subnet-private-a", vpcSecurityGroupIds: ["sg-web-sg"], associatePublicIpAddress: false }),
        instance("db-1", "db", { subnetId: "subnet-private-b", vpcSecurityGroupIds: ["sg-db-sg"], associatePublicIpAddress: false }),
        { type: types.eip, name: "lb-eip", props: { domain: "vpc", instance: "i-lb-1" } },
    ];
    return specs.map((s) => overrides[s.name] ?? s);
}

/** The whiteboard's "no firewall": what `firewall: open` builds. */
const open = () =>
    strict({
        "web-sg": securityGroup("web-sg", "web", [rule({ fromPort: 80, ...world })]),
        "db-sg": securityGroup("db-sg", "db", [rule({ fromPort: 3306, ...world }), rule({ fromPort: 3306, self: true })]),
        "web-1": instance("web-1", "web", {
            subnetId: "subnet-public-a",
            vpcSecurityGroupIds: ["sg-web-sg"],
            associatePublicIpAddress: true,
        }),
        "db-1": instance("db-1", "db", { subnetId: "subnet-public-a", vpcSecurityGroupIds: ["sg-db-sg"], associatePublicIpAddress: true }),
    });

const all = [noWorldIngress, webFromLoadBalancerOnly, databaseFromWebOnly, noPublicIp, adminPortsClosed];

test("the strict firewall passes every firewall policy", async () => {
    expect((await check(all, strict())).found).toEqual([]);
});

test("the open firewall fails each where its gap is", async () => {
    const r = await check(all, open());
    expect(r.violations.map((v) => `${v.policy} ${v.urn.split("::").pop()}`)).toEqual([
        "firewall-no-world-ingress web-sg",
        "firewall-no-world-ingress db-sg",
        "firewall-web-from-load-balancer-only web-sg",
        "firewall-database-from-web-only db-sg",
        "firewall-no-public-ip web-1",
        "firewall-no-public-ip db-1",
    ]);
});

describe("firewall-no-world-ingress", () => {
    test("only HTTP(S) to the load balancer may come from the internet", async () => {
        const r = await check(noWorldIngress, open());
        expect(r.found).toEqual([
            "web-sg: web-sg opens tcp/80 (web tier) to 0.0.0.0/0 and ::/0: only the lb tier may take traffic from the internet, on ports 80 and 443.",
            "db-sg: db-sg opens tcp/3306 (db tier) to 0.0.0.0/0 and ::/0: only the lb tier may take traffic from the internet, on ports 80 and 443.",
        ]);
        const lbExtra = strict({
            "lb-sg": securityGroup("lb-sg", "lb", [
                rule({ fromPort: 80, ...world }),
                rule({ protocol: "-1", fromPort: 0, toPort: 0, cidrBlocks: ["0.0.0.0/0"] }),
            ]),
        });
        expect((await check(noWorldIngress, lbExtra)).found).toEqual([
            "lb-sg: lb-sg opens all traffic (lb tier) to 0.0.0.0/0: only the lb tier may take traffic from the internet, on ports 80 and 443.",
        ]);
    });

    test("a Role tag does not make a group public: it counts the tiers it is attached to", async () => {
        const misTagged = strict({ "web-sg": securityGroup("web-sg", "lb", [rule({ fromPort: 80, ...world })]) });
        expect((await check(noWorldIngress, misTagged)).found).toEqual([
            "web-sg: web-sg opens tcp/80 (lb and web tier) to 0.0.0.0/0 and ::/0: only the lb tier may take traffic from the internet, on ports 80 and 443.",
        ]);
    });

    test("standalone ingress rules are judged too, egress is not", async () => {
        const extra: Spec[] = [
            {
                type: types.securityGroupRule,
                name: "web-open",
                props: {
                    type: "ingress",
                    securityGroupId: "sg-web-sg",
                    protocol: "tcp",
                    fromPort: 8080,
                    toPort: 8080,
                    cidrBlocks: ["0.0.0.0/0"],
                },
            },
            {
                type: types.securityGroupRule,
                name: "web-out",
                props: { type: "egress", securityGroupId: "sg-web-sg", protocol: "-1", fromPort: 0, toPort: 0, cidrBlocks: ["0.0.0.0/0"] },
            },
            {
                type: types.ingressRule,
                name: "db-open",
                props: { securityGroupId: "sg-db-sg", ipProtocol: "tcp", fromPort: 3306, toPort: 3306, cidrIpv6: "::/0" },
            },
            {
                type: types.ingressRule,
                name: "lb-https",
                props: { securityGroupId: "sg-lb-sg", ipProtocol: "tcp", fromPort: 443, toPort: 443, cidrIpv4: "0.0.0.0/0" },
            },
        ];
        expect((await check(noWorldIngress, [...strict(), ...extra])).flagged).toEqual(["web-open", "db-open"]);
    });

    test("unknown rules, sources or target groups give no verdict", async () => {
        expectNoVerdict(await check(noWorldIngress, strict({ "web-sg": securityGroup("web-sg", "web", UNKNOWN_ARRAY) })));
        expectNoVerdict(
            await check(
                noWorldIngress,
                strict({ "web-sg": securityGroup("web-sg", "web", [rule({ fromPort: 80, cidrBlocks: UNKNOWN_ARRAY as never })]) }),
            ),
        );
        const unknownGroup: Spec = {
            type: types.securityGroupRule,
            name: "r",
            props: { type: "ingress", securityGroupId: UNKNOWN, protocol: "tcp", fromPort: 22, toPort: 22, cidrBlocks: ["0.0.0.0/0"] },
        };
        expectNoVerdict(await check(noWorldIngress, [...strict(), unknownGroup]));
        // Named through its dependencies, the group is known again.
        expect((await check(noWorldIngress, [...strict(), { ...unknownGroup, deps: { securityGroupId: ["web-sg"] } }])).flagged).toEqual([
            "r",
        ]);
    });

    test("an exemption waives the group meant to be public", async () => {
        const r = await check(noWorldIngress, open(), { exempt: ["web-sg"] });
        expect([r.flagged, r.waived]).toEqual([["db-sg"], ["web-sg"]]);
    });
});

describe("firewall-web-from-load-balancer-only", () => {
    test("app traffic from anywhere else than the load balancer's group fails", async () => {
        expect((await check(webFromLoadBalancerOnly, open())).found).toEqual([
            "web-sg: web-sg lets tcp/80 from 0.0.0.0/0 and ::/0 reach the web tier: only the load balancer's security group should.",
        ]);
        const fromVpc = strict({
            "web-sg": securityGroup("web-sg", "web", [rule({ fromPort: 80, securityGroups: ["sg-lb-sg"], cidrBlocks: [vpc] })]),
        });
        expect((await check(webFromLoadBalancerOnly, fromVpc)).found).toEqual([
            "web-sg: web-sg lets tcp/80 from 10.0.0.0/16 reach the web tier: only the load balancer's security group should.",
        ]);
        const fromDb = strict({ "web-sg": securityGroup("web-sg", "web", [rule({ fromPort: 80, securityGroups: ["sg-db-sg"] })]) });
        expect((await check(webFromLoadBalancerOnly, fromDb)).found[0]).toContain("from security group db-sg");
    });

    test("in a first preview the load balancer's group id is unknown; its dependency names it", async () => {
        const preview = (deps?: string[]) =>
            strict({
                "web-sg": securityGroup(
                    "web-sg",
                    "web",
                    [rule({ fromPort: 80, securityGroups: [UNKNOWN] })],
                    deps ? { deps: { ingress: deps } } : {},
                ),
            });
        expect((await check(webFromLoadBalancerOnly, preview(["lb-sg"]))).found).toEqual([]);
        expect((await check(webFromLoadBalancerOnly, preview(["db-sg"]))).flagged).toEqual(["web-sg"]);
        expectNoVerdict(await check(webFromLoadBalancerOnly, preview()));
        expectNoVerdict(await check(webFromLoadBalancerOnly, preview(["lb-sg", "db-sg"])));
    });

    test("an exemption waives the web group", async () => {
        const r = await check(webFromLoadBalancerOnly, open(), { exempt: ["web-sg"] });
        expect([r.flagged, r.waived]).toEqual([[], ["web-sg"]]);
    });
});

describe("firewall-database-from-web-only", () => {
    test("the database port from anywhere but the web tier and the peers fails", async () => {
        expect((await check(databaseFromWebOnly, open())).found).toEqual([
            "db-sg: db-sg lets tcp/3306 from 0.0.0.0/0 and ::/0 reach the database: only the web tier and the replication peers should.",
        ]);
        const fromLb = strict({
            "db-sg": securityGroup("db-sg", "db", [rule({ fromPort: 3306, securityGroups: ["sg-lb-sg", "sg-web-sg"] })]),
        });
        expect((await check(databaseFromWebOnly, fromLb)).found).toEqual([
            "db-sg: db-sg lets tcp/3306 from security group lb-sg reach the database: only the web tier and the replication peers should.",
        ]);
        const allPorts = strict({ "db-sg": securityGroup("db-sg", "db", [rule({ fromPort: 0, toPort: 65535, cidrBlocks: [vpc] })]) });
        expect((await check(databaseFromWebOnly, allPorts)).found[0]).toContain("tcp/0-65535 from 10.0.0.0/16");
    });

    test("unknown sources give no verdict", async () => {
        expectNoVerdict(
            await check(
                databaseFromWebOnly,
                strict({ "db-sg": securityGroup("db-sg", "db", [rule({ fromPort: 3306, securityGroups: [UNKNOWN] })]) }),
            ),
        );
        expectNoVerdict(
            await check(
                databaseFromWebOnly,
                strict({ "db-sg": securityGroup("db-sg", "db", [rule({ fromPort: UNKNOWN_NUMBER as never, cidrBlocks: ["0.0.0.0/0"] })]) }),
            ),
        );
    });

    test("the database ports are configurable", async () => {
        const postgres = strict({ "db-sg": securityGroup("db-sg", "db", [rule({ fromPort: 5432, cidrBlocks: [vpc] })]) });
        expect((await check(databaseFromWebOnly, postgres)).found).toEqual([]);
        expect((await check(databaseFromWebOnly, postgres, { databasePorts: [5432] })).flagged).toEqual(["db-sg"]);
    });

    test("an exemption waives the database group", async () => {
        expect((await check(databaseFromWebOnly, open(), { exempt: ["db-sg"] })).waived).toEqual(["db-sg"]);
    });
});

describe("firewall-no-public-ip", () => {
    test("web and database servers with a public address fail; the load balancer may have one", async () => {
        expect((await check(noPublicIp, open())).found).toEqual([
            "web-1: web-1 (web tier) is reachable from the internet: associatePublicIpAddress is true.",
            "db-1: db-1 (db tier) is reachable from the internet: associatePublicIpAddress is true.",
        ]);
    });

    test("an Elastic IP attached to a database server fails, also when a preview only names it through a dependency", async () => {
        const eip: Spec = { type: types.eip, name: "db-eip", props: { domain: "vpc", instance: "i-db-1" } };
        expect((await check(noPublicIp, [...strict(), eip])).found).toEqual([
            "db-1: db-1 (db tier) is reachable from the internet: Elastic IP db-eip is attached to it.",
        ]);
        expect(
            (await check(noPublicIp, [...strict(), { ...eip, props: { instance: UNKNOWN }, deps: { instance: ["db-1"] } }])).flagged,
        ).toEqual(["db-1"]);
        expect(
            (await check(noPublicIp, [...strict(), { ...eip, props: { instance: UNKNOWN }, deps: { instance: ["lb-1"] } }])).flagged,
        ).toEqual([]);
    });

    test("a subnet that maps public IPs gives one to instances that do not say otherwise", async () => {
        const mapping = strict({
            "private-a": subnet("private-a", "eu-west-1a", "10.0.128.0/24", { mapPublicIpOnLaunch: true }),
            "web-1": instance("web-1", "web", { subnetId: "subnet-private-a", vpcSecurityGroupIds: ["sg-web-sg"] }),
        });
        expect((await check(noPublicIp, mapping)).found).toEqual([
            "web-1: web-1 (web tier) is reachable from the internet: its subnet private-a gives every instance a public IP.",
        ]);
    });

    test("an unknown association gives no verdict", async () => {
        expectNoVerdict(await check(noPublicIp, strict({ "web-1": instance("web-1", "web", { associatePublicIpAddress: UNKNOWN_BOOL }) })));
    });

    test("an exemption waives an instance", async () => {
        const r = await check(noPublicIp, open(), { exempt: ["db-1"] });
        expect([r.flagged, r.waived]).toEqual([["web-1"], ["db-1"]]);
    });
});

describe("firewall-admin-ports-closed", () => {
    test("SSH from the admin network passes; SSH, RDP or every port from the internet fails", async () => {
        expect((await check(adminPortsClosed, strict())).found).toEqual([]);
        const exposed = strict({
            "web-sg": securityGroup("web-sg", "web", [
                rule({ fromPort: 22, cidrBlocks: ["0.0.0.0/0"] }),
                rule({ fromPort: 3389, ipv6CidrBlocks: ["::/0"] }),
            ]),
            "db-sg": securityGroup("db-sg", "db", [rule({ protocol: "-1", fromPort: 0, toPort: 0, cidrBlocks: ["0.0.0.0/0"] })]),
        });
        expect((await check(adminPortsClosed, exposed)).found).toEqual([
            "web-sg: web-sg opens administration ports to the internet: 22 (tcp/22) to 0.0.0.0/0; 3389 (tcp/3389) to ::/0. Only the admin network should reach them.",
            "db-sg: db-sg opens administration ports to the internet: 22 and 3389 (all traffic) to 0.0.0.0/0. Only the admin network should reach them.",
        ]);
    });

    test("a range too wide to be an admin network is the internet: 0.0.0.0/1 and 128.0.0.0/1, a /7, 2000::/3", async () => {
        const halves = strict({
            "web-sg": securityGroup("web-sg", "web", [
                rule({ fromPort: 22, cidrBlocks: ["0.0.0.0/1", "128.0.0.0/1"] }),
                rule({ fromPort: 3389, cidrBlocks: ["10.0.0.0/7"], ipv6CidrBlocks: ["2000::/3"] }),
            ]),
            "db-sg": securityGroup("db-sg", "db", [rule({ fromPort: 22, cidrBlocks: ["10.0.0.0/8"], ipv6CidrBlocks: ["2001:db8::/32"] })]),
        });
        expect((await check(adminPortsClosed, halves)).found).toEqual([
            "web-sg: web-sg opens administration ports to the internet: 22 (tcp/22) to 0.0.0.0/1 and 128.0.0.0/1; 3389 (tcp/3389) to 10.0.0.0/7 and 2000::/3. Only the admin network should reach them.",
        ]);
        expect((await check(noWorldIngress, halves)).flagged).toEqual(["web-sg"]);
    });

    test("standalone rules are judged as they are registered", async () => {
        const sshRule: Spec = {
            type: types.ingressRule,
            name: "ssh",
            props: { securityGroupId: UNKNOWN, ipProtocol: "tcp", fromPort: 22, toPort: 22, cidrIpv4: "0.0.0.0/0" },
        };
        expect((await check(adminPortsClosed, [sshRule])).flagged).toEqual(["ssh"]);
    });

    test("unknown ports give no verdict", async () => {
        expectNoVerdict(
            await check(adminPortsClosed, [
                securityGroup("web-sg", "web", [rule({ fromPort: UNKNOWN_NUMBER as never, cidrBlocks: ["0.0.0.0/0"] })]),
            ]),
        );
    });

    test("an exemption waives a group (e.g. a bastion's)", async () => {
        const bastion = securityGroup("bastion-sg", "bastion", [rule({ fromPort: 22, cidrBlocks: ["0.0.0.0/0"] })]);
        expect((await check(adminPortsClosed, [bastion], { exempt: ["bastion-sg"] })).waived).toEqual(["bastion-sg"]);
    });
});
