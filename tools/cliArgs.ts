/**
 * How every command-line tool of the project parses its arguments (Node's util.parseArgs, strict) and
 * ends: one clear line on misuse or failure, exit 2, and never before its output has reached the reader.
 */
import { parseArgs, ParseArgsConfig } from "util";
import { UsageError } from "./stackFile";

type Options = NonNullable<ParseArgsConfig["options"]>;

/** `--help` was asked for: runTool prints the help and exits 0. */
class HelpRequested extends Error {}

/** What `--help` prints: the usage line, then what the command does, each flag, its exit statuses and the environment it reads. */
export interface Help<O extends Options = Options> {
    usage: string;
    description: string;
    /** One line per option the command takes (`--help` is added). */
    options: { [K in keyof O]: string };
    /** Exit statuses besides 2 (a usage error or a failure, the same for every command). */
    exit: Record<number, string>;
    /** Environment variables the command reads; none when empty. */
    env: Record<string, string>;
}

/** The text `--help` prints. */
export function helpText<O extends Options>(help: Help<O>, options: O): string {
    const flag = (name: string) => {
        const o = options[name];
        return `${o?.short ? `-${o.short}, ` : ""}--${name}${o?.type === "string" ? " <value>" : ""}`;
    };
    const rows = (entries: [string, string][]) => {
        const width = Math.max(...entries.map(([k]) => k.length));
        return entries.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`);
    };
    const exit: Record<number, string> = { ...help.exit, 2: "usage error (a line saying what to fix), or the command failed" };
    return [
        `usage: ${help.usage}`,
        "",
        help.description,
        "",
        "Options:",
        ...rows([
            ...Object.entries(help.options).map(([k, v]) => [flag(k), v as string] as [string, string]),
            ["-h, --help", "print this help and exit 0"],
        ]),
        "",
        "Exit status:",
        ...rows(Object.entries(exit).map(([k, v]) => [k, v])),
        "",
        "Environment:",
        ...(Object.keys(help.env).length === 0 ? ["  none read"] : rows(Object.entries(help.env))),
    ].join("\n");
}

/**
 * Parses `argv` against `options` (plus `--help`). Unknown options, missing values and an option given twice
 * (which util.parseArgs would resolve silently to the last) are usage errors that end with the usage line.
 * `help` is the usage line, or the whole help (which every command gives: a test holds it).
 */
export function parseCommandLine<O extends Options>(argv: string[], help: string | Help<O>, options: O, allowPositionals = false) {
    const usage = typeof help === "string" ? help : help.usage;
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
    if (seen.has("help")) throw new HelpRequested(typeof help === "string" ? `usage: ${usage}` : helpText(help, options));
    return { values: parsed.values, positionals: parsed.positionals, fail };
}

export interface ToolOptions {
    stack: string;
    json: boolean;
    config?: string;
}

/** The help of a tool that works on one stack; `--config` only where `config` describes it. */
export interface ToolHelp {
    usage: string;
    description: string;
    json: string;
    config?: string;
    exit: Record<number, string>;
}

/** The arguments of the tools that work on one stack: `--stack <name> [--json]`, and `--config <file>` where it applies. */
export function parseToolArgs(argv: string[], help: string | ToolHelp, allowConfig = false): ToolOptions {
    const options: Options = {
        stack: { type: "string", short: "s" },
        json: { type: "boolean" },
        ...(allowConfig ? { config: { type: "string" } } : {}),
    };
    const full: string | Help =
        typeof help === "string"
            ? help
            : {
                  usage: help.usage,
                  description: help.description,
                  options: {
                      stack: "the stack: the name of a Pulumi.<name>.yaml stack file (required)",
                      json: help.json,
                      ...(allowConfig && help.config ? { config: help.config } : {}),
                  },
                  exit: help.exit,
                  // Everything comes from the stack file and the flags; no cloud, no credentials.
                  env: {},
              };
    const { values, fail } = parseCommandLine(argv, full, options);
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
