/**
 * The database server that takes the writes failing, in each way a server fails, under a steady write and
 * read load through the load balancer's public address (steadyLoad.py, from the internet namespace). With
 * `database: galera` the web servers' HAProxy sidecars move the writes to another node: how long no write
 * was acknowledged, which writes failed and how, whether every acknowledged write is on every node exactly
 * once afterwards, and how long the node took to serve again. The local-cloud suite asserts bounds on these
 * figures; `npm run bench:local` records them.
 */
import * as container from "../local-cloud/container";
import { sqlOn } from "../local-cloud/clients";
import { injectFault, LocalSite } from "../local-cloud/site";
import { log, sleep } from "../local-cloud/util";
import { galeraPorts } from "../../userdata/database";
import { LoadRecord, steadyLoad, tracked } from "./webFaults";

export const dbFaults = ["stop", "crash", "cut"] as const;
export type DbFault = (typeof dbFaults)[number];

const faultWords: Record<DbFault, string> = {
    stop: "shut down cleanly (as local:stop), booted again after the load",
    crash: "killed without shutdown (as local:crash), booted again after the load",
    cut: "its network cut (as local:cut) for 10 s under the load, then healed",
};

export function describeDbFault(fault: DbFault): string {
    return faultWords[fault];
}

/** A write every 100 ms (the resolution of the figures below), and two readers. */
export const writeLoadRates = { getClients: 2, getIntervalMs: 200, postIntervalMs: 100 };
const loadSeconds = 20;
const beforeFaultMs = 4000;
const cutHoldMs = 10_000;

export interface WriteFailoverFigures {
    fault: DbFault;
    /** The node that took the writes when the fault hit it. */
    node: string;
    /** The node the writes went to meanwhile, as web-1's sidecar chose it. */
    newWriter: string | null;
    posts: number;
    acknowledgedPosts: number;
    /** Writes answered with an error: status and message, or the client's error. */
    postErrors: string[];
    failedPosts: number;
    /** The longest time without an acknowledged write (completion to completion). */
    writeGapMs: number;
    /** The slowest write, acknowledged or not: an answer, never a hang. */
    slowestPostMs: number;
    gets: number;
    failedGets: number;
    /** Per node, after it served again: acknowledged writes it lacks, and writes stored more than once. */
    missing: Record<string, number>;
    duplicated: Record<string, number>;
    /** From the boot (stop, crash) or the heal (cut) until its health check said synced in the primary component. */
    rejoinedMs: number | null;
}

/** Runs a short Python program on an instance with the app's settings and password in its environment. */
async function withAppEnv(instance: string, script: string): Promise<string> {
    const r = await container.exec(
        instance,
        ["sh", "-c", 'set -a; . /etc/foobar/foobar.env; . /etc/foobar/app.env; python3 -c "$0"', script],
        {
            check: false,
            timeoutMs: 15_000,
        },
    );
    return r.code === 0 ? r.stdout.trim() : "";
}

/** The node a web server's sidecar sends the writes to now, or "" when it sends them nowhere. */
export async function writerNode(web: string): Promise<string> {
    return withAppEnv(
        web,
        `
import os, pymysql
c = pymysql.connect(host=os.environ["DB_WRITER_HOST"], user=os.environ["DB_USER"], password=os.environ["DB_PASSWORD"], connect_timeout=2, read_timeout=2)
cur = c.cursor(); cur.execute("SELECT @@wsrep_node_name"); print(cur.fetchone()[0])`,
    );
}

/** The node's health check as a web server's sidecar asks it: the HTTP status, or 0 when it does not answer. */
export async function healthCheck(from: string, address: string): Promise<number> {
    const status = await withAppEnv(
        from,
        `
import urllib.request, urllib.error
try:
    print(urllib.request.urlopen("http://${address}:${galeraPorts.healthCheck}/", timeout=2).status)
except urllib.error.HTTPError as e:
    print(e.code)
except OSError:
    print(0)`,
    );
    return Number(status) || 0;
}

/** Waits (bounded) until `check` holds; returns the milliseconds it took, or null. */
export async function waitUntil(check: () => Promise<boolean>, timeoutMs: number): Promise<number | null> {
    const started = Date.now();
    while (Date.now() - started < timeoutMs) {
        if (await check()) return Date.now() - started;
        await sleep(500);
    }
    return null;
}

/** Each body with this prefix a node stores, and how often. */
export async function storedBodies(node: string, prefix: string): Promise<Map<string, number>> {
    const rows = (await sqlOn(node, `SELECT body, COUNT(*) FROM foobar.entries WHERE body LIKE '${prefix}-%' GROUP BY body`))
        .trim()
        .split("\n")
        .filter(Boolean)
        .map((line) => line.split("\t"));
    return new Map(rows.map(([body, count]) => [body, Number(count)]));
}

