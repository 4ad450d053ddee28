/**
 * One web server failing, in each way a user's server fails, under a steady load through the load
 * balancer's public address (steadyLoad.py, from the internet namespace): what clients saw, when HAProxy
 * took the server out, and when it was back, by itself or once healed. The local-cloud suite asserts
 * bounds on these figures; `npm run bench:local` records them.
 */
import * as fs from "fs";
import * as path from "path";
import * as container from "../local-cloud/container";
import { haproxyServerStates, sqlOn } from "../local-cloud/clients";
import { inInternet } from "../local-cloud/network";
import { injectFault, LocalSite } from "../local-cloud/site";
import { cloudName, processes, sleep } from "../local-cloud/util";

export const webFaults = ["disk-full", "nginx-killed", "app-killed", "app-hanging", "host-frozen", "network-cut", "clean-stop"] as const;
export type WebFault = (typeof webFaults)[number];

interface FaultSpec {
    /** What happens to the server, in words. */
    what: string;
    /** Done before the load starts, when the fault takes long to set up. */
    prepare?(name: string): Promise<void>;
    inject(name: string): Promise<void>;
    /** Undoes the fault; absent when the server heals itself (its daemons restart). */
    heal?(name: string): Promise<void>;
    /** The unit whose restart by systemd is measured, for the faults that kill a daemon. */
    restartedUnit?: string;
    /** Seconds of load; long enough that the server's return happens under load too (except a reboot). */
    loadSeconds: number;
}

/** How long a fault that a person (or the platform) ends lasts: longer than HAProxy needs to mark the server down. */
const holdMs = 6000;
/** The load runs this long before the fault: the requests of this window are the usual latency. */
const beforeFaultMs = 3000;

const sh = (name: string, script: string) => container.exec(name, ["sh", "-c", script], { timeoutMs: 30_000 });
const mainPid = (unit: string) => `"$(systemctl show -p MainPID --value ${unit})"`;

const faults: Record<WebFault, FaultSpec> = {
    "disk-full": {
        what: "its root file system filled to the last byte",
        prepare: (name) => fillDisk(name, 64 * 2 ** 20),
        inject: (name) => fillDisk(name, 0),
        heal: (name) => sh(name, `rm -f ${fillFile}-*`).then(() => undefined),
        loadSeconds: 15,
    },
    "nginx-killed": {
        what: "every nginx process killed (SIGKILL, no shutdown)",
        inject: (name) => sh(name, "systemctl kill --signal=SIGKILL nginx.service").then(() => undefined),
        restartedUnit: "nginx.service",
        loadSeconds: 15,
    },
    "app-killed": {
        what: "the gunicorn master killed (SIGKILL), its workers orphaned",
        inject: (name) => sh(name, `kill -KILL ${mainPid("foobar-app.service")}`).then(() => undefined),
        restartedUnit: "foobar-app.service",
        loadSeconds: 15,
    },
    "app-hanging": {
        what: "every gunicorn worker stopped (SIGSTOP): the socket accepts, nothing answers",
        inject: (name) => sh(name, `kill -STOP $(ps -o pid= --ppid ${mainPid("foobar-app.service")})`).then(() => undefined),
        // gunicorn's master kills a worker silent for its timeout (10 s) and starts a new one.
        loadSeconds: 20,
    },
    "host-frozen": {
        what: "every process of the instance frozen (cgroup freezer)",
        inject: freeze,
        heal: thaw,
        loadSeconds: 15,
    },
    "network-cut": {
        what: "its network cut (bridge port down, as local:cut)",
        inject: (name) => injectFault("cut", name),
        heal: (name) => injectFault("heal", name),
        loadSeconds: 15,
    },
    "clean-stop": {
        what: "shut down cleanly (as local:stop), booted again after the load",
        inject: (name) => injectFault("stop", name),
        heal: (name) => injectFault("start", name),
        loadSeconds: 15,
    },
};

export function describeFault(fault: WebFault): string {
    return faults[fault].what;
}

export interface LatencyMs {
    p50: number;
    p99: number;
    max: number;
}

