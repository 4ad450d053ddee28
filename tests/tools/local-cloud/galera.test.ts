/**
 * The prod stack's Galera cluster (`database: galera`) on the local cloud: the cluster as it boots, then the
 * fault scenarios of galeraFaults.ts. A cloud of its own (fbgaleratest). Bounded in time and requests.
 */
import * as container from "../../../tools/local-cloud/container";
import { httpJson, sqlOn } from "../../../tools/local-cloud/clients";
import { healthCheck, writerNode } from "../../../tools/bench/dbFailover";
import { describeLocalSite } from "./describeLocalCloud";
import { galeraFaultTests } from "./galeraFaults";

describeLocalSite("the prod stack's Galera cluster on the local cloud", "prod", "fbgaleratest", (site) => {
    const nodes = () => [site().plan.dbPrimary, ...site().plan.dbReplicas];

    test("three nodes synced in one primary component; each web server's sidecar sends writes to db-1, and every node answers its check", async () => {
        expect(nodes().map((n) => n.name)).toEqual(["db-1", "db-2", "db-3"]);
        // One node per zone: db-3 is in the third zone's block (the VPC's secondary), reached through the VPC router.
        expect(nodes().map((n) => n.subnet.name)).toEqual(["private-a", "private-b", "private-c"]);
        expect(site().plan.cidrBlocks).toEqual(["10.0.0.0/16", "10.1.0.0/17"]);
        const route = await container.exec("db-3", ["ip", "-4", "route", "show", "default"]);
        expect(route.stdout.trim()).toMatch(/^default via 10\.1\.0\.1 dev eth0/);
        for (const n of nodes()) {
            const status = await sqlOn(
                n.name,
                "SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_cluster_size', 'wsrep_cluster_status', 'wsrep_local_state')",
            );
            expect([n.name, status.trim().split("\n").sort()]).toEqual([
                n.name,
                ["wsrep_cluster_size\t3", "wsrep_cluster_status\tPrimary", "wsrep_local_state\t4"],
            ]);
        }
        for (const w of site().plan.web) {
            expect([w.name, await writerNode(w.name)]).toEqual([w.name, "db-1"]);
            for (const n of nodes()) expect([w.name, n.name, await healthCheck(w.name, n.privateIp)]).toEqual([w.name, n.name, 200]);
        }
        // Only db-1 bootstrapped; the others joined one after another, each by a snapshot from a synced donor.
        const said = await Promise.all(
            nodes().map(async (n) => {
                const log = (await container.exec(n.name, ["journalctl", "-u", "foobar-galera", "--no-pager", "-o", "cat"])).stdout;
                return log.split("\n").find((l) => l.startsWith("foobar-galera-start: ")) ?? "";
            }),
        );
        expect(said[0]).toBe("foobar-galera-start: no Galera state here and no synced peer: starting a new cluster (galera_new_cluster)");
        expect(said[1]).toMatch(
            /^foobar-galera-start: a new node, after waiting \d+ s for the 1 node\(s\) before it to be synced: joining the cluster$/,
        );
        expect(said[2]).toMatch(
            /^foobar-galera-start: a new node, after waiting \d+ s for the 2 node\(s\) before it to be synced: joining the cluster$/,
        );
    });

    test("a write through the load balancer is on every node at once (synchronous replication), and reads see it", async () => {
        const written = await httpJson("POST", `${site().url}api/entries`, { body: "on every node" });
        expect(written.status).toBe(201);
        for (const n of nodes()) {
            expect([n.name, (await sqlOn(n.name, `SELECT body FROM foobar.entries WHERE id = ${written.json.id}`)).trim()]).toEqual([
                n.name,
                "on every node",
            ]);
        }
        const read = await httpJson("GET", `${site().url}api/entries?limit=5`);
        expect(read.status).toBe(200);
        expect((read.json.entries as { body: string }[]).map((e) => e.body)).toContain("on every node");
    });

    galeraFaultTests(site);
});
