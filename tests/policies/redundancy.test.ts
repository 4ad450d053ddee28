/** Single points of failure: each policy passes once its gap is really closed, fails otherwise, and never guesses. */
import { databaseWriteFailover, loadBalancerRedundancy, webSpareZone, webTierRedundancy } from "../../policies/redundancy";
import { policyResources, stackResources } from "../../tools/policy-check/resources";
import { planStack } from "../../tools/preview/plan";
import {
    check,
    cloudConfig,
    expectNoVerdict,
    haproxyTls,
    instance,
    Spec,
    subnet,
    types,
    UNKNOWN,
    UNKNOWN_ARRAY,
    UNKNOWN_BOOL,
    UNKNOWN_OBJECT,
    urnOf,
} from "./helpers";

const subnets = [subnet("public-a", "eu-west-1a", "10.0.0.0/24"), subnet("public-b", "eu-west-1b", "10.0.1.0/24")];
const inA = { subnetId: "subnet-public-a" };
const inB = { subnetId: "subnet-public-b" };

const lbUserData = (packages: string[] = []) =>
    cloudConfig({ packages: ["haproxy", ...packages], files: { "/etc/haproxy/haproxy.cfg": haproxyTls } });
const lb = (name: string, placement: Record<string, unknown>, packages: string[] = []) =>
    instance(name, "lb", { ...placement, userData: lbUserData(packages) });