export interface WebFaultFigures {
    fault: WebFault;
    server: string;
    gets: number;
    failedGets: number;
    /** The distinct ways GETs failed (status and message, or the client's error). */
    getErrors: string[];
    /** Requests (GET and POST) sent before the fault. */
    usualMs: LatencyMs;
    /** Every request of the run, GET and POST. */
    allMs: LatencyMs;
    /** The slowest request less the usual p99. */
    overUsualMs: number;
    posts: number;
    acknowledgedPosts: number;
    /** Writes answered with an error: status and message. */
    postErrors: string[];
    /** Rows the writes of this run left on the primary; each body once at most. */
    rowsStored: number;
    duplicatedRows: number;
    acknowledgedMissing: number;
    /** From the fault until HAProxy showed the server DOWN; null if it never did. */
    markedDownMs: number | null;
    /** From the fault until systemd had the killed daemon running again (faults that kill a daemon). */
    restartedMs: number | null;
    /** Until HAProxy showed the server UP again: from the fault when it healed itself, else from the end of the heal (network back, thawed, booted). */
    rejoinedMs: number | null;
    /** Whether the server came back by itself, without a heal. */
    selfHealed: boolean;
}

export interface LoadRecord {
    kind: "GET" | "POST";
    startMs: number;
    ms: number;
    /** An HTTP status below 400, or the failure: status and message, or the client's error. */
    outcome: number | string;
    body: string | null;
}

/** The value below which p percent of the sorted values fall (nearest rank). */
export function percentile(sorted: number[], p: number): number {
    return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

export function latency(ms: number[]): LatencyMs {
    const sorted = [...ms].sort((a, b) => a - b);
    return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted[sorted.length - 1] ?? NaN };
}

/**
 * The steady load of steadyLoad.py from the internet namespace: by default 4 clients with a GET every 100 ms each,
 * a POST every 250 ms.
 */
export async function steadyLoad(
    url: string,
    seconds: number,
    prefix: string,
    rates = { getClients: 4, getIntervalMs: 100, postIntervalMs: 250 },
): Promise<LoadRecord[]> {
    const script = fs.readFileSync(path.join(__dirname, "steadyLoad.py"), "utf8");
    const { getClients, getIntervalMs, postIntervalMs } = rates;
    const args = [url, String(seconds), String(getClients), String(getIntervalMs), String(postIntervalMs), prefix];
    const r = await inInternet(["python3", "-c", script, ...args], (seconds + 60) * 1000);
    if (r.code !== 0) throw new Error(`the load client failed: ${r.stderr}`);
    return (JSON.parse(r.stdout) as [LoadRecord["kind"], number, number, number | string, string | null][]).map(
        ([kind, startMs, ms, outcome, body]) => ({ kind, startMs, ms, outcome, body }),
    );
}

export const failed = (r: LoadRecord) => typeof r.outcome === "string";

/** HAProxy's view of one server, or "unknown" while the stats do not answer. */
async function serverState(site: LocalSite, server: string): Promise<string> {
    return (await haproxyServerStates(site))[server] ?? "unknown";
}

async function unitPid(name: string, unit: string): Promise<string> {
    const r = await container.exec(name, ["systemctl", "show", "-p", "MainPID,ActiveState", "--value", unit], {
        check: false,
        timeoutMs: 10_000,
    });
    const [pid, state] = r.stdout.trim().split("\n");
    return state === "active" && pid !== "0" ? pid : "";
}

/**
 * Fails one web server in the given way under a steady load through the load balancer, heals it (unless it
 * heals itself), waits until HAProxy has it back, and returns what clients saw.
 */
