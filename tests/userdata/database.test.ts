/** The database servers' MariaDB configuration, through the server's own option parsing. */
import * as fs from "fs";
import * as path from "path";
import * as net from "net";
import { dataDirectory, dataVolumeDropIn, galeraProvider, galeraProviderOptions, galeraSstConfigPath } from "../../userdata/database";
import { run, tempDir } from "../helpers";
import { Daemon, freePort, ScratchMariadb, waitFor } from "./daemons";
import { cases, doc, envSettings, file } from "./helpers";

test.each(cases(/^db/))("%s: mariadbd accepts the server configuration", (_, r) => {
    const dir = tempDir("mariadb");
    const cnf = path.join(dir, "60-foobar.cnf");
    fs.writeFileSync(cnf, file(r.text, "/etc/mysql/mariadb.conf.d/60-foobar.cnf"));
    const result = run("mariadbd", [`--defaults-file=${cnf}`, "--help", "--verbose"]);
    expect(result.output).not.toMatch(/unknown (variable|option)|\[ERROR\]/);
    expect(result.status).toBe(0);
    // The server really parsed our values: its effective settings show them.
    if (r.role === "db-node") {
        expect(result.output).toMatch(/^wsrep-on\s+TRUE$/m);
        expect(result.output).toMatch(/^wsrep-provider\s+\/usr\/lib\/galera\/libgalera_smm\.so$/m);
        expect(result.output).toMatch(/^wsrep-sst-method\s+mariabackup$/m);
        expect(result.output).toMatch(/^wsrep-cluster-address\s+gcomm:\/\/10\.0\.\d+\.\d+,10\.0\.\d+\.\d+,10\.1\.\d+\.\d+$/m);
        expect(result.output).toMatch(
            /^wsrep-provider-options\s+pc\.recovery=TRUE; evs\.keepalive_period=PT0\.5S; .*evs\.suspect_timeout=PT2S; /m,
        );
        expect(result.output).toMatch(/^innodb-autoinc-lock-mode\s+2$/m);
        expect(result.output).toMatch(/^read-only\s+FALSE$/m);
    } else {
        expect(result.output).toMatch(/^log-bin\s+mysql-bin$/m);
        expect(result.output).toMatch(r.role === "db-replica" ? /^read-only\s+TRUE$/m : /^read-only\s+FALSE$/m);
        expect(result.output).toMatch(/^gtid-strict-mode\s+TRUE$/m);
    }
});

test("mariadbd rejects an unknown option (the check can fail)", () => {
    const dir = tempDir("mariadb");
    fs.writeFileSync(path.join(dir, "bad.cnf"), "[mysqld]\nlog_bin_typo = 1\n");
    expect(run("mariadbd", [`--defaults-file=${path.join(dir, "bad.cnf")}`, "--help", "--verbose"]).status).not.toBe(0);
});

