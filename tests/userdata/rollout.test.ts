/**
 * The rollout files an instance runs, through the real tools: the web
 * readiness marker against a loopback server, the load balancer's
 * configuration agent with the real `haproxy -c`, and their units through
 * systemd-analyze. Their markers are the ones the gates wait for.
 */
import * as fs from "fs";
import * as http from "http";
import * as path from "path";
import { spawn } from "child_process";
import { configDigest, markers } from "../../components/readiness";
import { bundledFile } from "../../userdata/files";
import { lbConfigSyncFiles, readinessFiles } from "../../userdata/rollout";
import { run, tempDir } from "../helpers";

/** Runs a shell script asynchronously (a loopback server in this process must keep answering). */
function sh(script: string, args: string[], env: Record<string, string> = {}): Promise<{ status: number | null; output: string }> {
    return new Promise((resolve) => {
        const child = spawn("/bin/sh", ["-c", script, "sh", ...args], { env: { PATH: "/usr/sbin:/usr/bin:/bin", ...env } });
        let output = "";
        child.stdout.on("data", (d) => (output += d));
        child.stderr.on("data", (d) => (output += d));
        child.on("close", (status) => resolve({ status, output }));
    });
}

describe("foobar-ready (web)", () => {
    let server: http.Server;
    let healthy = true;
    let url = "";
    beforeAll(async () => {
        server = http.createServer((req, res) => {
            res.statusCode = req.url === "/healthz" && healthy ? 200 : 503;
            res.end();
        });
        await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
        url = `http://127.0.0.1:${(server.address() as { port: number }).port}/healthz`;
    });
    afterAll(() => server.close());
    const script = bundledFile("rollout/foobar-ready.sh");

    test("prints the marker the gate waits for once the health check answers 200", async () => {
        healthy = true;
        const r = await sh(script, [url, "5"]);
        expect([r.status, r.output]).toEqual([0, `${markers.webReady.ready}\n`]);
    });

    test("prints the failure marker when it never does", async () => {
        healthy = false;
        const r = await sh(script, [url, "2"]);
        expect(r.status).toBe(1);
        expect(r.output.startsWith(`${markers.webReady.failed}:`)).toBe(true);
        expect(new RegExp(markers.webReady.pattern).exec(r.output)?.[0]).toBe(markers.webReady.failed);
    });
});

describe("foobar-lb-config (load balancer)", () => {
    const script = bundledFile("rollout/foobar-lb-config.sh");
    const valid = (algorithm: string) =>
        [
            "defaults",
            "    mode http",
            "    timeout connect 1s",
            "    timeout client 1s",
            "    timeout server 1s",
            "frontend www",
            "    bind 127.0.0.1:18080",
            "    default_backend web",
            "backend web",
            `    balance ${algorithm}`,
            "    server web-1 10.0.128.10:80 check",
            "",
        ].join("\n");

    function setup(published: string) {
        const dir = tempDir("lbconfig");
        fs.writeFileSync(path.join(dir, "published"), published);
        fs.writeFileSync(path.join(dir, "haproxy.cfg"), "# the package's default\n");
        const fetcher = path.join(dir, "fetch");
        fs.writeFileSync(fetcher, `#!/bin/sh\n[ "$1" = /foobar/test/lb/haproxy-cfg ] && cat ${dir}/published\n`, { mode: 0o755 });
        const bin = path.join(dir, "bin");
        fs.mkdirSync(bin);
        fs.writeFileSync(path.join(bin, "systemctl"), `#!/bin/sh\necho "$*" >> ${dir}/systemctl.log\n`, { mode: 0o755 });
        const args = [path.join(dir, "haproxy.cfg"), path.join(dir, "state", "digest"), fetcher];
        const env = { PATH: `${bin}:/usr/sbin:/usr/bin:/bin`, LB_CONFIG_PARAMETER: "/foobar/test/lb/haproxy-cfg" };
        const read = (f: string) => (fs.existsSync(path.join(dir, f)) ? fs.readFileSync(path.join(dir, f), "utf8") : "");
        return { dir, args, env, read };
    }

    test("installs a configuration haproxy -c accepts, reloads, and prints its digest; the same one again is a no-op", async () => {
        const { args, env, read } = setup(valid("leastconn"));
        const first = await sh(script, args, env);
        expect([first.status, first.output]).toEqual([0, `${markers.lbConfig(configDigest(valid("leastconn"))).ready}\n`]);
        expect(read("haproxy.cfg")).toBe(valid("leastconn"));
        expect(read("systemctl.log")).toBe("reload-or-restart haproxy.service\n");
        const again = await sh(script, args, env);
        expect([again.status, again.output, read("systemctl.log")]).toEqual([0, "", "reload-or-restart haproxy.service\n"]);
    });

    test("never installs a configuration haproxy -c rejects, and says so with the marker the gate fails on", async () => {
        const broken = valid("sideways");
        const { args, env, read } = setup(broken);
        const r = await sh(script, args, env);
        expect(r.status).toBe(1);
        expect(r.output).toContain(markers.lbConfig(configDigest(broken)).failed);
        expect([read("haproxy.cfg"), read("systemctl.log")]).toEqual(["# the package's default\n", ""]);
    });

    test("a parameter it cannot read yet leaves everything as it is, for the next tick", async () => {
        const { args, env, read } = setup(valid("roundrobin"));
        const r = await sh(script, args, { ...env, LB_CONFIG_PARAMETER: "/foobar/other" });
        expect([r.status, read("haproxy.cfg"), read("systemctl.log")]).toEqual([1, "# the package's default\n", ""]);
        expect(r.output).toMatch(/cannot read \/foobar\/other yet/);
    });
});

test("shellcheck passes the scripts, and systemd-analyze the units", () => {
    for (const f of [...readinessFiles(), ...lbConfigSyncFiles()]) {
        const dir = tempDir("rollout-files");
        const p = path.join(dir, path.basename(f.path));
        fs.writeFileSync(p, f.content);
        if (f.content.startsWith("#!/bin/sh")) {
            expect(run("shellcheck", ["--shell=sh", "--severity=style", "--exclude=SC1091", p]).output).toBe("");
        } else {
            // verify complains only about the programs that exist on the instance alone.
            const complaints = run("systemd-analyze", ["verify", "--man=no", p])
                .output.split("\n")
                .filter((l) => l.trim() && !/\/usr\/local\/sbin\/foobar-|nginx\.service|foobar-app\.service|haproxy\.service/.test(l));
            expect([f.path, complaints]).toEqual([f.path, []]);
        }
    }
});
