/**
 * The prod stack (strict firewall, HTTPS, a three-node Galera cluster) on the local cloud, one booted topology for:
 * - HTTPS: HAProxy serves the certificate the setup fetched from the secret store and redirects plain HTTP;
 * - security groups: every path the site needs is open, live connections on every other path are dropped,
 *   and removing one rule from a component breaks the site as AWS would;
 * - the database's data volume: prepared by setup-db.sh, kept across a stop and start of the first node, which rejoins;
 * - the fault commands on every role.
 * Clients stand on the internet (the internet namespace) unless a test says otherwise. Bounded in time and requests.
 */
import * as fs from "fs";
import * as path from "path";
import * as container from "../../../tools/local-cloud/container";
import { haproxyServerStates, httpJson, httpRequest, sqlOn, tcpConnect } from "../../../tools/local-cloud/clients";
import { enforceSecurityGroups } from "../../../tools/local-cloud/firewall";
import { inInternet, linkIsUp } from "../../../tools/local-cloud/network";
import { injectFault, siteAddressHolder, status } from "../../../tools/local-cloud/site";
import { planProgram, planStack } from "../../../tools/preview/plan";
import { loadStackConfig, projectRoot } from "../../../tools/stackFile";
import { statsPort } from "../../../userdata/loadBalancer";
import { galeraPorts, mysqlPort } from "../../../userdata/database";
import { run } from "../../helpers";
import { describeLocalSite } from "./describeLocalCloud";
import { scratchProject } from "../../../tools/local-cloud/rolloutUnderLoad";
import { loadBalancerPairTests } from "./loadBalancerPair";

const MINUTE = 60_000;

const probe = `
import http.client, json, ssl, sys
host = sys.argv[1]
plain = http.client.HTTPConnection(host, 80, timeout=5)
plain.request("GET", "/api/status")
r = plain.getresponse()
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE  # self-signed by design; the test checks what the certificate says
tls = http.client.HTTPSConnection(host, 443, timeout=5, context=ctx)
tls.request("GET", "/api/status")
s = tls.getresponse()
cert = ssl.DER_cert_to_PEM_cert(tls.sock.getpeercert(binary_form=True))
print(json.dumps({"plainStatus": r.status, "location": r.getheader("Location"), "tlsStatus": s.status,
                  "hsts": s.getheader("Strict-Transport-Security"), "body": json.loads(s.read()),
                  "tlsVersion": tls.sock.version(), "cert": cert}))
`;

async function until(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await check())) {
        if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
        await new Promise((resolve) => setTimeout(resolve, 500));
    }
}

