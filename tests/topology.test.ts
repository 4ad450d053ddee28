import { cidrContains } from "../policies/lib/resources";
import { allInstances, endpointAddresses, planTopology } from "../topology";
import { devConfig } from "./helpers";

describe("planTopology", () => {
    test.each([1, 2, 5, 20])("webCount %i: that many web servers, spread over both AZs when there are two or more", (n) => {
        const plan = planTopology(devConfig({ webCount: String(n) }));
        expect(plan.web).toHaveLength(n);
        expect(new Set(plan.web.map((w) => w.subnet.az)).size).toBe(Math.min(n, 2));
    });

    test.each([0, 1, 3, 5])("replicaCount %i: one primary and that many replicas, the first in the other AZ", (n) => {
        const plan = planTopology(devConfig({ replicaCount: String(n) }));
        expect(plan.dbReplicas).toHaveLength(n);
        if (n > 0) expect(plan.dbReplicas[0].subnet.az).not.toBe(plan.dbPrimary.subnet.az);
        expect(endpointAddresses(plan)[plan.endpoints.reader]).toEqual(
            n > 0 ? plan.dbReplicas.map((r) => r.privateIp) : [plan.dbPrimary.privateIp],
        );
    });

    test("addresses are unique and inside their subnets, even at the limits of a /24 VPC", () => {
        const plan = planTopology(devConfig({ vpcCidr: "192.168.10.0/24", webCount: "20", replicaCount: "5", firewall: "strict" }));
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
            const plan = planTopology(devConfig({ firewall }));
            expect(plan.lbs[0].subnet.public).toBe(true);
            for (const i of [...plan.web, plan.dbPrimary, ...plan.dbReplicas]) expect(i.subnet.public).toBe(isPublic);
        }
    });
});

describe("addresses never move", () => {
    const addresses = (overrides: Record<string, string>) =>
        Object.fromEntries(allInstances(planTopology(devConfig(overrides))).map((i) => [i.name, i.privateIp]));

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
                    const plan = planTopology(devConfig({ firewall, webCount: String(webCount), replicaCount: String(replicaCount) }));
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
        const plan = planTopology(devConfig({ firewall, webCount: "20", replicaCount: "5" }));
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
            const plan = planTopology(devConfig({ firewall, lbCount: "2", webCount: "20", replicaCount: "5", monitoring: "true" }));
            expect(plan.lbs.map((i) => [i.name, i.subnet.name, i.privateIp])).toEqual([
                ["lb-1", "public-a", "10.0.0.10"],
                ["lb-2", "public-b", "10.0.64.9"],
            ]);
            const addresses = allInstances(plan).map((i) => i.privateIp);
            expect(new Set(addresses).size).toBe(addresses.length);
        }
        // lb-1 keeps its address: a stack that grows a pair does not move it.
        expect(planTopology(devConfig({ lbCount: "1" })).lbs.map((i) => i.privateIp)).toEqual(["10.0.0.10"]);
    });
});

describe("database: galera", () => {
    test.each([3, 5])(
        "dbNodeCount %i: nodes db-1 ... over both AZs, each address a function of its name; the app's endpoints are the sidecar's",
        (n) => {
            const plan = planTopology(devConfig({ database: "galera", replicaCount: "", dbNodeCount: String(n), firewall: "strict" }));
            const nodes = [plan.dbPrimary, ...plan.dbReplicas];
            expect(nodes.map((i) => [i.name, i.role])).toEqual(Array.from({ length: n }, (_, k) => [`db-${k + 1}`, "db-node"]));
            expect(new Set(nodes.map((i) => i.subnet.az))).toEqual(new Set([0, 1]));
            // The addresses prod's nodes have (a fixed private address is ForceNew): 5 nodes keep the first three's.
            expect(Object.fromEntries(nodes.slice(0, 3).map((i) => [i.name, i.privateIp]))).toEqual({
                "db-1": "10.0.128.11",
                "db-2": "10.0.192.11",
                "db-3": "10.0.128.48",
            });
            expect(plan.endpoints).toEqual({ writer: "127.0.0.1", reader: "127.0.0.2" });
            expect(endpointAddresses(plan)).toEqual({});
            const ips = allInstances(plan).map((i) => i.privateIp);
            expect(new Set(ips).size).toBe(ips.length);
        },
    );
});
