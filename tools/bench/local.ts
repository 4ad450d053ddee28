/**
 * `npm run bench:local`: figures of the local topology, measured in one run so
 * that ratios hold on a shared machine. Writes reports/bench-local.json and .md.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { runTool } from "../cliArgs";
import * as container from "../local-cloud/container";
import { down, startInstance, up, waitUntilProvisioned } from "../local-cloud/site";
import { log } from "../local-cloud/util";
import { haproxyServerStates, wrk, WrkResult } from "../local-cloud/clients";
import { localUpIn, markAppVersion, scratchProject, setWebCount, underLoad } from "../local-cloud/rolloutUnderLoad";

// A cloud of its own: the benchmark never touches a topology a developer has up (`npm run local:up`).
process.env.LOCAL_CLOUD_NAME = "fbbench";

const reportDir = path.join(__dirname, "..", "..", "reports");
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function percentile(sorted: number[], p: number): number {
    return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

runTool(async () => {
    const loadSeconds = Number(process.env.BENCH_SECONDS ?? 10);
    const started = Date.now();
    const site = await up("dev");
    const upSeconds = (Date.now() - started) / 1000;
    try {
        // From the internet namespace, as users: the load balancer's and web-1's public addresses (dev's open firewall gives web-1 one).
        const lb = site.url;
        const direct = `http://${site.publicIps[site.plan.web[0].name]}/`;
        const load = { seconds: loadSeconds, connections: 16, threads: 2 };
        log(`throughput: ${loadSeconds} s through the load balancer, then ${loadSeconds} s straight to web-1`);
        const viaLb = await wrk(lb, load);
        const viaWeb = await wrk(direct, load);

        log("failover: steady load through the load balancer, web-1 stopped after 3 s");
        const failoverLoad = wrk(lb, { seconds: 12, connections: 8 });
        await sleep(3000);
        const stoppedAt = Date.now();
        const stopping = container.stop("web-1", 10_000);
        let markDownSeconds: number | null = null;
        while (Date.now() - stoppedAt < 10_000 && markDownSeconds === null) {
            if ((await haproxyServerStates(site))["web-1"] === "DOWN") markDownSeconds = (Date.now() - stoppedAt) / 1000;
            else await sleep(100);
        }
        await stopping;
        const failover: WrkResult = await failoverLoad;
        await startInstance(site, "web-1");
        await waitUntilProvisioned("web-1", 300_000);

        log("replication lag: 200 writes at 20/s through the writer, each polled on the reader");
        const lagRun = await container.exec(
            "web-2",
            ["python3", "-c", fs.readFileSync(path.join(__dirname, "replicationLag.py"), "utf8"), "200", "20"],
            { timeoutMs: 120_000 },
        );
        const lags = (JSON.parse(lagRun.stdout) as { lagsMs: number[] }).lagsMs.sort((a, b) => a - b);
        const rolling = await rollingChanges(site.publicIps[site.plan.lb.name]);

        const report = {
            date: new Date().toISOString().slice(0, 10),
            machine: `${os.cpus().length} cores (${os.cpus()[0]?.model ?? "unknown"}), ${Math.round(os.totalmem() / 2 ** 30)} GiB`,
            loadGenerator: `wrk, ${load.threads} threads, ${load.connections} connections, ${loadSeconds} s, GET /`,
            localUpSeconds: Number(upSeconds.toFixed(1)),
            throughLoadBalancer: viaLb,
            straightToOneWebServer: viaWeb,
            ratioRequestsPerSecond: Number((viaLb.requestsPerSecond / viaWeb.requestsPerSecond).toFixed(2)),
            failover: { requests: failover.requests, failed: failover.failed, errors: failover.errors, secondsToMarkDown: markDownSeconds },
            replicationLagMs: {
                writes: lags.length,
                p50: Number(percentile(lags, 50).toFixed(2)),
                p99: Number(percentile(lags, 99).toFixed(2)),
                max: Number(lags[lags.length - 1].toFixed(2)),
            },
            rollingChanges: rolling.figures,
        };
        const md = [
            `| figure (${report.date}, ${report.machine}) | value |`,
            "|---|---|",
            `| \`local:up\` of dev, warm image cache | ${report.localUpSeconds} s |`,
            `| through the load balancer (2 web servers) | ${viaLb.requestsPerSecond.toFixed(0)} req/s, p50 ${viaLb.latencyMs.p50} ms, p99 ${viaLb.latencyMs.p99} ms |`,
            `| straight to one web server | ${viaWeb.requestsPerSecond.toFixed(0)} req/s, p50 ${viaWeb.latencyMs.p50} ms, p99 ${viaWeb.latencyMs.p99} ms |`,
            `| ratio LB / one server (req/s) | ${report.ratioRequestsPerSecond} |`,
            `| failover: web-1 stopped under load | ${failover.failed} failed of ${failover.requests}; marked down after ${markDownSeconds} s |`,
            `| replication lag, ${lags.length} writes at 20/s | p50 ${report.replicationLagMs.p50} ms, p99 ${report.replicationLagMs.p99} ms |`,
            ...rolling.rows,
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