describe("redundancy-load-balancer", () => {
    test("one load balancer is the single point of failure", async () => {
        const r = await check(loadBalancerRedundancy, [...subnets, lb("lb-1", inA)]);
        expect(r.found).toEqual(["lb-1: lb-1 is the only load balancer: when it fails, the whole site is down."]);
    });

    test("no load balancer at all fails too (against the stack), unlike the *OfType helpers would", async () => {
        const r = await check(loadBalancerRedundancy, [...subnets, instance("web-1", "web", inA)]);
        expect(r.flagged).toEqual(["foobar-test"]);
        expect(r.violations[0].urn).toBe("urn:pulumi:test::foobar::pulumi:pulumi:Stack::foobar-test");
    });

    test("two load balancers in one zone, or without a way to move traffic, are not redundant", async () => {
        const sameZone = await check(loadBalancerRedundancy, [
            ...subnets,
            lb("lb-1", inA, ["keepalived"]),
            lb("lb-2", inA, ["keepalived"]),
        ]);
        expect(sameZone.flagged).toEqual(["lb-1", "lb-2"]);
        expect(sameZone.found[0]).toContain("all run in eu-west-1a");
        const noFailover = await check(loadBalancerRedundancy, [...subnets, lb("lb-1", inA), lb("lb-2", inB)]);
        expect(noFailover.flagged).toEqual(["lb-1", "lb-2"]);
        expect(noFailover.found[0]).toContain("no way to move traffic");
    });

    /** What lbCount 2 builds around keepalived: the VRRP rule on their group, and a role that may associate the Elastic IP. */
    const vrrpRule = { protocol: "112", fromPort: 0, toPort: 0, self: true };
    const pairOf = (opts: { ingress?: unknown[]; actions?: string[] } = {}): Spec[] => {
        const policy = JSON.stringify({
            Version: "2012-10-17",
            Statement: [
                {
                    Effect: "Allow",
                    Action: opts.actions ?? ["ec2:AssociateAddress"],
                    Resource: ["arn:aws:ec2:eu-west-1:1:elastic-ip/eipalloc-1"],
                },
            ],
        });
        const placed = { vpcSecurityGroupIds: ["sg-lb"], iamInstanceProfile: "lb-profile" };
        return [
            ...subnets,
            { type: types.securityGroup, name: "lb-sg", props: { id: "sg-lb", ingress: opts.ingress ?? [vrrpRule] } },
            {
                type: "aws:iam/instanceProfile:InstanceProfile",
                name: "lb-profile",
                props: { id: "lb-profile", name: "lb-profile", role: "lb-role" },
            },
            { type: "aws:iam/role:Role", name: "lb-role", props: { id: "lb-role", name: "lb-role" } },
            { type: "aws:iam/rolePolicy:RolePolicy", name: "lb-move-address", props: { role: "lb-role", policy } },
            { type: types.eip, name: "lb-eip", props: { id: "eipalloc-1", domain: "vpc" } },
            lb("lb-1", { ...inA, ...placed }, ["keepalived"]),
            lb("lb-2", { ...inB, ...placed }, ["keepalived"]),
        ];
    };

    test("passes with two load balancers in two zones, keepalived on both, VRRP between them and the permission to move the address", async () => {
        expect((await check(loadBalancerRedundancy, pairOf())).found).toEqual([]);
    });

    test("keepalived without the VRRP rule is no failover: each load balancer becomes master", async () => {
        const r = await check(
            loadBalancerRedundancy,
            pairOf({ ingress: [{ protocol: "tcp", fromPort: 80, toPort: 80, cidrBlocks: ["0.0.0.0/0"] }] }),
        );
        expect(r.flagged).toEqual(["lb-1", "lb-2"]);
        expect(r.found[0]).toContain("drop VRRP (IP protocol 112)");
    });

    test("keepalived whose instances may not associate the Elastic IP cannot move the address", async () => {
        const r = await check(loadBalancerRedundancy, pairOf({ actions: ["ec2:DescribeAddresses"] }));
        expect(r.flagged).toEqual(["lb-1", "lb-2"]);
        expect(r.found[0]).toContain("may not associate the Elastic IP");
    });

    test("passes with Route 53 failover records instead of a floating IP", async () => {
        const record: Spec = {
            type: types.route53Record,
            name: "www-primary",
            props: {
                name: "www.foobar.com",
                type: "A",
                setIdentifier: "primary",
                failoverRoutingPolicies: [{ type: "PRIMARY" }],
                healthCheckId: "hc-1",
            },
        };
        expect((await check(loadBalancerRedundancy, [...subnets, lb("lb-1", inA), lb("lb-2", inB), record])).found).toEqual([]);
    });

    test("passes with a managed load balancer over two subnets", async () => {
        const alb: Spec = {
            type: "aws:lb/loadBalancer:LoadBalancer",
            name: "alb",
            props: { subnets: ["subnet-public-a", "subnet-public-b"] },
        };
        expect((await check(loadBalancerRedundancy, [...subnets, alb])).found).toEqual([]);
    });

    test("the zone comes from the subnet a preview only names through dependencies", async () => {
        const viaDeps = pairOf();
        const second = viaDeps.findIndex((r) => r.name === "lb-2");
        viaDeps[second] = { ...viaDeps[second], props: { ...viaDeps[second].props, subnetId: UNKNOWN }, deps: { subnetId: ["public-b"] } };
        expect((await check(loadBalancerRedundancy, viaDeps)).found).toEqual([]);
        viaDeps[second] = { ...viaDeps[second], deps: { subnetId: ["public-a"] } };
        expect((await check(loadBalancerRedundancy, viaDeps)).flagged).toEqual(["lb-1", "lb-2"]);
    });

    test("unknown zones or user-data give no verdict, and no crash", async () => {
        const unknownZone = await check(loadBalancerRedundancy, [
            ...subnets,
            lb("lb-1", inA),
            lb("lb-2", { subnetId: UNKNOWN, privateIp: UNKNOWN }),
        ]);
        expectNoVerdict(unknownZone);
        const unknownUserData = await check(loadBalancerRedundancy, [
            ...subnets,
            lb("lb-1", inA, ["keepalived"]),
            instance("lb-2", "lb", { ...inB, userData: UNKNOWN }),
        ]);
        expectNoVerdict(unknownUserData);
        const unknownFailover: Spec = { type: types.route53Record, name: "www", props: { failoverRoutingPolicies: UNKNOWN_ARRAY } };
        expectNoVerdict(await check(loadBalancerRedundancy, [...subnets, lb("lb-1", inA), lb("lb-2", inB), unknownFailover]));
        // An instance whose tier is unknown may be the second load balancer.
        expectNoVerdict(
            await check(loadBalancerRedundancy, [...subnets, lb("lb-1", inA), instance("lb-2", "lb", { tags: UNKNOWN_OBJECT })]),
        );
        // What is known still counts: one load balancer is one, whatever its unknown properties.
        const single = await check(loadBalancerRedundancy, [...subnets, instance("lb-1", "lb", { subnetId: UNKNOWN, userData: UNKNOWN })]);
        expect(single.flagged).toEqual(["lb-1"]);
    });

    test("an exemption by name or URN waives the finding and lists it", async () => {
        for (const entry of ["lb-1", urnOf({ type: types.instance, name: "lb-1" })]) {
            const r = await check(loadBalancerRedundancy, [...subnets, lb("lb-1", inA)], { exempt: [entry] });
            expect(r.violations).toEqual([]);
            expect(r.waived).toEqual(["lb-1"]);
        }
    });
});

