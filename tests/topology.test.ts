import { cidrContains } from "../policies/lib/resources";
import {
    allInstances,
    endpointAddresses,
    galeraZoneWarning,
    planTopology,
    regionZoneFilters,
    TopologyPlan,
    webRolloutOrder,
} from "../topology";
import { parseConfig, projectSettings } from "../config";
import { loadStackConfig } from "../tools/stackFile";
import { devConfig } from "./helpers";
import { mockRegionZones } from "../tools/preview/mocks";

describe("planTopology", () => {
    test.each([1, 2, 5, 20])("webCount %i: that many web servers, spread over both AZs when there are two or more", (n) => {
        const plan = planTopology(devConfig({ webCount: String(n) }), mockRegionZones);
        expect(plan.web).toHaveLength(n);
        expect(new Set(plan.web.map((w) => w.subnet.az)).size).toBe(Math.min(n, 2));
    });

    test.each([0, 1, 3, 5])("replicaCount %i: one primary and that many replicas, the first in the other AZ", (n) => {
        const plan = planTopology(devConfig({ replicaCount: String(n) }), mockRegionZones);
        expect(plan.dbReplicas).toHaveLength(n);
        if (n > 0) expect(plan.dbReplicas[0].subnet.az).not.toBe(plan.dbPrimary.subnet.az);
        expect(endpointAddresses(plan)[plan.endpoints.reader]).toEqual(
            n > 0 ? plan.dbReplicas.map((r) => r.privateIp) : [plan.dbPrimary.privateIp],
        );
    });

    test("addresses are unique and inside their subnets, even at the limits of a /24 VPC", () => {
        const plan = planTopology(
            devConfig({ vpcCidr: "192.168.10.0/24", webCount: "20", replicaCount: "5", firewall: "strict" }),
            mockRegionZones,
        );
        const ips = allInstances(plan).map((i) => i.privateIp);
        expect(new Set(ips).size).toBe(ips.length);
        for (const i of allInstances(plan)) {
            const [base, prefix] = i.subnet.cidr.split("/");
            const toInt = (ip: string) => ip.split(".").reduce((a, o) => a * 256 + Number(o), 0);
            const offset = toInt(i.privateIp) - toInt(base);
            expect(offset).toBeGreaterThanOrEqual(4);
            expect(offset).toBeLessThan(2 ** (32 - Number(prefix)) - 1);
        }
    });

    test("strict puts web and database servers in private subnets; open (the whiteboard) in public ones", () => {
        for (const [firewall, isPublic] of [
            ["strict", false],
            ["open", true],
        ] as const) {
            const plan = planTopology(devConfig({ firewall }), mockRegionZones);
            expect(plan.lbs[0].subnet.public).toBe(true);
            for (const i of [...plan.web, plan.dbPrimary, ...plan.dbReplicas]) expect(i.subnet.public).toBe(isPublic);
        }
    });
});

describe("addresses never move", () => {
    const addresses = (overrides: Record<string, string>) =>
        Object.fromEntries(allInstances(planTopology(devConfig(overrides), mockRegionZones)).map((i) => [i.name, i.privateIp]));

    // The addresses the dev and prod stacks run with: a fixed private address is ForceNew, so a change here replaces them.
    test.each([
        [
            "dev",
            "open",
            { "lb-1": "10.0.0.10", "web-1": "10.0.0.11", "web-2": "10.0.64.10", "db-primary": "10.0.0.12", "db-replica-1": "10.0.64.11" },
        ],
        [
            "prod",
            "strict",
            {
                "lb-1": "10.0.0.10",
                "web-1": "10.0.128.10",
                "web-2": "10.0.192.10",
                "db-primary": "10.0.128.11",
                "db-replica-1": "10.0.192.11",
            },
        ],
    ])("the %s stack (firewall %s) keeps the addresses its instances have", (_, firewall, expected) => {
        expect(addresses({ firewall, webCount: "2", replicaCount: "1" })).toEqual(expected);
    });

    test.each(["open", "strict"])(
        "firewall %s: every server's address depends on its own name only, never on webCount or replicaCount",
        (firewall) => {
            const seen = new Map<string, string>();
            const grants = new Set<string>();
            for (let webCount = 1; webCount <= 20; webCount++) {
                for (let replicaCount = 0; replicaCount <= 5; replicaCount++) {
                    const plan = planTopology(
                        devConfig({ firewall, webCount: String(webCount), replicaCount: String(replicaCount) }),
                        mockRegionZones,
                    );
                    for (const i of allInstances(plan)) {
                        expect([i.name, i.privateIp]).toEqual([i.name, seen.get(i.name) ?? i.privateIp]);
                        seen.set(i.name, i.privateIp);
                    }
                    grants.add(JSON.stringify(plan.grants));
                }
            }
            expect(seen.size).toBe(1 + 20 + 1 + 5);
            expect(grants.size).toBe(1);
        },
    );

    test.each(["open", "strict"])("firewall %s: the grant blocks hold every address its tier can get and no other server's", (firewall) => {
        const plan = planTopology(devConfig({ firewall, webCount: "20", replicaCount: "5" }), mockRegionZones);
        const inBlocks = (ip: string, blocks: string[]) => blocks.some((b) => cidrContains(b, ip));
        for (const i of allInstances(plan)) {
            expect([i.name, inBlocks(i.privateIp, plan.grants.web)]).toEqual([i.name, i.role === "web"]);
            expect([i.name, inBlocks(i.privateIp, plan.grants.replicas)]).toEqual([i.name, i.role === "db-replica"]);
        }
    });
});

