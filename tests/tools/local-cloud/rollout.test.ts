/**
 * Changes on a running stack, applied by `npm run local:up` the way the deploy applies them
 * (tools/local-cloud/rollout.ts): the dev site, changed in a scratch copy of the project (the
 * app, then `webCount` 2 → 3 → 2), under a steady, bounded load through the load balancer's
 * public address from the internet. Bounded in time and requests.
 *
 * Needs root and systemd-nspawn; skipped otherwise, unless REQUIRE_LOCAL_CLOUD=1 makes that a failure.
 */
import * as fs from "fs";
import { markers } from "../../../components/readiness";
import { haproxyServerStates } from "../../../tools/local-cloud/clients";
import * as container from "../../../tools/local-cloud/container";
import { parseStackConfig } from "../../../config";
import { allInstances } from "../../../topology";
import { desiredInstance, lastConsoleMarker, lbConfigParameter, planRollout, sitePlan } from "../../../tools/local-cloud/rollout";
import type { LocalSite } from "../../../tools/local-cloud/site";
import { loadStackConfig } from "../../../tools/stackFile";
import { localUpIn, markAppVersion, scratchProject, setWebCount, underLoad } from "../../../tools/local-cloud/rolloutUnderLoad";
import { describeLocalSite } from "./describeLocalCloud";

const MINUTE = 60_000;

/** Each line occurs in `output`, in this order. */
function expectInOrder(output: string, lines: string[]): void {
    const found = lines.map((line) => ({ line, at: output.indexOf(line) }));
    expect({ found: found.filter((f) => f.at >= 0).map((f) => f.line), output }).toEqual({ found: lines, output });
    expect(found.map((f) => f.line)).toEqual([...found].sort((a, b) => a.at - b.at).map((f) => f.line));
}

describe("the rollout plan of a change to a running site", () => {
    /** A running site of the stack as the local cloud records it, every instance booted with what the stack renders. */
    function running(stack: string, overrides: Record<string, string> = {}): LocalSite {
        const file = loadStackConfig(stack);
        const config = parseStackConfig(file.project, stack, { ...file.config, ...overrides });
        const plan = sitePlan(config);
        const site = { stack, config, plan, publicIps: {}, publicAddress: "198.51.100.12", url: "https://198.51.100.12/" };
        return {
            ...site,
            applied: Object.fromEntries(allInstances(plan).map((i) => [i.name, desiredInstance(site, i)])),
            provisioned: true,
        };
    }
    const rollout = (stack: string, change: Record<string, string> = { "foobar:lbInstanceType": "t3.small" }) => {
        const current = running(stack);
        const desired = running(stack, change);
        return planRollout(current, desired, {
            running: Object.keys(current.applied!),
            publishedLbConfig: lbConfigParameter(desired.config).text,
            ruleset: { loaded: "same", desired: "same" },
        });
    };

    test("a pair (prod): lb-2 first, then lb-1, each while the other holds the address; nothing else", () => {
        const plan = rollout("prod");
        expect(plan).toMatchObject({
            replaceLbs: ["lb-2", "lb-1"],
            lbPair: true,
            replaceWeb: [],
            createWeb: [],
            removeWeb: [],
            replaceMonitoring: [],
            ignoredDatabases: [],
        });
    });

    test("one load balancer (dev): replaced alone, an outage", () => {
        expect(rollout("dev")).toMatchObject({ replaceLbs: ["lb-1"], lbPair: false, replaceWeb: [] });
    });

    test("dbNodeCount 3 → 5 (prod): db-4 and db-5 join, the web servers' sidecars are replaced one at a time, no node restarts", () => {
        expect(rollout("prod", { "foobar:dbNodeCount": "5" })).toMatchObject({
            createReplicas: ["db-4", "db-5"],
            replaceWeb: ["web-1", "web-2"],
            replaceLbs: [],
            removeWeb: [],
            // It scrapes the new nodes: replaced with its new targets, as on AWS (userDataReplaceOnChange).
            replaceMonitoring: ["monitoring-1"],
            // Their user-data now names five peers; they keep what they booted with (ignoreChanges on AWS), and Galera tells them.
            ignoredDatabases: ["db-1", "db-2", "db-3"],
        });
    });
});

describe("console markers", () => {
    // Lines as a container's console shows them (systemd's status lines carry colour codes and CRs).
    const consoleLines = [
        "         Starting \u001b[0;1;39mfoobar-ready.serv…oy waits for it on the console)...\r\r",
        "[ 3901.173507] foobar-ready[841]: foobar-not-ready: http://127.0.0.1/healthz did not answer 200 within 180 attempts\r",
        "[\u001b[0;1;31mFAILED\u001b[0m] Failed to start \u001b[0;1;39mfoobar-ready.service\u001b[0m - foobar readiness marker.\r\r",
    ].join("\n");

    test("only a unit's message counts, never systemd naming the unit: a failed readiness check stays failed", () => {
        expect(lastConsoleMarker(consoleLines, markers.webReady.pattern)).toBe(markers.webReady.failed);
        expect(lastConsoleMarker(consoleLines.split("\n")[0], markers.webReady.pattern)).toBeUndefined();
        expect(lastConsoleMarker(`${consoleLines}\n[ 3990.1] foobar-ready[901]: foobar-ready\r`, markers.webReady.pattern)).toBe(
            "foobar-ready",
        );
    });

    test("the last load balancer marker wins, so an older configuration's marker never passes", () => {
        const { pattern } = markers.lbConfig("0123456789abcdef");
        const lines = [
            "[ 1.0] foobar-lb-config[478]: foobar-lb-config 0123456789abcdef",
            "[ 9.0] foobar-lb-config[612]: foobar-lb-config-rejected fedcba9876543210",
        ].join("\n");
        expect(lastConsoleMarker(lines, pattern)).toBe("foobar-lb-config-rejected fedcba9876543210");
        expect(lastConsoleMarker(lines.split("\n")[0], pattern)).toBe("foobar-lb-config 0123456789abcdef");
    });
});