const db = (
    name: string,
    role: "primary" | "replica" | "galera" | undefined,
    placement: Record<string, unknown>,
    packages: string[] = [],
) =>
    instance(name, "db", {
        ...placement,
        userData: cloudConfig({
            packages: ["default-mysql-server", ...packages],
            files: role ? { "/etc/foobar/foobar.env": `DB_ROLE="${role}"\nDB_NAME="foobar"\n` } : {},
        }),
    });

describe("redundancy-database-write-failover", () => {
    test("a primary with a replica but nothing to promote it: writes stop when the primary fails", async () => {
        const r = await check(databaseWriteFailover, [...subnets, db("db-primary", "primary", inA), db("db-replica-1", "replica", inB)]);
        expect(r.flagged).toEqual(["db-primary"]);
        expect(r.found[0]).toContain("db-primary is the only writer: when it fails, writes stop. Nothing promotes db-replica-1");
    });

    test("a lone database server has nothing to fail over to", async () => {
        const r = await check(databaseWriteFailover, [...subnets, db("db-1", undefined, inA, ["orchestrator"])]);
        expect(r.found).toEqual([
            "db-1: db-1 is the only writer: when it fails, writes stop. There is no other database server to take over.",
        ]);
    });

    test("a failover manager in one zone still loses writes with the zone", async () => {
        const r = await check(databaseWriteFailover, [
            ...subnets,
            db("db-primary", "primary", inA, ["orchestrator"]),
            db("db-replica-1", "replica", inA, ["orchestrator"]),
        ]);
        expect(r.found).toEqual([
            "db-primary: db-primary is the only writer: when it fails, writes stop. Every database server runs in the same availability zone.",
        ]);
    });

    test("passes with a failover manager on every server over two zones, or a Galera cluster", async () => {
        const managed = [
            ...subnets,
            db("db-primary", "primary", inA, ["orchestrator"]),
            db("db-replica-1", "replica", inB, ["orchestrator"]),
        ];
        expect((await check(databaseWriteFailover, managed)).found).toEqual([]);
        const galera = [
            ...subnets,
            db("db-1", "galera", inA, ["galera-4"]),
            db("db-2", "galera", inB, ["galera-4"]),
            db("db-3", "galera", inA, ["galera-4"]),
        ];
        expect((await check(databaseWriteFailover, galera)).found).toEqual([]);
    });

    test("a Galera cluster of two nodes, or in one zone, loses its writes with a node or the zone", async () => {
        const two = await check(databaseWriteFailover, [
            ...subnets,
            db("db-1", "galera", inA, ["galera-4"]),
            db("db-2", "galera", inB, ["galera-4"]),
        ]);
        expect(two.flagged).toEqual(["db-1", "db-2"]);
        expect(two.found[0]).toContain(
            "db-1 is one of 2 writers: when it fails, writes stop. A Galera cluster of 2 nodes stops taking writes",
        );
        const oneZone = await check(databaseWriteFailover, [
            ...subnets,
            ...[1, 2, 3].map((n) => db(`db-${n}`, "galera", inA, ["galera-4"])),
        ]);
        expect(oneZone.flagged).toEqual(["db-1", "db-2", "db-3"]);
        expect(oneZone.found[0]).toContain("Every database server runs in the same availability zone.");
    });

    test("the prod stack (a three-node Galera cluster) passes; its nodes run in both zones", async () => {
        const prod = policyResources(stackResources(await planStack("prod")));
        expect(prod.filter((r) => r.type === types.instance && r.name.startsWith("db-")).map((r) => r.name)).toEqual([
            "db-1",
            "db-2",
            "db-3",
        ]);
        expect((await check(databaseWriteFailover, prod)).found).toEqual([]);
    });

    test("a stack without a database has no database to fail over", async () => {
        expect((await check(databaseWriteFailover, [...subnets, instance("web-1", "web", inA)])).found).toEqual([]);
    });

    test("RDS: single-AZ fails, Multi-AZ passes, unknown gives no verdict", async () => {
        const rds = (multiAz: unknown): Spec => ({ type: types.rdsInstance, name: "rds", props: { engine: "mariadb", multiAz } });
        expect((await check(databaseWriteFailover, [rds(false)])).flagged).toEqual(["rds"]);
        expect((await check(databaseWriteFailover, [rds(true)])).found).toEqual([]);
        expectNoVerdict(await check(databaseWriteFailover, [rds(UNKNOWN_BOOL)]));
    });

    test("user-data unknown during the preview (it names the data volume) gives no verdict", async () => {
        expectNoVerdict(
            await check(databaseWriteFailover, [
                ...subnets,
                instance("db-primary", "db", { ...inA, userData: UNKNOWN }),
                db("db-replica-1", "replica", inB),
            ]),
        );
    });

    test("an exemption waives the writer", async () => {
        const r = await check(databaseWriteFailover, [...subnets, db("db-primary", "primary", inA), db("db-replica-1", "replica", inB)], {
            exempt: ["db-primary"],
        });
        expect([r.flagged, r.waived]).toEqual([[], ["db-primary"]]);
    });

    test("the failover packages are configurable", async () => {
        const stack = [
            ...subnets,
            db("db-primary", "primary", inA, ["mha4mysql-manager"]),
            db("db-replica-1", "replica", inB, ["mha4mysql-manager"]),
        ];
        expect((await check(databaseWriteFailover, stack)).flagged).toEqual(["db-primary"]);
        expect((await check(databaseWriteFailover, stack, { failoverPackages: ["mha4mysql-manager"] })).flagged).toEqual([]);
    });
});