/** The longest stretch between two acknowledged writes' answers, over the whole run. */
export function longestWriteGapMs(records: LoadRecord[]): number {
    const done = records
        .filter((r) => r.kind === "POST" && r.outcome === 201)
        .map((r) => r.startMs + r.ms)
        .sort((a, b) => a - b);
    let gap = 0;
    for (let i = 1; i < done.length; i++) gap = Math.max(gap, done[i] - done[i - 1]);
    return Number(gap.toFixed(1));
}

/**
 * Fails the node that takes the writes (as web-1's sidecar sees it) in the given way under a steady load, brings
 * it back, waits until it serves again, and returns what clients saw and what every node stores.
 */
export async function runWriteFailover(site: LocalSite, fault: DbFault): Promise<WriteFailoverFigures> {
    const web = site.plan.web[0].name;
    const nodes = [site.plan.dbPrimary, ...site.plan.dbReplicas];
    const node = await writerNode(web);
    const failing = nodes.find((n) => n.name === node);
    if (!failing) throw new Error(`${web}'s sidecar sends the writes to no node (${JSON.stringify(node)}) before the ${fault} run`);
    const prefix = `galera-${fault}-${Date.now()}`;
    const load = tracked(steadyLoad(site.url, loadSeconds, prefix, writeLoadRates));
    await sleep(beforeFaultMs);

    const injectAt = Date.now();
    await injectFault(fault, node);
    log(`${node}: ${fault} took ${Date.now() - injectAt} ms`);
    let newWriter: string | null = null;
    await waitUntil(async () => {
        const w = await writerNode(web);
        if (w && w !== node) newWriter = w;
        return newWriter !== null;
    }, 30_000);
    if (fault === "cut") {
        await sleep(cutHoldMs);
    }
    const records = await load.promise;

    const back = Date.now();
    await injectFault(fault === "cut" ? "heal" : "start", node);
    const synced = await waitUntil(async () => (await healthCheck(web, failing.privateIp)) === 200, 5 * 60_000);
    const rejoinedMs = synced === null ? null : Date.now() - back;

    const posts = records.filter((r) => r.kind === "POST");
    const gets = records.filter((r) => r.kind === "GET");
    const failed = (r: LoadRecord) => typeof r.outcome === "string";
    const acknowledged = posts.filter((r) => r.outcome === 201).map((r) => r.body!);
    const missing: Record<string, number> = {};
    const duplicated: Record<string, number> = {};
    for (const n of nodes) {
        const stored = await storedBodies(n.name, prefix);
        missing[n.name] = acknowledged.filter((body) => !stored.has(body)).length;
        duplicated[n.name] = [...stored.values()].filter((count) => count > 1).length;
    }
    return {
        fault,
        node,
        newWriter,
        posts: posts.length,
        acknowledgedPosts: acknowledged.length,
        postErrors: [...new Set(posts.filter(failed).map((r) => String(r.outcome)))],
        failedPosts: posts.filter(failed).length,
        writeGapMs: longestWriteGapMs(records),
        slowestPostMs: Math.max(...posts.map((r) => r.ms)),
        gets: gets.length,
        failedGets: gets.filter(failed).length,
        missing,
        duplicated,
        rejoinedMs,
    };
}

/** One line of figures, for the test log and the benchmark's console. */
export function formatWriteFailover(f: WriteFailoverFigures): string {
    const s = (ms: number | null) => (ms === null ? "never" : `${(ms / 1000).toFixed(2)} s`);
    const sum = (r: Record<string, number>) => Object.values(r).reduce((a, n) => a + n, 0);
    return [
        `${f.fault} ${f.node} (the writer): writes moved to ${f.newWriter ?? "no node"}; ${s(f.writeGapMs)} without an acknowledged write`,
        `POSTs ${f.acknowledgedPosts} acknowledged of ${f.posts}, ${f.failedPosts} failed${f.postErrors.length ? ` (${f.postErrors.join("; ")})` : ""}, slowest ${f.slowestPostMs} ms`,
        `GETs ${f.failedGets} failed of ${f.gets}`,
        `acknowledged missing ${sum(f.missing)}, duplicated ${sum(f.duplicated)} over ${Object.keys(f.missing).join(", ")}`,
        `${f.node} synced again ${s(f.rejoinedMs)} after its ${f.fault === "cut" ? "heal" : "boot began"}`,
    ].join("; ");
}