export async function runWebFault(site: LocalSite, server: string, fault: WebFault): Promise<WebFaultFigures> {
    const spec = faults[fault];
    if ((await serverState(site, server)) !== "UP") throw new Error(`${server} is not UP in HAProxy before the ${fault} run`);
    const pidBefore = spec.restartedUnit ? await unitPid(server, spec.restartedUnit) : "";
    const prefix = `${fault}-${Date.now()}`;
    await spec.prepare?.(server);
    const load = tracked(steadyLoad(site.url, spec.loadSeconds, prefix));
    await sleep(beforeFaultMs);

    const faultAt = Date.now();
    let markedDownMs: number | null = null;
    let restartedMs: number | null = null;
    let rejoinedMs: number | null = null;
    let healing: ReturnType<typeof tracked<number>> | undefined;
    // Not awaited: a clean stop takes seconds, and HAProxy's view is watched from the first moment.
    const injecting = tracked(spec.inject(server));
    try {
        // Watch HAProxy (and the killed daemon) until the server is back, healing it after holdMs (a reboot after the load).
        const deadline = faultAt + (fault === "clean-stop" ? 10 * 60_000 : 90_000);
        for (;;) {
            if (injecting.settled) await injecting.promise;
            const due = Date.now() - faultAt >= holdMs && (fault !== "clean-stop" || load.settled);
            if (spec.heal && injecting.settled && !healing && due) healing = tracked(spec.heal(server).then(() => Date.now()));
            const state = await serverState(site, server);
            if (state === "DOWN" && markedDownMs === null) markedDownMs = Date.now() - faultAt;
            if (spec.restartedUnit && restartedMs === null) {
                const pid = await unitPid(server, spec.restartedUnit);
                if (pid && pid !== pidBefore) restartedMs = Date.now() - faultAt;
            }
            const cameBack = spec.heal ? healing?.settled : markedDownMs !== null || restartedMs !== null;
            if (state === "UP" && cameBack) {
                rejoinedMs = Date.now() - (healing ? await healing.promise : faultAt);
                break;
            }
            if (Date.now() > deadline) break;
            await sleep(100);
        }
    } finally {
        await injecting.promise.catch(() => undefined);
        if (healing) await healing.promise.catch(() => undefined);
        else if (spec.heal) await spec.heal(server).catch(() => undefined);
        if (fault === "app-hanging") await sh(server, `kill -CONT $(ps -o pid= --ppid ${mainPid("foobar-app.service")}) 2>/dev/null; true`);
    }
    const records = await load.promise;

    const rows = (
        await sqlOn(site.plan.dbPrimary.name, `SELECT body, COUNT(*) FROM foobar.entries WHERE body LIKE '${prefix}-%' GROUP BY body`)
    )
        .trim()
        .split("\n")
        .filter(Boolean)
        .map((line) => line.split("\t"));
    const stored = new Map(rows.map(([body, count]) => [body, Number(count)]));
    const gets = records.filter((r) => r.kind === "GET");
    const posts = records.filter((r) => r.kind === "POST");
    const acknowledged = posts.filter((r) => r.outcome === 201).map((r) => r.body!);
    const usualMs = latency(records.filter((r) => r.startMs + r.ms < faultAt).map((r) => r.ms));
    const allMs = latency(records.map((r) => r.ms));
    return {
        fault,
        server,
        gets: gets.length,
        failedGets: gets.filter(failed).length,
        getErrors: [...new Set(gets.filter(failed).map((r) => String(r.outcome)))],
        usualMs,
        allMs,
        overUsualMs: Number((allMs.max - usualMs.p99).toFixed(1)),
        posts: posts.length,
        acknowledgedPosts: acknowledged.length,
        postErrors: [...new Set(posts.filter(failed).map((r) => String(r.outcome)))],
        rowsStored: [...stored.values()].reduce((a, n) => a + n, 0),
        duplicatedRows: [...stored.values()].filter((n) => n > 1).length,
        acknowledgedMissing: acknowledged.filter((body) => stored.get(body) !== 1).length,
        markedDownMs,
        restartedMs,
        rejoinedMs,
        selfHealed: !spec.heal,
    };
}

/** One line of figures, for the test log and the benchmark's console. */
export function formatFigures(f: WebFaultFigures): string {
    const ms = (v: number | null) => (v === null ? "never" : `${(v / 1000).toFixed(2)} s`);
    return [
        `${f.fault} (${f.server}): GETs ${f.failedGets} failed of ${f.gets}${f.getErrors.length ? ` (${f.getErrors.join("; ")})` : ""}`,
        `usual p50 ${f.usualMs.p50} ms, p99 ${f.usualMs.p99} ms; slowest ${f.allMs.max} ms (${f.overUsualMs} ms over the usual p99)`,
        `POSTs ${f.acknowledgedPosts} acknowledged of ${f.posts}, ${f.rowsStored} rows, ${f.duplicatedRows} duplicated, ${f.acknowledgedMissing} acknowledged missing${f.postErrors.length ? ` (errors: ${f.postErrors.join("; ")})` : ""}`,
        `marked down after ${ms(f.markedDownMs)}${f.restartedMs === null ? "" : `, restarted by systemd after ${ms(f.restartedMs)}`}, back in the backend ${ms(f.rejoinedMs)} after ${f.selfHealed ? "the fault, by itself" : "the heal"}`,
    ].join("; ");
}