describe("redundancy-web-tier", () => {
    test("passes with two web servers in two zones", async () => {
        expect((await check(webTierRedundancy, [...subnets, instance("web-1", "web", inA), instance("web-2", "web", inB)])).found).toEqual(
            [],
        );
    });

    test("one web server, or none, is a single point of failure", async () => {
        expect((await check(webTierRedundancy, [...subnets, instance("web-1", "web", inA)])).found).toEqual([
            "web-1: web-1 is the only web server: when it fails, the site is down.",
        ]);
        expect((await check(webTierRedundancy, subnets)).flagged).toEqual(["foobar-test"]);
    });

    test("two web servers in one zone share its outage", async () => {
        const r = await check(webTierRedundancy, [...subnets, instance("web-1", "web", inA), instance("web-2", "web", inA)]);
        expect(r.flagged).toEqual(["web-1", "web-2"]);
    });

    test("the zone of an instance can come from its own output or from the subnet holding its private IP", async () => {
        const own = [
            instance("web-1", "web", { availabilityZone: "eu-west-1a" }),
            instance("web-2", "web", { availabilityZone: "eu-west-1b" }),
        ];
        expect((await check(webTierRedundancy, own)).found).toEqual([]);
        const byIp = [
            ...subnets,
            instance("web-1", "web", { subnetId: UNKNOWN, privateIp: "10.0.0.10" }),
            instance("web-2", "web", { subnetId: UNKNOWN, privateIp: "10.0.0.11" }),
        ];
        expect((await check(webTierRedundancy, byIp)).flagged).toEqual(["web-1", "web-2"]);
    });

    test("unknown zones give no verdict", async () => {
        expectNoVerdict(
            await check(webTierRedundancy, [...subnets, instance("web-1", "web", inA), instance("web-2", "web", { subnetId: UNKNOWN })]),
        );
    });

    test("an exemption waives a web server", async () => {
        const r = await check(webTierRedundancy, [...subnets, instance("web-1", "web", inA)], { exempt: ["web-1"] });
        expect([r.flagged, r.waived]).toEqual([[], ["web-1"]]);
    });
});

