/**
 * The local cloud's waiting: on a saturated host a probe can take longer than its own time limit
 * to answer (issue 20: `cloud-init status` took 25-40 s while nine instances installed packages).
 * Such a probe means "not yet"; only the overall deadline fails a wait. Runs without root.
 */
import { CommandTimeout, pollUntilReady, Probe, run } from "../../../tools/local-cloud/util";

/** A probe that runs a real command slower than its limit for the first `slowAnswers` calls, then answers ready. */
function slowThenReady(slowAnswers: number): { probe: () => Promise<Probe<string>>; calls: () => number } {
    let calls = 0;
    return {
        calls: () => calls,
        probe: async () => {
            calls += 1;
            if (calls <= slowAnswers) await run("sleep", ["5"], { timeoutMs: 300 });
            return { ready: `answered on call ${calls}` };
        },
    };
}

describe("pollUntilReady", () => {
    test("a command killed at its time limit rejects with CommandTimeout", async () => {
        await expect(run("sleep", ["5"], { timeoutMs: 200 })).rejects.toBeInstanceOf(CommandTimeout);
    });

    test("a probe that answers after its per-call timeout is 'not yet': the wait goes on and succeeds", async () => {
        const slow = slowThenReady(3);
        await expect(pollUntilReady({ what: "the slow instance", timeoutMs: 20_000, intervalMs: 10, probe: slow.probe })).resolves.toBe(
            "answered on call 4",
        );
        expect(slow.calls()).toBe(4);
    });

    test("only the overall deadline fails, naming what was awaited, the last answer and the hint", async () => {
        const started = Date.now();
        const wait = pollUntilReady<string>({
            what: "cloud-init in web-1",
            timeoutMs: 1_500,
            intervalMs: 10,
            probe: () => run("sleep", ["5"], { timeoutMs: 300 }).then(() => ({ ready: "never" })),
            hint: () => "console log: /run/example/web-1.console.log",
        });
        await expect(wait).rejects.toThrow(
            /^cloud-init in web-1 not ready after 1\.5 s; last: no answer within 0\.3 s \(sleep 5\)\nconsole log: \/run\/example\/web-1\.console\.log$/,
        );
        expect(Date.now() - started).toBeGreaterThanOrEqual(1_500);
    });

    test("a not-ready answer is reported as the last state", async () => {
        await expect(
            pollUntilReady({ what: "db-1", timeoutMs: 100, intervalMs: 10, probe: async () => ({ notYet: "running modules-final" }) }),
        ).rejects.toThrow(/^db-1 not ready after 0\.1 s; last: running modules-final$/);
    });

    test("any other error of a probe is final at once", async () => {
        const started = Date.now();
        await expect(
            pollUntilReady({
                what: "db-1",
                timeoutMs: 10_000,
                intervalMs: 10,
                probe: () => run("false", []).then(() => ({ ready: true })),
            }),
        ).rejects.toThrow(/^exit 1: false/);
        expect(Date.now() - started).toBeLessThan(5_000);
    });
});
