/**
 * `npm run bench:boot -- --stack prod --runs 5`: boots a stack from nothing `runs` times in a row (warm image cache)
 * in a cloud of its own, and reports each boot's time, its per-instance phases and the peak CPU pressure.
 * Writes reports/bench-boot.json and .md. Another load on the host (`--load N` busy processes) shows how a busy
 * machine boots.
 */
import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parseCommandLine, runTool } from "../cliArgs";
import { BootReport, down, upFromNothing } from "../local-cloud/site";
import { ensureImage } from "../local-cloud/image";
import { log } from "../local-cloud/util";
import { percentile } from "./webFaults";

// A cloud of its own: never a topology a developer has up.
process.env.LOCAL_CLOUD_NAME = "fbboot";

const reportDir = path.join(__dirname, "..", "..", "reports");
const usage = "npm run bench:boot -- --stack <name> [--runs <n, default 5>] [--load <busy processes, default 0>]";

type Phase = "untilCloudInit" | "packages" | "setupScripts" | "total";
const phases: Phase[] = ["untilCloudInit", "packages", "setupScripts", "total"];

/** `n` busy processes (a shell loop each) beside the boot, as another user of the machine; stopped by the returned function. */
function busyLoad(n: number): () => void {
    const children = Array.from({ length: n }, () => spawn("sh", ["-c", "while :; do :; done"], { stdio: "ignore" }));
    return () => children.forEach((c) => c.kill("SIGKILL"));
}

export function summarize(boots: BootReport[]) {
    const sorted = (values: number[]) => [...values].sort((a, b) => a - b);
    const round = (x: number) => Math.round(x * 10) / 10;
    const seconds = sorted(boots.map((b) => b.seconds));
    // Per phase, the slowest instance of each boot: what the boot waited for.
    const slowest = Object.fromEntries(
        phases.map((p) => [p, sorted(boots.map((b) => Math.max(...Object.values(b.instances).map((i) => i[p]))))]),
    ) as Record<Phase, number[]>;
    return {
        runs: boots.length,
        seconds: { median: round(percentile(seconds, 50)), max: round(seconds[seconds.length - 1]) },
        slowestInstanceMedian: Object.fromEntries(phases.map((p) => [p, round(percentile(slowest[p], 50))])) as Record<Phase, number>,
        peakCpuPressure: Math.max(...boots.map((b) => b.peakCpuPressure ?? 0)),
    };
}

runTool(async () => {
    const { values, fail } = parseCommandLine(process.argv.slice(2), usage, {
        stack: { type: "string", short: "s" },
        runs: { type: "string", default: "5" },
        load: { type: "string", default: "0" },
    });
    if (typeof values.stack !== "string") throw fail("--stack is required");
    const runs = Number(values.runs);
    const load = Number(values.load);
    if (!Number.isInteger(runs) || runs < 1 || runs > 20) throw fail(`--runs ${values.runs}: give a whole number from 1 to 20`);
    if (!Number.isInteger(load) || load < 0 || load > 8) throw fail(`--load ${values.load}: give a whole number from 0 to 8`);
    // Warm cache: the image is built (if it must be) before the first timed boot.
    await ensureImage();
    const boots: BootReport[] = [];
    // The host's load (1-minute average) as each boot starts: what else was running on the machine.
    const loadAtStart: number[] = [];
    const stopLoad = busyLoad(load);
    try {
        for (let i = 1; i <= runs; i++) {
            log(`boot ${i} of ${runs}: ${values.stack}${load ? ` beside ${load} busy processes` : ""}`);
            loadAtStart.push(Math.round(os.loadavg()[0] * 10) / 10);
            const site = await upFromNothing(values.stack);
            if (!site.boot) throw new Error(`boot ${i}: up returned no boot figures`);
            boots.push(site.boot);
            await down();
        }
    } finally {
        stopLoad();
        await down();
    }
    const result = {
        date: new Date().toISOString().slice(0, 10),
        machine: `${os.cpus().length} × ${os.cpus()[0]?.model ?? "?"}, ${Math.round(os.totalmem() / 2 ** 30)} GiB`,
        stack: values.stack,
        busyProcesses: load,
        loadAtStart,
        summary: summarize(boots),
        boots,
    };
    fs.mkdirSync(reportDir, { recursive: true });
    const base = load > 0 ? `bench-boot-${values.stack}-load${load}` : `bench-boot-${values.stack}`;
    fs.writeFileSync(path.join(reportDir, `${base}.json`), JSON.stringify(result, null, 2) + "\n");
    const s = result.summary;
    const md = [
        `# Boot of the ${values.stack} stack from nothing (npm run bench:boot)`,
        "",
        `${result.date}, ${result.machine}; ${runs} boots in a row from a warm image cache${load ? `, beside ${load} busy processes` : ""}.`,
        "",
        "| figure | value |",
        "|---|---|",
        `| boot until the site answers: median | ${s.seconds.median} s |`,
        `| boot until the site answers: max | ${s.seconds.max} s |`,
        `| until cloud-init starts (slowest instance, median) | ${s.slowestInstanceMedian.untilCloudInit} s |`,
        `| packages (slowest instance, median) | ${s.slowestInstanceMedian.packages} s |`,
        `| setup scripts (slowest instance, median) | ${s.slowestInstanceMedian.setupScripts} s |`,
        `| peak CPU pressure (PSI some avg10) | ${s.peakCpuPressure} % |`,
        "",
        "Each boot: " + boots.map((b, i) => `${b.seconds} s (host load ${loadAtStart[i]} as it started)`).join(", "),
        "",
    ].join("\n");
    fs.writeFileSync(path.join(reportDir, `${base}.md`), md);
    console.log(md);
    return 0;
});
