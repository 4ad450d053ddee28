/**
 * Real clients: HTTP (python3 urllib) and wrk from the internet namespace, where users stand
 * (or from the VPC namespace, at the router's address), SQL (mariadb) inside an instance.
 */
import * as container from "./container";
import { inInternet, inVpc } from "./network";
import type { LocalSite } from "./site";
import { statsPort } from "../../userdata/loadBalancer";

// The site's certificate is self-signed by design: these clients ask whether it answers, not whom to trust
// (tests/tools/local-cloud/prod.test.ts checks the certificate itself).
const httpScript = `
import json, ssl, sys, urllib.request, urllib.error
method, url, body, timeout = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
req = urllib.request.Request(url, method=method, data=body.encode() if body else None,
                             headers={"Content-Type": "application/json", "Accept": "application/json"})
try:
    with urllib.request.urlopen(req, timeout=timeout, context=ssl._create_unverified_context()) as r:
        status, text = r.status, r.read().decode()
except urllib.error.HTTPError as e:
    status, text = e.code, e.read().decode()
print(json.dumps({"status": status, "body": text}))
`;

/** Where a client runs: the internet namespace (a user), or the VPC namespace (a host inside the VPC with no security group). */
export type ClientPlace = "internet" | "vpc";

/** One HTTP request, from the internet unless said otherwise; throws when no answer comes (refused, timed out). */
export async function httpRequest(
    method: string,
    url: string,
    opts: { body?: string; timeoutSeconds?: number; from?: ClientPlace } = {},
): Promise<{ status: number; text: string }> {
    const timeout = opts.timeoutSeconds ?? 10;
    const runIn = opts.from === "vpc" ? inVpc : inInternet;
    const r = await runIn(["python3", "-c", httpScript, method, url, opts.body ?? "", String(timeout)], (timeout + 20) * 1000);
    if (r.code !== 0) throw new Error(`${method} ${url} failed: ${r.stderr.trim().split("\n").slice(-1)[0]}`);
    const { status, body } = JSON.parse(r.stdout) as { status: number; body: string };
    return { status, text: body };
}

export async function httpJson(method: string, url: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
    const { status, text } = await httpRequest(method, url, { body: body === undefined ? undefined : JSON.stringify(body) });
    let json: Record<string, unknown>;
    try {
        json = JSON.parse(text);
    } catch {
        json = { text };
    }
    return { status, json };
}

/** Runs SQL as the instance's root (unix socket) and returns the tab-separated result without headers. */
export async function sqlOn(instance: string, sql: string): Promise<string> {
    return (await container.exec(instance, ["mariadb", "-N", "-B", "-e", sql], { timeoutMs: 15_000 })).stdout;
}

export async function replicationStatus(instance: string): Promise<Record<string, string>> {
    const text = (await container.exec(instance, ["mariadb", "-e", "SHOW SLAVE STATUS\\G"], { timeoutMs: 15_000 })).stdout;
    return Object.fromEntries([...text.matchAll(/^\s*(\w+): (.*)$/gm)].map((m) => [m[1], m[2]]));
}

/** Server name → status (UP, DOWN, ...) of the `web` backend of a load balancer (lb-1 unless named), from HAProxy's CSV stats (open to the VPC only). */
export async function haproxyServerStates(site: LocalSite, lb = site.plan.lbs[0].name): Promise<Record<string, string>> {
    const address = site.plan.lbs.find((i) => i.name === lb)?.privateIp;
    if (!address) throw new Error(`no load balancer ${lb} in the ${site.stack} topology`);
    let csv: string;
    try {
        csv = (await httpRequest("GET", `http://${address}:${statsPort}/stats;csv`, { timeoutSeconds: 2, from: "vpc" })).text;
    } catch {
        return {};
    }
    const [header, ...rows] = csv
        .replace(/^# /, "")
        .trim()
        .split("\n")
        .map((l) => l.split(","));
    const col = (name: string) => header.indexOf(name);
    return Object.fromEntries(
        rows
            .filter((row) => row[col("pxname")] === "web" && row[col("svname")] !== "BACKEND")
            .map((row) => [row[col("svname")], row[col("status")].split(" ")[0]]),
    );
}

export interface WrkResult {
    requests: number;
    failed: number;
    /** wrk's own error lines, for telling timeouts from refused connections from bad answers. */
    errors: string;
    requestsPerSecond: number;
    latencyMs: { p50: number; p99: number };
}

const toMs = (v: string) => {
    const m = /^([\d.]+)(us|ms|s)$/.exec(v.trim());
    if (!m) return NaN;
    return Number(m[1]) * ({ us: 0.001, ms: 1, s: 1000 } as Record<string, number>)[m[2]];
};

/** wrk in the internet namespace (or the VPC's), bounded in time; counts every socket error and non-2xx/3xx answer as failed. */
export async function wrk(
    url: string,
    opts: { seconds: number; connections: number; threads?: number; from?: ClientPlace },
): Promise<WrkResult> {
    const r = await (opts.from === "vpc" ? inVpc : inInternet)(
        ["wrk", `-t${opts.threads ?? 2}`, `-c${opts.connections}`, `-d${opts.seconds}s`, "--timeout", "10s", "--latency", url],
        (opts.seconds + 30) * 1000,
    );
    if (r.code !== 0) throw new Error(`wrk failed: ${r.stderr || r.stdout}`);
    const out = r.stdout;
    const num = (re: RegExp) => Number(re.exec(out)?.[1] ?? 0);
    const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
    const socketErrors = socket ? socket.slice(1).reduce((a, n) => a + Number(n), 0) : 0;
    return {
        requests: num(/(\d+) requests in/),
        failed: socketErrors + num(/Non-2xx or 3xx responses: (\d+)/),
        errors: out
            .split("\n")
            .filter((l) => /Socket errors|Non-2xx/.test(l))
            .map((l) => l.trim())
            .join("; "),
        requestsPerSecond: num(/Requests\/sec:\s+([\d.]+)/),
        latencyMs: { p50: toMs(/^\s+50%\s+(\S+)$/m.exec(out)?.[1] ?? ""), p99: toMs(/^\s+99%\s+(\S+)$/m.exec(out)?.[1] ?? "") },
    };
}

const connectScript = `
import socket, sys
s = socket.socket()
s.settimeout(float(sys.argv[3]))
try:
    s.connect((sys.argv[1], int(sys.argv[2])))
    print("connected")
except ConnectionRefusedError:
    print("refused")
except (socket.timeout, TimeoutError):
    print("timeout")
except OSError as e:
    print("error " + str(e))
`;

/**
 * One live TCP connection attempt from the internet, the VPC namespace or an instance: "connected",
 * "refused" (a host answered: nothing listens), "timeout" (dropped on the way) or "error ...".
 */
export async function tcpConnect(
    from: ClientPlace | { instance: string },
    host: string,
    port: number,
    timeoutSeconds = 3,
): Promise<string> {
    const cmd = ["python3", "-c", connectScript, host, String(port), String(timeoutSeconds)];
    const timeoutMs = (timeoutSeconds + 20) * 1000;
    const r =
        from === "internet"
            ? await inInternet(cmd, timeoutMs)
            : from === "vpc"
              ? await inVpc(cmd, timeoutMs)
              : await container.exec(from.instance, cmd, { check: false, timeoutMs });
    if (r.code !== 0) throw new Error(`connection probe to ${host}:${port} failed: ${r.stderr.trim()}`);
    return r.stdout.trim();
}
