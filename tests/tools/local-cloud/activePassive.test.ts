/**
 * `webMode: active-passive` on the local cloud: the dev site switched to it by `npm run local:up` (in a scratch copy
 * of the project whose stack file says so: only the published HAProxy configuration changes), then, under a steady
 * load through the load balancer's public address from the internet:
 * - the serving server (web-1) crashes (`local:crash`: its port goes down, its processes die): no GET fails and the
 *   spare (web-2) answers within the health checks' detection time;
 * Starting it again is not held to 0 failed GETs yet: in one run 422 of 2279 failed while it booted back into service
 * (issue 28's note); the spare covers a crash, not the return.
 * Bounded in time and requests. Needs root and systemd-nspawn; skipped otherwise, unless REQUIRE_LOCAL_CLOUD=1.
 */
import * as fs from "fs";
import * as path from "path";
import { parseStackConfig } from "../../../config";
import { haproxyServerStates } from "../../../tools/local-cloud/clients";
import * as container from "../../../tools/local-cloud/container";
import { sitePlan } from "../../../tools/local-cloud/rollout";
import { localUpIn, scratchProject, underLoad } from "../../../tools/local-cloud/rolloutUnderLoad";
import { injectFault } from "../../../tools/local-cloud/site";
import { loadStackConfig } from "../../../tools/stackFile";
import { describeLocalSite } from "./describeLocalCloud";

const MINUTE = 60_000;
/** HAProxy's detection of a crashed server: two failed checks, each timing out after 1 s (README: the request path), with room. */
const detectionMs = 4000;
/** How long the load runs after HAProxy has the server down, and after it has it up again. */
const holdMs = 8000;

/** Adds (or sets) `foobar:<key>` in a scratch copy's stack file. */
function setStackSetting(dir: string, stack: string, key: string, value: string): void {
    const file = path.join(dir, `Pulumi.${stack}.yaml`);
    const text = fs.readFileSync(file, "utf8");
    const line = new RegExp(`^ {2}foobar:${key}: .*$`, "m");
    fs.writeFileSync(
        file,
        line.test(text)
            ? text.replace(line, `  foobar:${key}: ${value}`)
            : text.replace(/^config:\n/m, `config:\n  foobar:${key}: ${value}\n`),
    );
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<number> {
    const start = Date.now();
    while (!(await check())) {
        if (Date.now() - start > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
        await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return Date.now() - start;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describeLocalSite("webMode active-passive on the local cloud: the spare takes over", "dev", "fbaptest", (site) => {
    let scratch = "";
    let active = "";
    let spare = "";
    const lb = () => site().publicAddress;
    const state = async (name: string) => (await haproxyServerStates(site()))[name];

    beforeAll(() => {
        scratch = scratchProject("dev");
    });
    afterAll(() => {
        if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
    });

    test(
        "local:up with webMode active-passive: only the HAProxy configuration changes; web-1 serves, web-2 is its backup",
        async () => {
            setStackSetting(scratch, "dev", "webMode", "active-passive");
            const file = loadStackConfig("dev", scratch);
            const plan = sitePlan(parseStackConfig(file.project, "dev", file.config));
            expect(plan.webSpares).toEqual(["web-2"]);
            [active, spare] = ["web-1", "web-2"];
            const pids = () => Object.fromEntries(container.list().map((c) => [c.name, c.pid]));
            const before = pids();
            const { output } = await localUpIn(scratch, "dev");
            expect(output).toMatch(/rollout: lb-1: foobar-lb-config [0-9a-f]{16}/);
            expect(pids()).toEqual(before);
            const cfg = (await container.exec("lb-1", ["cat", "/etc/haproxy/haproxy.cfg"])).stdout;
            expect(cfg).toMatch(new RegExp(`^ {4}server ${spare} \\S+:80 check backup$`, "m"));
            expect(cfg).toMatch(new RegExp(`^ {4}server ${active} \\S+:80 check$`, "m"));
            // Under load, every answer comes from the serving server.
            const { load } = await underLoad(lb(), () => sleep(3000));
            expect(load.failures).toEqual([]);
            expect(Object.keys(load.servedBy)).toEqual([`${active} v1`]);
        },
        10 * MINUTE,
    );

    test(
        "the serving server crashes under load: no GET fails, the spare serves within the detection time",
        async () => {
            expect(active).toBe("web-1");
            expect(await haproxyServerStates(site())).toEqual({ [active]: "UP", [spare]: "UP" });
            let crashSecond = 0;
            let markedDownMs = 0;
            const started = Date.now();
            const { load } = await underLoad(lb(), async () => {
                // underLoad runs 2 s of load before the action: the seconds of its records count from its start.
                crashSecond = (Date.now() - started) / 1000;
                await injectFault("crash", active);
                markedDownMs = await until(`${active} marked down`, async () => (await state(active)) === "DOWN", 30_000);
                await sleep(holdMs);
            });
            console.log(
                `active-passive, ${active} crashed: ${load.requests} GETs, ${load.failures.length} failed; ` +
                    `marked down after ${markedDownMs} ms; ${spare} first answered ${(load.firstSeconds[`${spare} v1`] - crashSecond).toFixed(2)} s after the crash`,
                load,
            );
            expect(load.failures).toEqual([]);
            expect(load.requests).toBeGreaterThan(100);
            expect(load.servedBy[`${spare} v1`]).toBeGreaterThan(0);
            expect(load.firstSeconds[`${spare} v1`] - crashSecond).toBeLessThan(detectionMs / 1000);
            expect(await state(spare)).toBe("UP");
        },
        5 * MINUTE,
    );
});
