/**
 * `npm run bench:local`: figures of the local topology, measured in one run so
 * that ratios hold on a shared machine: dev (replication), then prod's Galera
 * cluster (commit latency against replication's, write failover). Writes
 * reports/bench-local.json and .md.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parseCommandLine, runTool } from "../cliArgs";
import * as container from "../local-cloud/container";
import { down, LocalSite, up, upFromNothing } from "../local-cloud/site";
import { log } from "../local-cloud/util";
import { wrk } from "../local-cloud/clients";
import { localUpIn, markAppVersion, scratchProject, setWebCount, underLoad } from "../local-cloud/rolloutUnderLoad";
import { describeLbFault, formatLbFigures, LbFaultFigures, lbFaults, runLbFault } from "./lbFaults";
import { dbFaults, describeDbFault, formatWriteFailover, runWriteFailover, WriteFailoverFigures } from "./dbFailover";
import { describeFault, formatFigures, percentile, runWebFault, WebFaultFigures, webFaults } from "./webFaults";

// A cloud of its own: the benchmark never touches a topology a developer has up (`npm run local:up`).
process.env.LOCAL_CLOUD_NAME = "fbbench";

const reportDir = path.join(__dirname, "..", "..", "reports");

/** One request at a time for `seconds`, through the load balancer (from the internet) and straight to web-1 (from inside the VPC). */
async function hopLatency(site: LocalSite, page: string, seconds: number) {
    const lb = await wrk(`${site.url}${page}`, { seconds, connections: 1, threads: 1 });
    const direct = await wrk(`http://${site.plan.web[0].privateIp}/${page}`, { seconds, connections: 1, threads: 1, from: "vpc" });
    const added = (p: "p50" | "p99") => Number((lb.latencyMs[p] - direct.latencyMs[p]).toFixed(2));
    return { page: `/${page}`, throughLoadBalancer: lb, straightToWebServer: direct, addedMs: { p50: added("p50"), p99: added("p99") } };
}

/** replicationLag.py's output: each write's commit latency and read-after-write lag, sorted. */
function writeLatency(stdout: string): { commitsMs: number[]; lagsMs: number[] } {
    const parsed = JSON.parse(stdout) as { commitsMs: number[]; lagsMs: number[] };
    return { commitsMs: [...parsed.commitsMs].sort((a, b) => a - b), lagsMs: [...parsed.lagsMs].sort((a, b) => a - b) };
}

function summary(w: { commitsMs: number[]; lagsMs: number[] }) {
    const at = (sorted: number[], p: number) => Number(percentile(sorted, p).toFixed(2));
    return {
        writes: w.commitsMs.length,
        commitMs: { p50: at(w.commitsMs, 50), p99: at(w.commitsMs, 99) },
        visibleMs: { p50: at(w.lagsMs, 50), p99: at(w.lagsMs, 99) },
    };
}

const options = { seconds: { type: "string", default: "10" } } as const;

