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
            expect(plan.lb.subnet.public).toBe(true);
            for (const i of [...plan.web, plan.dbPrimary, ...plan.dbReplicas]) expect(i.subnet.public).toBe(isPublic);
        }
    });
});