describeLocalSite("changes on a running dev site, applied by local:up under load", "dev", "fbrolltest", (site) => {
    let scratch = "";
    const lb = () => site().publicAddress;
    const pids = () => Object.fromEntries(container.list().map((c) => [c.name, c.pid]));
    const consoleText = (name: string) => fs.readFileSync(container.consoleLog(name), "utf8");

    beforeAll(() => {
        scratch = scratchProject("dev");
    });
    afterAll(() => {
        if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
    });

    test(
        "an unchanged stack file (in a copy of the project): already up, nothing restarted",
        async () => {
            const before = pids();
            const { output } = await localUpIn(scratch, "dev");
            expect(output).toMatch(/the dev topology is already up at/);
            expect(pids()).toEqual(before);
        },
        5 * MINUTE,
    );

    test(
        "the app changed and webCount 2 → 3: web-1 then web-2 replaced, web-3 added, then published to HAProxy; zero failed requests",
        async () => {
            const before = pids();
            markAppVersion(scratch);
            setWebCount(scratch, "dev", 3);
            const { result, load } = await underLoad(lb(), () => localUpIn(scratch, "dev"));
            console.log(`app change + webCount 3: ${result.seconds} s, ${load.requests} requests, ${load.failures.length} failed`, load);
            expect(load.failures).toEqual([]);
            expect(load.requests).toBeGreaterThan(200);

            // The order the deploy follows, as local:up reported it.
            expectInOrder(result.output, [
                "rollout: web-1: stopping",
                "rollout: web-1: foobar-ready",
                "rollout: web-1: up in HAProxy's backend",
                "rollout: web-2: stopping",
                "rollout: web-2: foobar-ready",
                "rollout: security groups of the new plan loaded",
                "started web-3",
                "rollout: web-3: foobar-ready",
                "rollout: HAProxy configuration",
                "rollout: lb-1: foobar-lb-config",
            ]);

            // Stateless servers replaced (new containers), the load balancer and the databases untouched.
            const after = pids();
            for (const name of ["web-1", "web-2"]) expect(after[name]).not.toBe(before[name]);
            for (const name of ["lb-1", "db-primary", "db-replica-1"]) expect(after[name]).toBe(before[name]);
            expect(Object.keys(after).sort()).toEqual(["db-primary", "db-replica-1", "lb-1", "web-1", "web-2", "web-3"]);
            // The old app served until its servers went, the new one on every server afterwards, web-3 among them.
            expect(load.servedBy["web-1 v1"]).toBeGreaterThan(0);
            for (const name of ["web-1", "web-2", "web-3"]) expect(load.servedBy[`${name} v2`]).toBeGreaterThan(0);
            expect(load.servedBy["web-3 v1"]).toBeUndefined();
            expect(await haproxyServerStates(site())).toEqual({ "web-1": "UP", "web-2": "UP", "web-3": "UP" });
            for (const name of ["web-1", "web-2", "web-3"]) {
                expect(lastConsoleMarker(consoleText(name), markers.webReady.pattern)).toBe(markers.webReady.ready);
            }
        },
        15 * MINUTE,
    );

    test(
        "webCount 3 → 2: HAProxy stops routing to web-3 first, then web-3 goes; zero failed requests; a second run is already up",
        async () => {
            const before = pids();
            setWebCount(scratch, "dev", 2);
            const { result, load } = await underLoad(lb(), () => localUpIn(scratch, "dev"));
            console.log(`webCount 3 → 2: ${result.seconds} s, ${load.requests} requests, ${load.failures.length} failed`, load);
            expect(load.failures).toEqual([]);
            expect(load.requests).toBeGreaterThan(50);
            expectInOrder(result.output, [
                "rollout: HAProxy configuration",
                "rollout: lb-1: foobar-lb-config",
                "rollout: web-3: stopping and removing",
                "rollout: security groups of the new plan loaded",
            ]);

            const after = pids();
            expect(Object.keys(after).sort()).toEqual(["db-primary", "db-replica-1", "lb-1", "web-1", "web-2"]);
            for (const name of ["lb-1", "web-1", "web-2", "db-primary", "db-replica-1"]) expect(after[name]).toBe(before[name]);
            expect(await haproxyServerStates(site())).toEqual({ "web-1": "UP", "web-2": "UP" });

            const again = await localUpIn(scratch, "dev");
            expect(again.output).toMatch(/the dev topology is already up at/);
            expect(pids()).toEqual(after);
        },
        15 * MINUTE,
    );
});