describe("the data volume", () => {
    // The fstab line setup-db.sh writes, for a volume of this UUID.
    const setupDb = fs.readFileSync(path.join(__dirname, "../../userdata/files/scripts/setup-db.sh"), "utf8");
    const fstabLine = /echo "(UUID=\$uuid \/var\/lib\/mysql [^"]+)" >> \/etc\/fstab/
        .exec(setupDb)![1]
        .replace("$uuid", "0b6f2a3c-1111-2222-3333-444455556666");

    /** The mount unit systemd makes of that line at boot (its real fstab generator), in a unit directory. */
    function unitsWithMount(): string {
        const dir = tempDir("data-volume");
        fs.writeFileSync(path.join(dir, "fstab"), `${fstabLine}\n`);
        const generated = path.join(dir, "generated");
        fs.mkdirSync(generated);
        const gen = run("/lib/systemd/system-generators/systemd-fstab-generator", [generated, generated, generated], {
            env: { ...process.env, SYSTEMD_FSTAB: path.join(dir, "fstab") },
        });
        expect(gen.status).toBe(0);
        return generated;
    }

    test("the fstab line alone does not order the mount before anything (nofail): the units must ask for it", () => {
        const mount = fs.readFileSync(path.join(unitsWithMount(), "var-lib-mysql.mount"), "utf8");
        expect(mount).toMatch(/^Where=\/var\/lib\/mysql$/m);
        expect(mount).toMatch(/^Options=.*\bnofail\b/m);
        expect(mount).not.toMatch(/^Before=/m);
    });

    test.each(cases(/^db/))("%s: mariadb.service requires the data volume's mount; systemd-analyze accepts it with the mount", (_, r) => {
        expect(file(r.text, dataVolumeDropIn.path)).toMatch(new RegExp(`^\\[Unit\\]\nRequiresMountsFor=${dataDirectory}$`, "m"));
        const dir = unitsWithMount();
        fs.copyFileSync("/lib/systemd/system/mariadb.service", path.join(dir, "mariadb.service"));
        fs.mkdirSync(path.join(dir, "mariadb.service.d"));
        fs.writeFileSync(path.join(dir, "mariadb.service.d", path.basename(dataVolumeDropIn.path)), file(r.text, dataVolumeDropIn.path));
        const verify = run("systemd-analyze", ["verify", "--man=no", path.join(dir, "mariadb.service")], {
            env: { ...process.env, SYSTEMD_UNIT_PATH: `${dir}:` },
        });
        expect(verify.output.split("\n").filter((l) => l.trim())).toEqual([]);
        expect(verify.status).toBe(0);
        if (r.role === "db-node")
            expect(file(r.text, "/etc/systemd/system/foobar-galera.service")).toMatch(/^RequiresMountsFor=\/var\/lib\/mysql$/m);
    });
});

