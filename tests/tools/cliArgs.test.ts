/** How every tool parses its arguments and ends: strict flags, one line on misuse, all output written before exit. */
import { spawn, spawnSync } from "child_process";
import * as path from "path";
import { Help, parseCommandLine, parseToolArgs } from "../../tools/cliArgs";
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

    test("--help prints the help and exits 0; a usage error exits 2 with one line and the usage", async () => {
        const help = await previewThroughSlowReader(["--help"]);
        expect([help.code, help.stderr]).toEqual([0, ""]);
        expect(help.stdout).toMatch(/^usage: npm run -s preview:offline -- --stack <name> \[--json\]\n\n.*\n\nOptions:\n/);
        const twice = await previewThroughSlowReader(["--stack", "dev", "--stack", "prod"]);
        expect([twice.code, twice.stdout]).toEqual([2, ""]);
        expect(twice.stderr).toBe(
            "error: --stack is given more than once; give it once\nusage: npm run -s preview:offline -- --stack <name> [--json]\n",
        );
    });
});

describe("--help", () => {
    test("lists each option with its description, the exit statuses and the environment", () => {
        const options = { stack: { type: "string", short: "s" }, runs: { type: "string" }, json: { type: "boolean" } } as const;
        const help: Help<typeof options> = {
            usage: "tool --stack <name>",
            description: "Does the thing.",
            options: { stack: "the stack", runs: "how many", json: "as JSON" },
            exit: { 0: "done", 1: "found something" },
            env: { TOOL_HOME: "where it keeps things" },
        };
        expect(() => parseCommandLine(["--stack", "dev", "--help"], help, options)).toThrow(
            [
                "usage: tool --stack <name>",
                "",
                "Does the thing.",
                "",
                "Options:",
                "  -s, --stack <value>  the stack",
                "  --runs <value>       how many",
                "  --json               as JSON",
                "  -h, --help           print this help and exit 0",
                "",
                "Exit status:",
                "  0  done",
                "  1  found something",
                "  2  usage error (a line saying what to fix), or the command failed",
                "",
                "Environment:",
                "  TOOL_HOME  where it keeps things",
            ].join("\n"),
        );
        // A usage error still ends with the usage line alone.
        expect(() => parseCommandLine(["--nope"], help, options)).toThrow(/\nusage: tool --stack <name>$/);
    });

    /** Each command: how it is started, the flags it takes, its exit statuses besides 2, the environment it reads. */
    const commands: [string, string[], string[], number[], string[]][] = [
        ["preview:offline", ["tools/preview/cli.ts"], ["-s, --stack <value>", "--json"], [0], []],
        ["policy:check", ["tools/policy-check/cli.ts"], ["-s, --stack <value>", "--json", "--config <value>"], [0, 1], []],
        [
            "local:up",
            ["tools/local-cloud/cli.ts", "up"],
            ["-s, --stack <value>"],
            [0],
            ["LOCAL_CLOUD_NAME", "LOCAL_CLOUD_CACHE", "LOCAL_CLOUD_STATE"],
        ],
        [
            "local:status",
            ["tools/local-cloud/cli.ts", "status"],
            ["--json"],
            [0],
            ["LOCAL_CLOUD_NAME", "LOCAL_CLOUD_CACHE", "LOCAL_CLOUD_STATE"],
        ],
        ["local:down", ["tools/local-cloud/cli.ts", "down"], [], [0], ["LOCAL_CLOUD_NAME", "LOCAL_CLOUD_CACHE", "LOCAL_CLOUD_STATE"]],
        ["local:crash", ["tools/local-cloud/cli.ts", "crash"], [], [0], ["LOCAL_CLOUD_NAME", "LOCAL_CLOUD_CACHE", "LOCAL_CLOUD_STATE"]],
        ["bench:local", ["tools/bench/local.ts"], ["--seconds <value>"], [0], ["LOCAL_CLOUD_CACHE", "LOCAL_CLOUD_STATE"]],
        [
            "bench:boot",
            ["tools/bench/boot.ts"],
            ["-s, --stack <value>", "--runs <value>", "--load <value>"],
            [0],
            ["LOCAL_CLOUD_CACHE", "LOCAL_CLOUD_STATE"],
        ],
    ];

    test.each(commands)("npm run %s -- --help: its flags, exit statuses and environment", (name, args, flags, exits, env) => {
        const r = spawnSync(process.execPath, ["-r", "ts-node/register/transpile-only", ...args, "--help"], {
            cwd: root,
            encoding: "utf8",
        });
        expect([r.status, r.stderr]).toEqual([0, ""]);
        const section = (title: string) => {
            const m = new RegExp(`\n${title}:\n((?:  .*\n?)*)`).exec(r.stdout);
            return (m?.[1] ?? "").split("\n").filter((l) => l !== "");
        };
        expect(r.stdout).toMatch(new RegExp(`^usage: npm run (-s )?${name}\\b`));
        const options = section("Options").map((l) => /^ {2}(\S.*?)(?: {2,}|$)/.exec(l)?.[1]);
        expect(options).toEqual([...flags, "-h, --help"]);
        // Every line describes its flag.
        for (const line of section("Options")) expect(line).toMatch(/^ {2}\S.*? {2,}\S/);
        expect(section("Exit status").map((l) => Number(/^ {2}(\d+) /.exec(l)?.[1]))).toEqual([...exits, 2]);
        const vars = section("Environment").map((l) => /^ {2}(\S+)/.exec(l)?.[1]);
        expect(vars).toEqual(env.length === 0 ? ["none"] : env);
    });

    test("bench:local takes its load time as a flag, parsed like the others", () => {
        const run = (...a: string[]) =>
            spawnSync(process.execPath, ["-r", "ts-node/register/transpile-only", "tools/bench/local.ts", ...a], {
                cwd: root,
                encoding: "utf8",
            });
        for (const [args, message] of [
            [["--seconds", "0"], "error: --seconds 0: give a whole number from 1 to 600"],
            [["--seconds", "5", "--seconds", "6"], "error: --seconds is given more than once; give it once"],
            [["--secs", "5"], "error: Unknown option '--secs'"],
        ] as const) {
            const r = run(...args);
            expect([args, r.status, r.stderr.split("\n")[0].slice(0, message.length)]).toEqual([args, 2, message]);
            expect(r.stderr).toContain("usage: npm run bench:local [-- --seconds <n, default 10>]");
        }
    });
});