runTool(async () => {
    const { values, fail } = parseCommandLine(
        process.argv.slice(2),
        {
            usage: "npm run bench:local [-- --seconds <n, default 10>]",
            description:
                "Boots dev, then prod, in a local cloud of its own (fbbench) and measures throughput, the load balancer's hop, " +
                "web and database faults, replication lag and Galera's commit latency and write failover. " +
                "Writes reports/bench-local.json and .md. Needs root; takes tens of minutes.",
            options: { seconds: "seconds of each load run (1-600); the hop runs take half, at least 3" },
            exit: { 0: "the report is written" },
            env: {
                LOCAL_CLOUD_CACHE: "where the Debian 12 root file system is cached (default /var/cache/foobar-local-cloud)",
                LOCAL_CLOUD_STATE: "where the cloud keeps its seeds, pid files and console logs (default /run/foobar-local-cloud/fbbench)",
            },
        },
        options,
    );
    const loadSeconds = Number(values.seconds);
    if (!Number.isInteger(loadSeconds) || loadSeconds < 1 || loadSeconds > 600) {
        throw fail(`--seconds ${values.seconds}: give a whole number from 1 to 600`);
    }
    const started = Date.now();
    const site = await upFromNothing("dev");
    const upSeconds = (Date.now() - started) / 1000;
    try {
        // From the internet namespace, as users: the load balancer's and web-1's public addresses (dev's open firewall gives web-1 one).
        const lb = site.url;
        const direct = `http://${site.publicIps[site.plan.web[0].name]}/`;
        const load = { seconds: loadSeconds, connections: 16, threads: 2 };
        log(`throughput: ${loadSeconds} s through the load balancer, then ${loadSeconds} s straight to web-1`);
        const viaLb = await wrk(lb, load);
        const viaWeb = await wrk(direct, load);

        const hopSeconds = Math.max(3, Math.round(loadSeconds / 2));
        log(`the load balancer's hop: ${hopSeconds} s at concurrency 1 per page and path`);
        const hop = [await hopLatency(site, "static/style.css", hopSeconds), await hopLatency(site, "", hopSeconds)];

        const faults: WebFaultFigures[] = [];
        for (const fault of webFaults) {
            log(`web-1 fails (${fault}: ${describeFault(fault)}) under a steady load through the load balancer`);
            const figures = await runWebFault(site, site.plan.web[0].name, fault);
            log(formatFigures(figures));
            faults.push(figures);
        }

        log("replication lag: 200 writes at 20/s through the writer, each polled on the reader");
        const lagRun = await container.exec(
            "web-2",
            ["python3", "-c", fs.readFileSync(path.join(__dirname, "replicationLag.py"), "utf8"), "200", "20"],
            { timeoutMs: 120_000 },
        );
        const replicationWrites = writeLatency(lagRun.stdout);
        const lags = replicationWrites.lagsMs;
        const rolling = await rollingChanges(site.publicAddress);

        // The same in database: galera (prod's cluster, through the sidecars): commit latency, then the writer failing.
        await down();
        log("database: galera: booting prod (a three-node cluster)");
        const cluster = await up("prod");
        log("commit latency and read-after-write lag: 200 writes at 20/s through the sidecar on web-1");
        const galeraWrites = writeLatency(
            (
                await container.exec(
                    cluster.plan.web[0].name,
                    ["python3", "-c", fs.readFileSync(path.join(__dirname, "replicationLag.py"), "utf8"), "200", "20"],
                    { timeoutMs: 120_000 },
                )
            ).stdout,
        );
        const failovers: WriteFailoverFigures[] = [];
        for (const fault of dbFaults) {
            log(`the writer (db-1) fails (${fault}: ${describeDbFault(fault)}) under a steady load through the load balancer`);
            const figures = await runWriteFailover(cluster, fault);
            log(formatWriteFailover(figures));
            failovers.push(figures);
        }
        // The same topology has prod's load-balancer pair.
        log("the load-balancer pair: each fault of the load balancer that holds the address, under a steady load");
        const pairFaults: LbFaultFigures[] = [];
        for (const fault of lbFaults) {
            log(`${fault}: ${describeLbFault(fault)}`);
            const figures = await runLbFault(cluster, fault);
            log(formatLbFigures(figures));
            pairFaults.push(figures);
        }

        const report = {
            date: new Date().toISOString().slice(0, 10),
            machine: `${os.cpus().length} cores (${os.cpus()[0]?.model ?? "unknown"}), ${Math.round(os.totalmem() / 2 ** 30)} GiB`,
            loadGenerator: `wrk, ${load.threads} threads, ${load.connections} connections, ${loadSeconds} s, GET /`,
            localUpSeconds: Number(upSeconds.toFixed(1)),
            // Where prod's boot went (local:up's own report; bench:boot repeats it N times).
            prodBoot: cluster.boot ?? null,
            throughLoadBalancer: viaLb,
            straightToOneWebServer: viaWeb,
            ratioRequestsPerSecond: Number((viaLb.requestsPerSecond / viaWeb.requestsPerSecond).toFixed(2)),
            loadBalancerHop: { generator: `wrk, 1 connection, ${hopSeconds} s per figure`, pages: hop },
            webFailures: {
                load: "steadyLoad.py: 4 keep-alive clients with a GET every 100 ms each (/ and /static/style.css in turn), one POST every 250 ms",
                faults,
            },
            replicationLagMs: {
                writes: lags.length,
                p50: Number(percentile(lags, 50).toFixed(2)),
                p99: Number(percentile(lags, 99).toFixed(2)),
                max: Number(lags[lags.length - 1].toFixed(2)),
            },
            rollingChanges: rolling.figures,
            loadBalancerPair: {
                load: "steadyLoad.py over HTTPS: 4 keep-alive clients with a GET every 100 ms each, one POST every 250 ms",
                faults: pairFaults,
            },
            databaseWrites: {
                load: "replicationLag.py on web-1: 200 autocommitted INSERTs at 20/s through the app's writer endpoint, each then polled on its reader endpoint",
                replication: summary(replicationWrites),
                galera: summary(galeraWrites),
            },
            galeraWriteFailover: {
                load: "steadyLoad.py: a POST every 100 ms, 2 clients with a GET every 200 ms, through the load balancer",
                faults: failovers,
            },
        };
        const s = (ms: number | null) => (ms === null ? "never" : `${(ms / 1000).toFixed(1)} s`);
        // wrk's figures as parsed can carry binary fractions (0.07100000000000001).
        const ms = (value: number) => Number(value.toFixed(3));
        const md = [
            `| figure (${report.date}, ${report.machine}) | value |`,
            "|---|---|",
            `| \`local:up\` of dev, warm image cache | ${report.localUpSeconds} s |`,
            ...(report.prodBoot
                ? [
                      `| prod's boot, warm image cache: until the site answers; slowest instance's packages, setup scripts; peak CPU pressure | ${report.prodBoot.seconds} s; ${Math.max(...Object.values(report.prodBoot.instances).map((i) => i.packages))} s, ${Math.max(...Object.values(report.prodBoot.instances).map((i) => i.setupScripts))} s; ${report.prodBoot.peakCpuPressure ?? "–"} % |`,
                  ]
                : []),
            `| through the load balancer (2 web servers), 16 connections | ${viaLb.requestsPerSecond.toFixed(0)} req/s, p50 ${viaLb.latencyMs.p50} ms, p99 ${viaLb.latencyMs.p99} ms |`,
            `| straight to one web server, 16 connections | ${viaWeb.requestsPerSecond.toFixed(0)} req/s, p50 ${viaWeb.latencyMs.p50} ms, p99 ${viaWeb.latencyMs.p99} ms |`,
            `| ratio LB / one server (req/s) | ${report.ratioRequestsPerSecond} |`,
            ...hop.map(
                (h) =>
                    `| \`${h.page}\` at concurrency 1: through the LB / straight to web-1 (p50, p99) | ${ms(h.throughLoadBalancer.latencyMs.p50)} / ${ms(h.straightToWebServer.latencyMs.p50)} ms, ${ms(h.throughLoadBalancer.latencyMs.p99)} / ${ms(h.straightToWebServer.latencyMs.p99)} ms: the LB adds ${h.addedMs.p50} ms (p50), ${h.addedMs.p99} ms (p99) |`,
            ),
            `| replication lag, ${lags.length} writes at 20/s | p50 ${report.replicationLagMs.p50} ms, p99 ${report.replicationLagMs.p99} ms |`,
            ...(["replication", "galera"] as const).map((mode) => {
                const w = report.databaseWrites[mode];
                return `| commit latency, ${mode} (${w.writes} writes at 20/s from web-1; read-after-write on the reader) | p50 ${w.commitMs.p50} ms, p99 ${w.commitMs.p99} ms; visible p50 ${w.visibleMs.p50} ms, p99 ${w.visibleMs.p99} ms |`;
            }),
            ...rolling.rows,
            "",
            `| web-1 fails under a steady load through the LB | GETs failed | usual p99 | slowest (over usual) | POSTs acknowledged, rows, duplicated | marked down | restarted by systemd | back in the backend |`,
            "|---|---|---|---|---|---|---|---|",
            ...faults.map(
                (f) =>
                    `| ${f.fault} | ${f.failedGets} of ${f.gets} | ${f.usualMs.p99} ms | ${f.allMs.max} ms (+${(f.overUsualMs / 1000).toFixed(2)} s) | ${f.acknowledgedPosts} of ${f.posts}, ${f.rowsStored}, ${f.duplicatedRows} | ${s(f.markedDownMs)} | ${f.restartedMs === null ? "–" : s(f.restartedMs)} | ${s(f.rejoinedMs)} after ${f.selfHealed ? "the fault, by itself" : "the heal"} |`,
            ),
            "",
            "| the load balancer holding the address (prod's pair) | the other took it after | no answer for | requests failed | after the return |",
            "|---|---|---|---|---|",
            ...pairFaults.map(
                (f) =>
                    `| ${f.fault} | ${s(f.takeoverMs)} | ${s(f.unservedMs)} | ${f.failed} of ${f.requests} | ${f.holdersAfterReturn} holds it${f.holderAfterReturn ? ` (${f.holderAfterReturn}${f.holderAfterReturn === f.holderAfter ? ", unmoved" : ""})` : ""}${f.holdersDuringCut !== null ? `; ${f.holdersDuringCut} held it during the cut` : ""} |`,
            ),
            "",
            "| the Galera writer (db-1) fails under a steady load through the LB | without an acknowledged write | failed writes | slowest write | acknowledged missing, duplicated | synced again |",
            "|---|---|---|---|---|---|",
            ...failovers.map(
                (f) =>
                    `| ${f.fault} | ${s(f.writeGapMs)} | ${f.failedPosts} of ${f.posts} | ${f.slowestPostMs} ms | ${Object.values(f.missing).reduce((a, n) => a + n, 0)}, ${Object.values(f.duplicated).reduce((a, n) => a + n, 0)} | ${s(f.rejoinedMs)} after the ${f.fault === "cut" ? "heal" : "boot began"} |`,
            ),
            "",
        ].join("\n");
        fs.mkdirSync(reportDir, { recursive: true });
        fs.writeFileSync(path.join(reportDir, "bench-local.json"), JSON.stringify(report, null, 2) + "\n");
        fs.writeFileSync(path.join(reportDir, "bench-local.md"), md);
        console.log(md);
        log(`report: ${path.join(reportDir, "bench-local.json")} and bench-local.md`);
        return 0;
    } finally {
        await down();
    }
});

