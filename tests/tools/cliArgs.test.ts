/** How every tool parses its arguments and ends: strict flags, one line on misuse, all output written before exit. */
import { spawn } from "child_process";
import * as path from "path";
import { parseCommandLine, parseToolArgs } from "../../tools/cliArgs";
import { planStack } from "../../tools/preview/plan";
import { renderPlan } from "../../tools/preview/render";
import { UsageError } from "../../tools/stackFile";

const root = path.resolve(__dirname, "..", "..");
jest.setTimeout(180000);

const usage = "tool --stack <name> [--json]";

describe("parseCommandLine / parseToolArgs", () => {
    test("a stack, --json and, where allowed, --config", () => {
        expect(parseToolArgs(["--stack", "dev", "--json"], usage)).toEqual({ stack: "dev", json: true, config: undefined });
        expect(parseToolArgs(["-s", "prod", "--config", "c.json"], usage, true)).toEqual({ stack: "prod", json: false, config: "c.json" });
    });

    test.each([
        [["--stack", "dev", "--stack", "prod"], "--stack is given more than once; give it once"],
        [["--stack", "dev", "-s", "prod"], "--stack is given more than once"],
        [["--stack", "dev", "--json", "--json"], "--json is given more than once"],
        [["--json"], "--stack is required"],
        [["--stack", "dev", "--config", "c.json"], "Unknown option '--config'"],
        [["--stack", "dev", "extra"], "Unexpected argument 'extra'"],
        [["--stack"], "Option '-s, --stack <value>' argument missing"],
    ])("%j is a usage error ending with the usage line", (argv, message) => {
        expect(() => parseToolArgs(argv, usage)).toThrow(UsageError);
        expect(() => parseToolArgs(argv, usage)).toThrow(`${message}`);
        expect(() => parseToolArgs(argv, usage)).toThrow(new RegExp(`\\nusage: ${usage.replace(/[[\]]/g, "\\$&")}$`));
    });

    test("an option declared `multiple` may repeat", () => {
        const { values } = parseCommandLine(["--tag", "a", "--tag", "b"], usage, { tag: { type: "string", multiple: true } });
        expect(values.tag).toEqual(["a", "b"]);
    });
});

/**
 * Runs the offline preview into a shell pipe (64 KiB, like `| tee` in the workflow) whose reader takes the
 * first byte as soon as the preview starts printing, then nothing for two seconds: long after the preview has
 * printed everything, while what did not fit in the pipe still waits to be written.
 */
function previewThroughSlowReader(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const preview = [process.execPath, "-r", "ts-node/register/transpile-only", "tools/preview/cli.ts", ...args]
        .map((a) => `'${a}'`)
        .join(" ");
    return new Promise((resolve, reject) => {
        const child = spawn("bash", ["-o", "pipefail", "-c", `${preview} | { dd bs=1 count=1 status=none; sleep 2; cat; }`], {
            cwd: root,
            stdio: ["ignore", "pipe", "pipe"],
        });
        const chunks: Buffer[] = [];
        let stderr = "";
        child.stdout.on("data", (c: Buffer) => chunks.push(c));
        child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
        child.on("error", reject);
        child.on("close", (code) => resolve({ code, stdout: Buffer.concat(chunks).toString("utf8"), stderr }));
    });
}

describe("runTool", () => {
    test("a plan larger than a pipe's buffer reaches a slow reader whole", async () => {
        const expected = `${renderPlan(await planStack("prod"))}\n`;
        // Larger than the 64 KiB a Linux pipe holds, so most of it waits for the reader.
        expect(Buffer.byteLength(expected)).toBeGreaterThan(64 * 1024);
        const r = await previewThroughSlowReader(["--stack", "prod"]);
        // prod names no alarmEmail: the program warns, on stderr, never in the plan.
        expect(r.stderr).toMatch(/^warning: \[runtime\] alarmEmail is not set: [^\n]*\n$/);
        expect(r.code).toBe(0);
        expect(r.stdout.length).toBe(expected.length);
        expect(r.stdout).toBe(expected);
    });

    test("--help prints the usage and exits 0; a usage error exits 2 with one line and the usage", async () => {
        const help = await previewThroughSlowReader(["--help"]);
        expect([help.code, help.stdout, help.stderr]).toEqual([0, "usage: npm run preview:offline -- --stack <name> [--json]\n", ""]);
        const twice = await previewThroughSlowReader(["--stack", "dev", "--stack", "prod"]);
        expect([twice.code, twice.stdout]).toEqual([2, ""]);
        expect(twice.stderr).toBe(
            "error: --stack is given more than once; give it once\nusage: npm run preview:offline -- --stack <name> [--json]\n",
        );
    });
});