describe("the load-balancer pair", () => {
    test("lbCount 2 adds lb-2 in the second AZ's public subnet, at an address no other tier takes in either firewall mode", () => {
        for (const firewall of ["strict", "open"]) {
            const plan = planTopology(
                devConfig({ firewall, lbCount: "2", webCount: "20", replicaCount: "5", monitoring: "true" }),
                mockRegionZones,
            );
            expect(plan.lbs.map((i) => [i.name, i.subnet.name, i.privateIp])).toEqual([
                ["lb-1", "public-a", "10.0.0.10"],
                ["lb-2", "public-b", "10.0.64.9"],
            ]);
            const addresses = allInstances(plan).map((i) => i.privateIp);
            expect(new Set(addresses).size).toBe(addresses.length);
        }
        // lb-1 keeps its address: a stack that grows a pair does not move it.
        expect(planTopology(devConfig({ lbCount: "1" }), mockRegionZones).lbs.map((i) => i.privateIp)).toEqual(["10.0.0.10"]);
    });
});

describe("database: galera", () => {
    const galera = (overrides: Record<string, string> = {}, regionZones = mockRegionZones) =>
        planTopology(devConfig({ database: "galera", replicaCount: "", firewall: "strict", ...overrides }), regionZones);
    const nodesOf = (plan: TopologyPlan) => [plan.dbPrimary, ...plan.dbReplicas];

    test.each([3, 5])(
        "dbNodeCount %i: nodes db-1 ... over three AZs, each address a function of its name; the app's endpoints are the sidecar's",
        (n) => {
            const plan = galera({ dbNodeCount: String(n) });
            const nodes = nodesOf(plan);
            expect(nodes.map((i) => [i.name, i.role])).toEqual(Array.from({ length: n }, (_, k) => [`db-${k + 1}`, "db-node"]));
            // No zone holds a majority: losing any one leaves a quorum.
            const perZone = [0, 1, 2].map((az) => nodes.filter((i) => i.subnet.az === az).length);
            expect(perZone).toEqual(n === 3 ? [1, 1, 1] : [2, 2, 1]);
            for (const count of perZone) expect(n - count).toBeGreaterThan(n / 2);
            // Each node in the Galera block (+56) of its subnet, apart from every replication server; db-3 is in zone c.
            expect(Object.fromEntries(nodes.slice(0, 3).map((i) => [i.name, [i.privateIp, i.subnet.name]]))).toEqual({
                "db-1": ["10.0.128.56", "private-a"],
                "db-2": ["10.0.192.56", "private-b"],
                "db-3": ["10.1.64.56", "private-c"],
            });
            expect(plan.endpoints).toEqual({ writer: "127.0.0.1", reader: "127.0.0.2" });
            expect(endpointAddresses(plan)).toEqual({});
            const ips = allInstances(plan).map((i) => i.privateIp);
            expect(new Set(ips).size).toBe(ips.length);
        },
    );

    // Switching database creates the new servers before it deletes the old ones, and AWS refuses an address in use.
    test.each(["dev", "prod"])("%s: no Galera node takes an address any replication server could have, in any layout", (stack) => {
        const base = loadStackConfig(stack).config;
        const config = (overrides: Record<string, string>) => {
            const raw: Record<string, string> = { ...projectSettings("foobar", base) } as Record<string, string>;
            for (const k of ["database", "replicaCount", "dbNodeCount", "thirdZoneCidr"]) delete raw[k];
            return parseConfig(stack, base["aws:region"], { ...raw, ...overrides });
        };
        const dbAddresses = (plan: TopologyPlan) => nodesOf(plan).map((i) => `${i.privateIp} (${i.name})`);
        const replication = [0, 1, 2, 3, 4, 5].flatMap((n) =>
            [2, 3].flatMap((zones) => dbAddresses(planTopology(config({ database: "replication", replicaCount: String(n) }), zones))),
        );
        const galeraNodes = ["3", "5"].flatMap((n) =>
            ["", "none"].flatMap((third) =>
                [2, 3].flatMap((zones) =>
                    dbAddresses(
                        planTopology(config({ database: "galera", dbNodeCount: n, ...(third ? { thirdZoneCidr: third } : {}) }), zones),
                    ),
                ),
            ),
        );
        const ip = (a: string) => a.split(" ")[0];
        const replicationIps = new Set(replication.map(ip));
        expect(galeraNodes.filter((a) => replicationIps.has(ip(a)))).toEqual([]);
        expect(replication.length).toBeGreaterThan(0);
        expect(galeraNodes.length).toBeGreaterThan(0);
    });

    test("the third zone's subnets are the halves of thirdZoneCidr, a block of the VPC; other tiers keep to two zones", () => {
        const plan = galera({ webCount: "20", lbCount: "2", monitoring: "true" });
        expect(plan.cidrBlocks).toEqual(["10.0.0.0/16", "10.1.0.0/17"]);
        expect(plan.databaseZones).toBe(3);
        expect(plan.subnets.filter((s) => s.az === 2)).toEqual([
            { name: "public-c", cidr: "10.1.0.0/18", az: 2, public: true },
            { name: "private-c", cidr: "10.1.64.0/18", az: 2, public: false },
        ]);
        for (const i of allInstances(plan).filter((i) => i.name !== "db-3")) expect(i.subnet.az).toBeLessThan(2);
        for (const i of allInstances(plan)) expect(cidrContains(i.subnet.cidr, i.privateIp)).toBe(true);
        // The whiteboard's open firewall puts db-3 in the public half.
        expect(galera({ firewall: "open" }).dbReplicas[1]).toMatchObject({ privateIp: "10.1.0.56", subnet: { name: "public-c" } });
    });

    test("every other instance keeps its address and subnet whether the region has two zones or three", () => {
        const where = (plan: TopologyPlan) =>
            Object.fromEntries(allInstances(plan).map((i) => [i.name, `${i.privateIp} ${i.subnet.name}`]));
        for (const n of ["3", "5"]) {
            const [two, three] = [2, 3].map((zones) => where(galera({ dbNodeCount: n, lbCount: "2" }, zones)));
            expect({ ...three, "db-3": undefined }).toEqual({ ...two, "db-3": undefined });
        }
    });

    test("a region with two zones for this account: the nodes alternate over two, the VPC keeps one block, and pulumi up says what that costs", () => {
        const plan = galera({}, 2);
        expect(plan.databaseZones).toBe(2);
        expect(plan.cidrBlocks).toEqual(["10.0.0.0/16"]);
        expect(plan.subnets.map((s) => s.name)).toEqual(["public-a", "public-b", "private-a", "private-b"]);
        expect(nodesOf(plan).map((i) => i.privateIp)).toEqual(["10.0.128.56", "10.0.192.56", "10.0.128.57"]);
        const config = devConfig({ database: "galera", replicaCount: "" });
        expect(galeraZoneWarning(config, plan, 2)).toMatch(
            /offers this account 2 availability zones.*losing zone a \(db-1, db-3: a majority\) stops writes.*pc\.bootstrap.*losing zone b does not/,
        );
        expect(galeraZoneWarning(config, galera(), 3)).toBeUndefined();
        // The stack file may keep two zones in a region with three.
        const none = devConfig({ database: "galera", replicaCount: "", firewall: "strict", thirdZoneCidr: "none" });
        const twoOfThree = planTopology(none, 3);
        expect(twoOfThree.cidrBlocks).toEqual(["10.0.0.0/16"]);
        expect(nodesOf(twoOfThree).map((i) => i.privateIp)).toEqual(nodesOf(plan).map((i) => i.privateIp));
        expect(galeraZoneWarning(none, twoOfThree, 3)).toMatch(/^thirdZoneCidr is none, so the Galera nodes alternate over two/);
        expect(galeraZoneWarning(devConfig(), planTopology(devConfig(), 2), 2)).toBeUndefined();
        expect(() => galeraZoneWarning(devConfig(), planTopology(devConfig(), 1), 1)).toThrow(
            /offers this account 1 availability zone.*aws:region/,
        );
    });

    test("the zones asked for are availability zones proper (Local and Wavelength Zones are opt-in), whatever their state", () => {
        expect(regionZoneFilters).toEqual({ filters: [{ name: "opt-in-status", values: ["opt-in-not-required"] }] });
    });
});

