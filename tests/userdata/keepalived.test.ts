/**
 * The load-balancer pair's keepalived: keepalived's own parser over every rendering (with the runtime file
 * setup-keepalived.sh writes), what the pair's two configurations must agree and differ on, and that a
 * single load balancer carries none of it.
 */
import { ChildProcess, spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { keepalivedPublicAddressPath, keepalivedRuntimePath } from "../../userdata/keepalived";
import { statsPort } from "../../userdata/loadBalancer";
import { run } from "../helpers";
import { cases, doc, file } from "./helpers";

const paired = cases(/^lb$/).filter(([, r]) => r.variant === "lb pair");
const single = cases(/^lb$/).filter(([, r]) => r.variant !== "lb pair");

/** An interface of this machine that VRRP may use (not loopback), as setup-keepalived.sh finds the instance's. */
const vrrpInterface = run("ip", ["-o", "link", "show"])
    .stdout.split("\n")
    .map((l) => /^\d+: ([^:@]+)/.exec(l)?.[1])
    .find((n) => n !== undefined && n !== "lo");

/**
 * `keepalived -t` over a rendering: its includes and track script moved to a directory only root may write (keepalived's
 * enable_script_security refuses scripts under a world-writable one), the runtime file as setup-keepalived.sh writes it.
 */
function checkConfig(text: string): { status: number | null; output: string } {
    const dir = fs.mkdtempSync("/run/foobar-keepalived-test-");
    try {
        const at = (p: string) => path.join(dir, path.basename(p));
        const healthy = "/usr/local/sbin/foobar-lb-healthy";
        fs.writeFileSync(at(keepalivedRuntimePath), `$INTERFACE=${vrrpInterface}\n$VRRP_PASSWORD=abcd1234\n`);
        fs.writeFileSync(at(keepalivedPublicAddressPath), file(text, keepalivedPublicAddressPath));
        fs.writeFileSync(at(healthy), file(text, healthy), { mode: 0o755 });
        const conf = at("/etc/keepalived/keepalived.conf");
        fs.writeFileSync(
            conf,
            file(text, "/etc/keepalived/keepalived.conf")
                .replace(keepalivedRuntimePath, at(keepalivedRuntimePath))
                .replace(keepalivedPublicAddressPath, at(keepalivedPublicAddressPath))
                .replace(healthy, at(healthy)),
        );
        return run("keepalived", ["-t", "-l", "-f", conf]);
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

test.each(paired)("%s: keepalived -t accepts the configuration", (_, r) => {
    const result = checkConfig(r.text);
    if (r.target === "local") {
        expect(result.output).toBe("");
        expect(result.status).toBe(0);
    } else {
        // On AWS the address moves by API, so the instance has no virtual address: keepalived 2.2.7 runs a VRRPv2
        // instance without one, and -t says so with exit 5. That complaint, and no other, is expected.
        expect(new Set(result.output.trim().split("\n"))).toEqual(new Set(["(site) No VIP specified; at least one is sensible"]));
        expect(result.status).toBe(5);
    }
});

test("keepalived -t rejects a broken configuration (the check can fail)", () => {
    const [, r] = paired.find(([, c]) => c.target === "local")!;
    const broken = r.text.replace("advert_int 1", "advert_int sometimes");
    expect(checkConfig(broken).status).not.toBe(0);
});

test("the pair's two configurations: unicast to each other, one password, lb-1 wins a tie, lb-2 starts late, neither preempts", () => {
    for (const target of ["aws", "local"]) {
        const [one, two] = ["lb-1", "lb-2"].map((name) => {
            const r = paired.find(([, c]) => c.target === target && c.name === name)![1];
            return file(r.text, "/etc/keepalived/keepalived.conf");
        });
        const setting = (conf: string, key: string) => new RegExp(`^\\s*${key} (\\S+)$`, "m").exec(conf)?.[1];
        const peer = (conf: string) => /unicast_peer \{\n\s*(\S+)\n/.exec(conf)?.[1];
        expect(setting(one, "unicast_src_ip")).toBe(peer(two));
        expect(setting(two, "unicast_src_ip")).toBe(peer(one));
        expect(Number(setting(one, "priority"))).toBeGreaterThan(Number(setting(two, "priority")));
        expect(setting(one, "vrrp_startup_delay")).toBeUndefined();
        expect(Number(setting(two, "vrrp_startup_delay"))).toBeGreaterThan(0);
        for (const conf of [one, two]) {
            expect(conf).toMatch(/^\s*state BACKUP$/m);
            expect(conf).toMatch(/^\s*nopreempt$/m);
            expect(conf).toMatch(/^\s*check_unicast_src$/m);
            expect(conf).toMatch(/^\s*auth_pass \$VRRP_PASSWORD$/m);
            expect(conf).toContain(`foobar-lb-healthy http://127.0.0.1:${statsPort}/stats`);
        }
    }
});

test.each(paired)("%s: the password is fetched at boot, never in the user-data", (_, r) => {
    const env = file(r.text, "/etc/foobar/foobar.env");
    expect(env).toMatch(/^VRRP_PASSWORD_PARAMETER="\/foobar\/dev\/lb\/vrrp-password"$/m);
    expect(r.text).not.toMatch(/auth_pass [^$]/);
    expect(doc(r.text).runcmd).toEqual([["/usr/local/sbin/foobar-setup"], ["/usr/local/sbin/foobar-setup-keepalived"]]);
    expect(doc(r.text).packages).toContain("keepalived");
});

test.each(paired)("%s: the target decides how the address moves, and nothing else", (_, r) => {
    const move = file(r.text, keepalivedPublicAddressPath);
    if (r.target === "aws") {
        expect(move).toContain('notify_master "/usr/local/sbin/foobar-take-public-address"');
        expect(move).toContain('notify_master_rx_lower_pri "/usr/local/sbin/foobar-take-public-address"');
        expect(file(r.text, "/etc/foobar/target.env")).toMatch(/^PUBLIC_ADDRESS_ALLOCATION_ID="eipalloc-/m);
    } else {
        expect(move).toMatch(/virtual_ipaddress \{\n\s*\d+\.\d+\.\d+\.\d+\/32 dev \$INTERFACE\n\s*\}/);
        expect(doc(r.text).write_files.map((f) => f.path)).not.toContain("/usr/local/sbin/foobar-take-public-address");
    }
});

test.each(single)("%s: a single load balancer has no keepalived at all", (_, r) => {
    expect(doc(r.text).packages).not.toContain("keepalived");
    expect(r.text).not.toContain("keepalived");
    expect(r.text).not.toContain("VRRP");
});

describe("the track script on a saturated host (issue 20: the pair lost its address while a busy machine booted)", () => {
    const [, lb] = paired.find(([, c]) => c.name === "lb-1")!;
    const timeoutSeconds = Number(/^\s*timeout (\d+)$/m.exec(file(lb.text, "/etc/keepalived/keepalived.conf"))?.[1]);
    let dir: string;
    let server: ChildProcess;
    let url: string;
    let busy: ChildProcess[] = [];

    beforeAll(async () => {
        dir = fs.mkdtempSync("/run/foobar-healthy-test-");
        fs.writeFileSync(path.join(dir, "healthy"), file(lb.text, "/usr/local/sbin/foobar-lb-healthy"), { mode: 0o755 });
        fs.mkdirSync(path.join(dir, "www"));
        fs.writeFileSync(path.join(dir, "www", "stats"), "ok\n");
        const port = 20000 + (process.pid % 20000);
        url = `http://127.0.0.1:${port}/stats`;
        server = spawn(
            "/usr/bin/python3",
            ["-m", "http.server", "--bind", "127.0.0.1", "--directory", path.join(dir, "www"), String(port)],
            {
                stdio: "ignore",
            },
        );
        for (let i = 0; i < 50 && run("bash", ["-c", `exec 3<>/dev/tcp/127.0.0.1/${port}`]).status !== 0; i++) {
            await new Promise((r) => setTimeout(r, 100));
        }
    });

    afterAll(() => {
        busy.forEach((b) => b.kill("SIGKILL"));
        server?.kill("SIGKILL");
        fs.rmSync(dir, { recursive: true, force: true });
    });

    test("needs a few milliseconds of CPU, not an interpreter's start, and fails when HAProxy is away (run beside four busy processes)", () => {
        expect(timeoutSeconds).toBe(1);
        busy = Array.from({ length: 4 }, () => spawn("sh", ["-c", "while :; do :; done"], { stdio: "ignore" }));
        const cpu: number[] = [];
        const wall: number[] = [];
        for (let i = 0; i < 15; i++) {
            const started = process.hrtime.bigint();
            // bash's `times` prints the CPU its children used (user, then system): the script's own cost, whatever the load.
            const result = run("bash", ["-c", '"$0" "$1" && times', path.join(dir, "healthy"), url]);
            wall.push(Number(process.hrtime.bigint() - started) / 1e9);
            expect(result.status).toBe(0);
            const [user, system] = [
                ...result.stdout
                    .trim()
                    .split("\n")
                    .pop()!
                    .matchAll(/(\d+)m([\d.]+)s/g),
            ].map((m) => Number(m[1]) * 60 + Number(m[2]));
            cpu.push(user + system);
        }
        busy.forEach((b) => b.kill("SIGKILL"));
        const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[7];
        console.log(
            `track script beside 4 busy processes: CPU median ${(median(cpu) * 1000).toFixed(0)} ms; wall median ${median(wall).toFixed(3)} s, max ${Math.max(...wall).toFixed(3)} s`,
        );
        // On a saturated host the wall time grows with the CPU a check needs: python3 with urllib needs about 48 ms here
        // (0.6-0.9 s of wall time at 95 % CPU pressure, against keepalived's 1 s), curl about 6 ms.
        expect(median(cpu)).toBeLessThan(0.02);
        expect(run(path.join(dir, "healthy"), [url.replace("/stats", "/missing")]).status).not.toBe(0);
    });
});
