/**
 * How every command-line tool of the project parses its arguments (Node's util.parseArgs, strict) and
 * ends: one clear line on misuse or failure, exit 2, and never before its output has reached the reader.
 */
import { parseArgs, ParseArgsConfig } from "util";
import { UsageError } from "./stackFile";

type Options = NonNullable<ParseArgsConfig["options"]>;

/** `--help` was asked for: runTool prints the usage and exits 0. */
class HelpRequested extends Error {}

/**
 * Parses `argv` against `options` (plus `--help`). Unknown options, missing values and an option given twice
 * (which util.parseArgs would resolve silently to the last) are usage errors that end with the usage line.
 */
export function parseCommandLine<O extends Options>(argv: string[], usage: string, options: O, allowPositionals = false) {
    const fail = (message: string) => new UsageError(`${message}\nusage: ${usage}`);
    let parsed;
    try {
        parsed = parseArgs({
            args: argv,
            options: { ...options, help: { type: "boolean", short: "h" } } as O,
            strict: true,
            allowPositionals,
            tokens: true,
        });
    } catch (err) {
        throw fail((err as Error).message);
    }
    const seen = new Set<string>();
    for (const token of parsed.tokens) {
        if (token.kind !== "option" || options[token.name]?.multiple) continue;
        if (seen.has(token.name)) throw fail(`--${token.name} is given more than once; give it once`);
        seen.add(token.name);
    }
    if (seen.has("help")) throw new HelpRequested(`usage: ${usage}`);
    return { values: parsed.values, positionals: parsed.positionals, fail };
}

export interface ToolOptions {
    stack: string;
    json: boolean;
    config?: string;
}

/** The arguments of the tools that work on one stack: `--stack <name> [--json]`, and `--config <file>` where it applies. */
export function parseToolArgs(argv: string[], usage: string, allowConfig = false): ToolOptions {
    const { values, fail } = parseCommandLine(argv, usage, {
        stack: { type: "string", short: "s" },
        json: { type: "boolean" },
        ...(allowConfig ? { config: { type: "string" } } : {}),
    } as const);
    if (values.stack === undefined) throw fail("--stack is required");
    const config = (values as { config?: string }).config;
    // An empty --config (an unset variable in CI) would otherwise read as "no config": every policy advisory.
    if (config !== undefined && config.trim() === "") {
        throw fail(
            '--config "" names no file: give a policy config (e.g. policies/config/mandatory.json), or leave --config out for all-advisory',
        );
    }
    return { stack: values.stack as string, json: values.json === true, config };
}

/** Exits once everything written to stdout and stderr has been handed to the reader (a pipe may still hold it). */
async function exitWhenWritten(code: number): Promise<never> {
    // A write's callback runs after every earlier write on that stream has completed.
    await Promise.all([process.stdout, process.stderr].map((stream) => new Promise((resolve) => stream.write("", resolve))));
    process.exit(code);
}

/** Runs a tool's main: its exit code once its output is written; usage and program errors print one clear line and exit 2. */
export function runTool(main: () => Promise<number>): void {
    let failed = false;
    const fail = (err: unknown) => {
        // The Pulumi runtime may report one failure twice (a rejection and an unhandled rejection): print it once.
        if (failed) return;
        failed = true;
        if (err instanceof HelpRequested) {
            console.log(err.message);
            void exitWhenWritten(0);
            return;
        }
        console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
        void exitWhenWritten(2);
    };
    // The Pulumi runtime reports a failing program as an unhandled rejection.
    process.on("unhandledRejection", fail);
    main().then((code) => exitWhenWritten(code), fail);
}
