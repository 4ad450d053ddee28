/** Argument parsing shared by the offline tools: clear errors, exit code 2 on misuse. */
import { parseArgs } from "util";
import { UsageError } from "./preview/stackConfig";

export interface ToolOptions {
    stack: string;
    json: boolean;
    config?: string;
}

export function parseToolArgs(argv: string[], usage: string, allowConfig = false): ToolOptions {
    let values: { stack?: string; json?: boolean; config?: string; help?: boolean };
    try {
        ({ values } = parseArgs({
            args: argv,
            options: {
                stack: { type: "string", short: "s" },
                json: { type: "boolean", default: false },
                help: { type: "boolean", short: "h" },
                config: { type: "string" },
            },
            strict: true,
            allowPositionals: false,
        }));
    } catch (err) {
        throw new UsageError(`${(err as Error).message}\nusage: ${usage}`);
    }
    if (values.help) {
        console.log(`usage: ${usage}`);
        process.exit(0);
    }
    if (values.config !== undefined && !allowConfig) throw new UsageError(`--config is not an option of this command\nusage: ${usage}`);
    if (!values.stack) throw new UsageError(`--stack is required\nusage: ${usage}`);
    return { stack: values.stack, json: values.json === true, config: values.config };
}

/** Runs a tool's main: usage and program errors print one clear message and exit 2. */
export function runTool(main: () => Promise<number>): void {
    const fail = (err: unknown) => {
        console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
        process.exit(2);
    };
    // The Pulumi runtime reports a failing program as an unhandled rejection.
    process.on("unhandledRejection", fail);
    main().then((code) => process.exit(code), fail);
}