/**
 * Rolling changes (README: Changes on a running stack): `local:up` in a scratch copy of the project
 * whose app and `webCount` differ, under a steady load through the load balancer (3 clients, one
 * request at a time each): how long each change takes and how many requests failed meanwhile.
 */
async function rollingChanges(lbAddress: string) {
    const scratch = scratchProject("dev");
    try {
        const changes: [string, () => void][] = [
            [
                "the app changed and webCount 2 → 3",
                () => {
                    markAppVersion(scratch);
                    setWebCount(scratch, "dev", 3);
                },
            ],
            ["webCount 3 → 2", () => setWebCount(scratch, "dev", 2)],
        ];
        const figures = [];
        for (const [change, edit] of changes) {
            log(`rolling change: ${change}, under load through the load balancer`);
            edit();
            const { result, load } = await underLoad(lbAddress, () => localUpIn(scratch, "dev"));
            figures.push({ change, seconds: Number(result.seconds.toFixed(1)), requests: load.requests, failed: load.failures.length });
        }
        const rows = figures.map(
            (f) => `| rolling change (\`local:up\`): ${f.change} | ${f.seconds} s; ${f.failed} failed of ${f.requests} requests |`,
        );
        return { figures, rows };
    } finally {
        fs.rmSync(scratch, { recursive: true, force: true });
    }
}