describe("webMode", () => {
    test("active-active: no spares, the plan's order", () => {
        const plan = planTopology(devConfig({ webCount: "3" }), mockRegionZones);
        expect(plan.webSpares).toEqual([]);
        expect(webRolloutOrder(plan).map((w) => w.name)).toEqual(["web-1", "web-2", "web-3"]);
    });

    test("active-passive: the servers after the first webActiveCount are spares, the first in the other zone, and roll out first", () => {
        const one = planTopology(devConfig({ webMode: "active-passive", webCount: "3" }), mockRegionZones);
        expect(one.webSpares).toEqual(["web-2", "web-3"]);
        expect(one.web.find((w) => w.name === "web-2")!.subnet.az).not.toBe(one.web.find((w) => w.name === "web-1")!.subnet.az);
        expect(webRolloutOrder(one).map((w) => w.name)).toEqual(["web-2", "web-3", "web-1"]);
        const two = planTopology(devConfig({ webMode: "active-passive", webCount: "5", webActiveCount: "2" }), mockRegionZones);
        expect(two.webSpares).toEqual(["web-3", "web-4", "web-5"]);
        expect(webRolloutOrder(two).map((w) => w.name)).toEqual(["web-3", "web-4", "web-5", "web-1", "web-2"]);
        // Addresses follow names only: the mode moves no server.
        expect(two.web).toEqual(planTopology(devConfig({ webCount: "5" }), mockRegionZones).web);
    });
});