describeLocalSite("the prod topology on the local cloud", "prod", "fbprodtest", (site) => {
    const lbPublic = () => site().publicAddress;
    const ip = (name: string) =>
        [...site().plan.lbs, ...site().plan.web, site().plan.dbPrimary, ...site().plan.dbReplicas].find((i) => i.name === name)!.privateIp;
    const post = (body: string) => httpJson("POST", `${site().url}api/entries`, { body });

    test("HTTPS on 443 with the generated certificate, at the public address; plain HTTP redirects to it", async () => {
        expect(site().url).toBe(`https://${lbPublic()}/`);
        const r = await inInternet(["python3", "-c", probe, lbPublic()]);
        expect(r.stderr).toBe("");
        const result = JSON.parse(r.stdout);
        expect(result).toMatchObject({
            plainStatus: 301,
            location: `https://${lbPublic()}/api/status`,
            tlsStatus: 200,
            hsts: "max-age=31536000",
            // Galera: the sidecar's reader endpoint, not a replica.
            body: { database: { readFrom: "reader", replication: null } },
        });
        expect(["TLSv1.2", "TLSv1.3"]).toContain(result.tlsVersion);
        expect(result.cert).toMatch(/^-----BEGIN CERTIFICATE-----/);
        // The certificate the load balancer serves is the one fetched at boot, not one baked into an image.
        const served = await container.exec("lb-1", ["sh", "-c", "openssl x509 -noout -fingerprint -sha256 < /etc/haproxy/certs/site.pem"]);
        const presented = await inInternet(["sh", "-c", `printf '%s' "$0" | openssl x509 -noout -fingerprint -sha256`, result.cert]);
        expect(presented.stdout).toBe(served.stdout);
        expect(served.stdout).toMatch(/Fingerprint=/);
    });

    test("the certificate file is readable by root and haproxy only", async () => {
        const mode = await container.exec("lb-1", ["stat", "-c", "%a %U:%G", "/etc/haproxy/certs/site.pem"]);
        expect(mode.stdout.trim()).toBe("640 root:haproxy");
    });

    test("every path the site needs is open: internet → LB 80/443, LB → web, web → the nodes (MySQL, check), node → node", async () => {
        const paths: [Parameters<typeof tcpConnect>[0], string, number][] = [
            ["internet", lbPublic(), 80],
            ["internet", lbPublic(), 443],
            ...site().plan.web.map((w): [{ instance: string }, string, number] => [{ instance: "lb-1" }, w.privateIp, 80]),
            [{ instance: "web-1" }, ip("db-1"), mysqlPort],
            [{ instance: "web-2" }, ip("db-2"), mysqlPort],
            [{ instance: "web-1" }, ip("db-3"), galeraPorts.healthCheck],
            [{ instance: "db-2" }, ip("db-1"), mysqlPort],
            [{ instance: "db-3" }, ip("db-1"), galeraPorts.groupCommunication],
            [{ instance: "db-1" }, ip("db-2"), galeraPorts.healthCheck],
            ...site().plan.lbs.map((i): ["vpc", string, number] => ["vpc", i.privateIp, statsPort]),
        ];
        const results = await Promise.all(
            paths.map(async ([from, host, port]) => `${JSON.stringify(from)} → ${host}:${port} ${await tcpConnect(from, host, port)}`),
        );
        expect(results).toEqual(paths.map(([from, host, port]) => `${JSON.stringify(from)} → ${host}:${port} connected`));
    });

    test("live connections on paths no rule allows are dropped: internet → web and DB, LB → DB, web → web, anything → SSH", async () => {
        const paths: [Parameters<typeof tcpConnect>[0], string, number][] = [
            ["internet", ip("web-1"), 80],
            ["internet", ip("db-1"), mysqlPort],
            ["internet", ip("db-1"), galeraPorts.groupCommunication],
            ["internet", lbPublic(), statsPort],
            [{ instance: "lb-1" }, ip("db-1"), mysqlPort],
            [{ instance: "lb-1" }, ip("db-2"), galeraPorts.healthCheck],
            [{ instance: "web-1" }, ip("db-1"), galeraPorts.groupCommunication],
            [{ instance: "web-1" }, ip("web-2"), 80],
            // No adminCidr: SSH is closed everywhere, from everywhere.
            ["internet", lbPublic(), 22],
            ["vpc", ip("lb-1"), 22],
            [{ instance: "lb-1" }, ip("web-1"), 22],
            [{ instance: "web-1" }, ip("db-1"), 22],
            [{ instance: "db-1" }, ip("db-2"), 22],
        ];
        const results = await Promise.all(
            paths.map(async ([from, host, port]) => `${JSON.stringify(from)} → ${host}:${port} ${await tcpConnect(from, host, port)}`),
        );
        // "timeout", not "refused": the packet never reached the instance (nothing listens on 22 either way).
        expect(results).toEqual(paths.map(([from, host, port]) => `${JSON.stringify(from)} → ${host}:${port} timeout`));
        // An instance cannot take another's address: the source check drops what it sends.
        const spoofed = await container.exec(
            "web-2",
            [
                "sh",
                "-c",
                `ip addr add ${ip("web-1")}/32 dev eth0 && python3 -c "$0" && ip addr del ${ip("web-1")}/32 dev eth0`,
                `
import socket
s = socket.socket(); s.settimeout(3); s.bind(("${ip("web-1")}", 0))
try:
    s.connect(("${ip("db-1")}", ${mysqlPort})); print("connected")
except OSError as e:
    print("blocked")`,
            ],
            { check: false },
        );
        expect(spoofed.stdout.trim()).toBe("blocked");
    });

    test(
        "one rule removed from a component in a scratch copy (MySQL from the web tier): the local site breaks as AWS would, and heals with the rule back",
        async () => {
            const scratch = scratchProject("prod");
            try {
                const file = path.join(scratch, "components", "database.ts");
                const original = fs.readFileSync(file, "utf8");
                const edited = original.replace("[clients, peers,", "[peers,");
                expect(edited).not.toBe(original);
                fs.writeFileSync(file, edited);
                enforceSecurityGroups(await planProgram(loadStackConfig("prod", scratch), scratch));

                expect(await tcpConnect({ instance: "web-1" }, ip("db-1"), mysqlPort)).toBe("timeout");
                expect(await tcpConnect({ instance: "db-2" }, ip("db-1"), mysqlPort)).toBe("connected");
                const refused = await post("written while the web tier cannot reach the database");
                expect(refused.status).toBe(503);
                expect(String(refused.json.error)).toMatch(/writes are unavailable/);
            } finally {
                enforceSecurityGroups(await planStack("prod"));
                fs.rmSync(scratch, { recursive: true, force: true });
            }
            expect(await tcpConnect({ instance: "web-1" }, ip("db-1"), mysqlPort)).toBe("connected");
            expect((await post("written with the rule back")).status).toBe(201);
        },
        3 * MINUTE,
    );

    test(
        "db-1's data volume: prepared by setup-db.sh, and a row written through the app survives a stop and start; db-1 rejoins the cluster",
        async () => {
            const device = (await container.exec("db-1", ["findmnt", "-n", "-o", "SOURCE,FSTYPE", "/var/lib/mysql"])).stdout.trim();
            expect(device).toMatch(/^\/dev\/loop\d+ ext4$/);
            const log = (await container.exec("db-1", ["grep", "foobar-setup-db", "/var/log/cloud-init-output.log"])).stdout;
            expect(log).toContain(`formatting the new data volume ${device.split(" ")[0]} and copying the data directory onto it`);

            const written = await post("kept on the data volume");
            expect(written.status).toBe(201);
            const id = Number(written.json.id);
            await injectFault("stop", "db-1");
            expect(container.list().find((c) => c.name === "db-1")).toBeUndefined();
            await injectFault("start", "db-1");

            expect((await sqlOn("db-1", `SELECT body FROM foobar.entries WHERE id = ${id}`)).trim()).toBe("kept on the data volume");
            expect((await container.exec("db-1", ["findmnt", "-n", "-o", "SOURCE,FSTYPE", "/var/lib/mysql"])).stdout.trim()).toBe(device);
            // Formatted once: the second boot found the file system and mounted it.
            const again = (await container.exec("db-1", ["grep", "-E", "foobar-(setup-db|galera-setup)", "/var/log/cloud-init-output.log"]))
                .stdout;
            expect(again).not.toContain("formatting");
            expect(again).toMatch(/db-1 is synced in a cluster of 3 node\(s\)/);

            const after = await post("written after db-1 came back");
            expect(after.status).toBe(201);
            await until(
                "the new row is on every node",
                async () => {
                    const counts = await Promise.all(
                        ["db-1", "db-2", "db-3"].map((n) => sqlOn(n, `SELECT COUNT(*) FROM foobar.entries WHERE id = ${after.json.id}`)),
                    );
                    return counts.every((c) => c.trim() === "1");
                },
                10_000,
            );
        },
        5 * MINUTE,
    );

    test(
        "faults on every role: cut and heal the load balancer holding the address (by the npm scripts; the other takes it), crash and start a web server and a database node; status --json says so",
        async () => {
            const npm = (...args: string[]) => {
                const r = run("sh", ["-c", `LOCAL_CLOUD_NAME=fbprodtest npm run -s ${args.join(" ")}`], { cwd: projectRoot });
                expect({ args, status: r.status }).toEqual({ args, status: 0 });
                return r.stdout;
            };
            expect(await siteAddressHolder(site())).toBe("lb-1");
            expect(npm("local:cut", "--", "lb-1")).toContain("lb-1: cut off the network");
            try {
                expect(linkIsUp("lb-1")).toBe(false);
                // The pair: lb-2 takes the site's address (the pair's own suite below measures how fast).
                await until("lb-2 holds the site's address", async () => (await siteAddressHolder(site())) === "lb-2", 15_000);
                expect(await tcpConnect("internet", lbPublic(), 443)).toBe("connected");
                const cut = (JSON.parse(npm("local:status", "--", "--json")) as { name: string; networkUp: boolean }[]).filter((r) =>
                    r.name.startsWith("lb-"),
                );
                expect(cut).toMatchObject([
                    {
                        name: "lb-1",
                        role: "lb",
                        privateIp: ip("lb-1"),
                        publicIp: site().publicIps["lb-1"],
                        siteAddress: null,
                        running: true,
                        networkUp: false,
                        cloudInit: "done",
                        service: "haproxy active",
                    },
                    { name: "lb-2", siteAddress: lbPublic(), running: true, networkUp: true },
                ]);
            } finally {
                npm("local:heal", "--", "lb-1");
            }
            expect(linkIsUp("lb-1")).toBe(true);
            expect(await tcpConnect("internet", lbPublic(), 443)).toBe("connected");
            // Cut off, the load balancer's health checks failed and marked every web server down; they rise again.
            await until(
                "HAProxy sees both web servers again",
                async () => Object.values(await haproxyServerStates(site())).filter((s) => s === "UP").length === 2,
                30_000,
            );

            const before = await post("before db-3 crashed");
            await injectFault("crash", "web-1");
            await injectFault("crash", "db-3");
            const crashed = await status();
            expect(crashed.filter((r) => !r.running).map((r) => r.name)).toEqual(["db-3", "web-1"]);
            // One web server and two of the three nodes carry the site meanwhile. A crashed node holds the others'
            // commits until they evict it (about 2 s, README "The database"); the app answers 503 until then.
            let during = await post("while db-3 is down");
            await until(
                "writes are taken without db-3",
                async () => during.status === 201 || (during = await post("while db-3 is down")).status === 201,
                15_000,
            );
            const hosts = new Set<string>();
            for (let i = 0; i < 4; i++) hosts.add(String((await httpJson("GET", `${site().url}api/status`)).json.host));
            expect(hosts).toEqual(new Set(["web-2"]));

            await Promise.all([injectFault("start", "web-1"), injectFault("start", "db-3")]);
            const rows = await status();
            expect(rows.map((r) => [r.name, r.running, r.networkUp, r.cloudInit])).toEqual(
                ["db-1", "db-2", "db-3", "lb-1", "lb-2", "monitoring-1", "web-1", "web-2"].map((n) => [n, true, true, "done"]),
            );
            const ids = [before.json.id, during.json.id].join(",");
            await until(
                "db-3 catches up on its own data volume",
                async () => (await sqlOn("db-3", `SELECT COUNT(*) FROM foobar.entries WHERE id IN (${ids})`)).trim() === "2",
                30_000,
            );
            await until(
                "both web servers serve again",
                async () => {
                    const seen = new Set<string>();
                    for (let i = 0; i < 4; i++) seen.add(String((await httpJson("GET", `${site().url}api/status`)).json.host));
                    return seen.size === 2;
                },
                30_000,
            );
        },
        8 * MINUTE,
    );

    test("the fault commands refuse an unknown instance and bad arguments", async () => {
        await expect(injectFault("stop", "nosuch")).rejects.toThrow(/no instance nosuch in the prod topology/);
        const r = run("sh", ["-c", "LOCAL_CLOUD_NAME=fbprodtest npm run -s local:stop -- lb-1 web-1"], { cwd: projectRoot });
        expect(r.status).toBe(2);
        expect(r.output).toMatch(/give exactly one instance name/);
        expect((await httpRequest("GET", `${site().url}healthz`)).status).toBe(200);
    });

    // Last: they stop, crash and cut the load balancers (each comes back before the next).
    loadBalancerPairTests(site);
});