/** A promise with a flag saying whether it has settled, to look at without waiting. */
export function tracked<T>(promise: Promise<T>): { promise: Promise<T>; settled: boolean } {
    const t = { promise, settled: false };
    promise.then(
        () => (t.settled = true),
        () => (t.settled = true),
    );
    return t;
}

const fillFile = "/var/tmp/foobar-disk-full";

/**
 * Fills the instance's root file system (the container's overlay, a tmpfs on the host) until `leave` bytes are
 * left; with 0, to the last byte, and checks that a write fails. Refuses when the host could not spare the memory.
 */
async function fillDisk(name: string, leave: number): Promise<void> {
    const free = async () => Number((await sh(name, "df --output=avail -B1 / | tail -n 1")).stdout.trim());
    const fill = (await free()) - leave;
    const available = Number(/^MemAvailable:\s+(\d+) kB$/m.exec(fs.readFileSync("/proc/meminfo", "utf8"))![1]) * 1024;
    if (available - fill < 2 * 2 ** 30) {
        throw new Error(`filling ${name}'s root file system takes ${fill} bytes of the host's memory; only ${available} are available`);
    }
    const file = `${fillFile}-${leave}`;
    if (leave > 0) {
        await container.exec(name, ["fallocate", "-l", String(fill), file], { timeoutMs: 180_000 });
        return;
    }
    await container.exec(name, ["dd", "if=/dev/zero", `of=${file}`, "bs=64k"], { check: false, timeoutMs: 30_000 });
    const write = await container.exec(name, ["sh", "-c", "echo x > /var/log/foobar-disk-probe"], { check: false });
    if ((await free()) > 0 || write.code === 0) throw new Error(`${name}'s root file system is not full: ${await free()} bytes left`);
}
function freezerDir(name: string): string {
    return `/sys/fs/cgroup/freezer/${cloudName()}-${name}`;
}

/** Every process of a running container: those in its init's pid namespace. */
function containerProcesses(name: string): number[] {
    const nspawn = container.list().find((c) => c.name === name && c.running)?.pid;
    const init = processes().find((p) => p.ppid === nspawn)?.pid;
    if (init === undefined) throw new Error(`${name} is not running`);
    const ns = (pid: number) => {
        try {
            return fs.readlinkSync(`/proc/${pid}/ns/pid`);
        } catch {
            return "";
        }
    };
    const own = ns(init);
    return processes()
        .map((p) => p.pid)
        .filter((pid) => ns(pid) === own);
}

function moveTo(dir: string, pids: number[]): void {
    for (const pid of pids) {
        try {
            fs.writeFileSync(path.join(dir, "cgroup.procs"), String(pid));
        } catch {
            // gone meanwhile
        }
    }
}

/** Freezes every process of the instance at once, as a host whose hypervisor stopped scheduling it. */
async function freeze(name: string): Promise<void> {
    const dir = freezerDir(name);
    fs.mkdirSync(dir, { recursive: true });
    moveTo(dir, containerProcesses(name));
    fs.writeFileSync(path.join(dir, "freezer.state"), "FROZEN");
    // A process forked before the move joins now, and freezes with the group.
    moveTo(dir, containerProcesses(name));
    const deadline = Date.now() + 5000;
    while (fs.readFileSync(path.join(dir, "freezer.state"), "utf8").trim() !== "FROZEN") {
        if (Date.now() > deadline) throw new Error(`${name} did not freeze within 5 s`);
        await sleep(50);
    }
}

async function thaw(name: string): Promise<void> {
    const dir = freezerDir(name);
    if (!fs.existsSync(dir)) return;
    fs.writeFileSync(path.join(dir, "freezer.state"), "THAWED");
    const root = path.dirname(dir);
    for (let i = 0; i < 50; i++) {
        const left = fs.readFileSync(path.join(dir, "cgroup.procs"), "utf8").split("\n").filter(Boolean).map(Number);
        if (left.length === 0) break;
        moveTo(root, left);
        await sleep(20);
    }
    fs.rmdirSync(dir);
}