/** A load balancer whose HAProxy sends `backend web` to these web servers (address, and whether a backup), and the servers. */
function activePassive(servers: [name: string, placement: Record<string, unknown>, ip: string, backup: boolean][]): Spec[] {
    const cfg = [
        "global",
        "defaults",
        "    mode http",
        "frontend www",
        "    bind :80",
        "    default_backend web",
        "backend web",
        ...servers.map(([name, , ip, backup]) => `    server ${name} ${ip}:80 check${backup ? " backup" : ""}`),
    ].join("\n");
    return [
        instance("lb-1", "lb", { ...inA, userData: cloudConfig({ packages: ["haproxy"], files: { "/etc/haproxy/haproxy.cfg": cfg } }) }),
        ...servers.map(([name, placement, ip]) => instance(name, "web", { ...placement, privateIp: ip })),
    ];
}

describe("redundancy-web-tier with hot spares (webMode: active-passive)", () => {
    test("one serving server and its spare in another zone pass: the spare is a second server", async () => {
        const stack = activePassive([
            ["web-1", inA, "10.0.0.10", false],
            ["web-2", inB, "10.0.1.10", true],
        ]);
        expect((await check(webTierRedundancy, [...subnets, ...stack])).found).toEqual([]);
    });

    test("a spare in the serving server's zone only: the zone's outage takes both, said of the spare", async () => {
        const stack = activePassive([
            ["web-1", inA, "10.0.0.10", false],
            ["web-2", inA, "10.0.0.11", true],
        ]);
        const r = await check(webTierRedundancy, [...subnets, ...stack]);
        expect(r.flagged).toEqual(["web-1", "web-2"]);
        expect(r.found[0]).toBe(
            "web-1: web-1 and its spare web-2 all run in eu-west-1a: one zone outage takes the site down; a spare belongs in another zone.",
        );
    });
});

describe("redundancy-web-spare-zone", () => {
    test("a spare in the zone of the serving server is flagged, naming the spare that takes over", async () => {
        const stack = activePassive([
            ["web-1", inA, "10.0.0.10", false],
            ["web-2", inB, "10.0.1.10", true],
            ["web-3", inA, "10.0.0.32", true],
        ]);
        const r = await check(webSpareZone, [...subnets, ...stack]);
        expect(r.found).toEqual([
            "web-3: web-3 is a spare in eu-west-1a, the zone of the serving web-1: an outage of eu-west-1a takes it too; web-2 in another zone take over.",
        ]);
        // Not a single point of failure: web-2 takes over.
        expect((await check(webTierRedundancy, [...subnets, ...stack])).found).toEqual([]);
    });

    test("a lone spare in the serving server's zone: no spare is left to take over", async () => {
        const stack = activePassive([
            ["web-1", inA, "10.0.0.10", false],
            ["web-2", inA, "10.0.0.11", true],
        ]);
        expect((await check(webSpareZone, [...subnets, ...stack])).found).toEqual([
            "web-2: web-2 is a spare in eu-west-1a, the zone of the serving web-1: an outage of eu-west-1a takes it too, and no spare is left to take over.",
        ]);
    });

    test("passes: spares only in the other zone, servers serving in both zones, or no spares (active-active)", async () => {
        for (const servers of [
            [
                ["web-1", inA, "10.0.0.10", false],
                ["web-2", inB, "10.0.1.10", true],
            ],
            [
                ["web-1", inA, "10.0.0.10", false],
                ["web-2", inB, "10.0.1.10", false],
                ["web-3", inA, "10.0.0.32", true],
            ],
            [
                ["web-1", inA, "10.0.0.10", false],
                ["web-2", inA, "10.0.0.11", false],
            ],
        ] as Parameters<typeof activePassive>[0][]) {
            expect((await check(webSpareZone, [...subnets, ...activePassive(servers)])).found).toEqual([]);
        }
    });

    test("unknown zones give no verdict", async () => {
        expectNoVerdict(
            await check(webSpareZone, [
                ...subnets,
                ...activePassive([
                    ["web-1", inA, "10.0.0.10", false],
                    ["web-2", { subnetId: UNKNOWN }, "10.0.1.10", true],
                ]),
            ]),
        );
    });
});