describe("Galera nodes", () => {
    const galeraCases = cases(/^db-node$/);
    const checkScript = path.join(__dirname, "../../userdata/files/scripts/galera-check.sh");

    test("the galera variant renders its nodes (the suites below run)", () => {
        expect(galeraCases.map(([title]) => title)).toContain("galera db-3 (local)");
    });

    test.each(galeraCases)("%s: the Galera units pass systemd-analyze verify; the node installs galera-4 and mariabackup", (_, r) => {
        const dir = tempDir("galera-units");
        const units = [
            "foobar-galera.service",
            "foobar-galera-check.socket",
            "foobar-galera-check@.service",
            "foobar-galera-liveness.service",
            "foobar-galera-liveness.timer",
        ];
        for (const unit of units) fs.writeFileSync(path.join(dir, unit), file(r.text, `/etc/systemd/system/${unit}`));
        const verify = run("systemd-analyze", ["verify", "--man=no", ...units.map((u) => path.join(dir, u))], {
            env: { ...process.env, SYSTEMD_UNIT_PATH: `${dir}:` },
        });
        // verify complains about programs and users that exist only on the instance; nothing else.
        const complaints = verify.output
            .split("\n")
            .filter((l) => l.trim() && !/foobar-galera-(start|check|liveness)|galera_check/.test(l));
        expect(complaints).toEqual([]);
        expect(file(r.text, "/etc/systemd/system/foobar-galera-check.socket")).toMatch(/^ListenStream=9200\nAccept=yes$/m);
        expect(file(r.text, "/etc/systemd/system/foobar-galera-liveness.timer")).toMatch(/^OnActiveSec=10s\nOnUnitActiveSec=10s$/m);
        expect(file(r.text, "/etc/systemd/system/foobar-galera-liveness.service")).toMatch(
            /^ExecStart=\/usr\/local\/sbin\/foobar-galera-liveness 20$/m,
        );
        expect(doc(r.text).packages).toEqual(expect.arrayContaining(["galera-4", "mariadb-backup"]));
        // The snapshot transfer's login is written at boot from the secret store, never carried in user-data.
        expect(doc(r.text).write_files.map((f) => f.path)).not.toContain(galeraSstConfigPath);
    });

    test("exactly one node bootstraps a new cluster, and the nodes join in node order", () => {
        const env = galeraCases.filter(([, r]) => r.target === "aws").map(([, r]) => envSettings(file(r.text, "/etc/foobar/foobar.env")));
        expect(env.map((e) => [e.GALERA_NODE_NAME, e.GALERA_BOOTSTRAP, e.GALERA_JOIN_AFTER])).toEqual([
            ["db-1", "yes", "0"],
            ["db-2", "no", "1"],
            ["db-3", "no", "2"],
        ]);
        expect(env.map((e) => e.GALERA_PEERS.split(" ").length)).toEqual([2, 2, 2]);
    });

    test("the health check script passes shellcheck (bash)", () => {
        const result = run("shellcheck", ["--shell=bash", "--severity=style", checkScript]);
        expect(result.output).toBe("");
        expect(result.status).toBe(0);
    });

    /** A real one-node cluster on loopback, synced: the provider Debian ships, bootstrapped as galera_new_cluster does. */
    async function oneNodeCluster(): Promise<ScratchMariadb> {
        const node = await ScratchMariadb.create((port) => [
            "--wsrep-on=ON",
            `--wsrep-provider=${galeraProvider}`,
            "--wsrep-cluster-address=gcomm://",
            "--wsrep-new-cluster",
            // The nodes' own provider options: the provider refuses an unknown or ill-ordered one at start.
            `--wsrep-provider-options=gmcast.listen_addr=tcp://127.0.0.1:${port + 1}; ist.recv_addr=127.0.0.1:${port + 2}; ${galeraProviderOptions}`,
            "--wsrep-node-address=127.0.0.1",
            "--binlog-format=ROW",
            "--innodb-autoinc-lock-mode=2",
        ]);
        try {
            await waitFor("the node synced", () => node.statusValue("wsrep_local_state") === 4, 20000);
        } catch (err) {
            await node.remove();
            throw err;
        }
        return node;
    }

    const clientHome = (socket: string) => {
        const home = tempDir("galera-check-home");
        fs.writeFileSync(path.join(home, ".my.cnf"), `[client]\nsocket=${socket}\n`);
        return home;
    };

    /** Asks the check script, run as systemd runs it (one process per connection), over a real TCP connection. */
    async function ask(socket: string, chunks: string[]): Promise<{ answer: string; reset: boolean }> {
        const port = await freePort();
        const activator = new Daemon(
            "socket-activate",
            "systemd-socket-activate",
            ["--inetd", "-a", "-l", `127.0.0.1:${port}`, "/bin/bash", checkScript],
            {
                // The script's client finds the scratch server's socket as the instance's finds /run/mysqld/mysqld.sock: in its option files.
                env: { ...process.env, HOME: clientHome(socket) },
            },
        );
        try {
            await waitFor("the check's listener", () => /Listening on/.test(activator.output), 5000);
            return await new Promise((resolve, reject) => {
                let answer = "";
                const client = net.connect(port, "127.0.0.1");
                client.on("data", (d) => (answer += d.toString()));
                client.on("error", (err: NodeJS.ErrnoException) =>
                    err.code === "ECONNRESET" ? resolve({ answer, reset: true }) : reject(err),
                );
                client.on("end", () => resolve({ answer, reset: false }));
                client.setTimeout(8000, () => reject(new Error(`no answer; got ${JSON.stringify(answer)}`)));
                // HAProxy's `option httpchk` request, here in pieces: the script reads it whole before it answers.
                client.write(chunks[0]);
                setTimeout(() => client.write(chunks.slice(1).join("")), 300);
            });
        } finally {
            await activator.stop();
        }
    }
    const httpchk = ["OPTIONS / HTTP/1.0\r\n", "\r\n"];

    test("the health check: 503 from a server that is no Galera node, 200 from a synced node of a primary component, never a reset", async () => {
        const plain = await ScratchMariadb.create();
        try {
            const r = await ask(plain.socket, httpchk);
            expect(r.reset).toBe(false);
            expect(r.answer).toMatch(/^HTTP\/1\.1 503 Service Unavailable\r\n/);
            expect(r.answer).toMatch(/not serving: wsrep_local_state=unknown wsrep_cluster_status=Disconnected\n$/);
        } finally {
            await plain.remove();
        }
        const node = await oneNodeCluster();
        try {
            const r = await ask(node.socket, httpchk);
            expect(r).toEqual({
                answer: "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 32\r\nConnection: close\r\n\r\nsynced in the primary component\n",
                reset: false,
            });
        } finally {
            await node.remove();
        }
    }, 60000);

    describe("the liveness check (galera-liveness.sh) against real servers; systemctl is a recorder", () => {
        const livenessScript = path.join(__dirname, "../../userdata/files/scripts/galera-liveness.sh");

        /** Runs the script as the timer does, with `grace` seconds; returns what it printed and the systemctl calls it made. */
        function liveness(socket: string, grace: number, mariadbActive = true): { output: string; systemctl: string[] } {
            const bin = tempDir("liveness-bin");
            const calls = path.join(bin, "calls");
            fs.writeFileSync(
                path.join(bin, "systemctl"),
                `#!/bin/sh\necho "$*" >> ${calls}\n[ "$1" != is-active ] || exit ${mariadbActive ? 0 : 3}\n`,
                { mode: 0o755 },
            );
            const result = run("sh", [livenessScript, String(grace)], {
                env: { ...process.env, HOME: clientHome(socket), PATH: `${bin}:${process.env.PATH}` },
            });
            expect(result.status).toBe(0);
            const systemctl = fs.existsSync(calls) ? fs.readFileSync(calls, "utf8").trim().split("\n") : [];
            return { output: result.output.trim(), systemctl };
        }

        test("a synced node, a server that is no Galera node, a stopped or silent server: left alone", async () => {
            const node = await oneNodeCluster();
            try {
                expect(liveness(node.socket, 0)).toEqual({ output: "", systemctl: ["is-active --quiet mariadb"] });
            } finally {
                await node.remove();
            }
            const plain = await ScratchMariadb.create();
            try {
                // Disconnected and OFF, as a server without wsrep says: not a node, nothing to rejoin.
                expect(plain.sql("SHOW GLOBAL STATUS LIKE 'wsrep_cluster_status'")).toEqual([["wsrep_cluster_status", "Disconnected"]]);
                expect(liveness(plain.socket, 0).systemctl).toEqual(["is-active --quiet mariadb"]);
                expect(liveness(plain.socket, 0, false).systemctl).toEqual(["is-active --quiet mariadb"]);
            } finally {
                await plain.remove();
            }
            expect(liveness("/nonexistent/mysqld.sock", 0).systemctl).toEqual(["is-active --quiet mariadb"]);
        }, 60000);

        test("a node running outside its cluster for good is restarted, once its grace is over", async () => {
            const node = await oneNodeCluster();
            try {
                // Closes the node's group connection, the state Galera leaves after "node restart required".
                node.sql("SET GLOBAL wsrep_cluster_address = ''");
                expect(node.sql("SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_connected', 'wsrep_cluster_status')")).toEqual([
                    ["wsrep_cluster_status", "Disconnected"],
                    ["wsrep_connected", "OFF"],
                ]);
                expect(liveness(node.socket, 3600)).toEqual({ output: "", systemctl: ["is-active --quiet mariadb"] });
                const restarted = liveness(node.socket, 0);
                expect(restarted.systemctl).toEqual(["is-active --quiet mariadb", "restart mariadb"]);
                expect(restarted.output).toMatch(
                    /^foobar-galera-liveness: MariaDB has run for \d+ s outside its cluster \(wsrep_cluster_status Disconnected\): restarting it to rejoin\nfoobar-galera-liveness: MariaDB restarted$/,
                );
            } finally {
                await node.remove();
            }
        }, 60000);
    });
});
