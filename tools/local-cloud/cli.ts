/**
 * `npm run local:up -- --stack <name>`, `npm run local:status [-- --json]`, `npm run local:down`,
 * and the faults on demand: `npm run local:stop|local:start|local:crash|local:cut|local:heal -- <instance>`.
 */
import { ParseArgsConfig } from "util";
import { Help, helpText, parseCommandLine, runTool } from "../cliArgs";
import { UsageError } from "../stackFile";
import { internetCommand, vpcCommand } from "./network";
import { down, Fault, injectFault, status, up } from "./site";

const faults: Record<Fault, string> = {
    stop: "shut down cleanly",
    start: "booted again with the same disks",
    crash: "killed without a shutdown (it answers nothing until local:start)",
    cut: "cut off the network",
    heal: "back on the network",
};

const usage = [
    "npm run local:up -- --stack <name>",
    "npm run local:status [-- --json]",
    "npm run local:down",
    `npm run local:${Object.keys(faults).join("|local:")} -- <instance>`,
].join("\n       ");

/** The environment every local-cloud command reads (tools/local-cloud/util.ts). */
const environment = {
    LOCAL_CLOUD_NAME: "which local cloud (default foobar): its containers, namespaces and state; two names run side by side",
    LOCAL_CLOUD_CACHE: "where the Debian 12 root file system is cached (default /var/cache/foobar-local-cloud)",
    LOCAL_CLOUD_STATE: "where the cloud keeps its seeds, pid files and console logs (default /run/foobar-local-cloud/<name>)",
};

const rootOnly = "Needs root (systemd-nspawn, network namespaces, nftables, loop devices).";

/** The help of each command (`npm run local:<command> -- --help`). */
const helps: Record<string, (O: Record<string, string>) => Help> = {
    up: (options) => ({
        usage: "npm run local:up -- --stack <name>",
        description: `Boots the stack's instances from the same user-data as AWS in systemd-nspawn containers, waits for cloud-init everywhere and prints the URL. ${rootOnly}`,
        options,
        exit: { 0: "the site is up" },
        env: environment,
    }),
    status: (options) => ({
        usage: "npm run local:status [-- --json]",
        description: "Lists the local instances: role, addresses, whether running, network, cloud-init status and service health.",
        options,
        exit: { 0: "the list is printed (empty when nothing is up)" },
        env: environment,
    }),
    down: (options) => ({
        usage: "npm run local:down",
        description: `Removes the local cloud: containers, namespaces, firewall tables, loop devices and volumes. ${rootOnly}`,
        options,
        exit: { 0: "nothing of the cloud remains" },
        env: environment,
    }),
    ...Object.fromEntries(
        Object.entries(faults).map(([fault, what]) => [
            fault,
            (options: Record<string, string>) => ({
                usage: `npm run local:${fault} -- <instance>`,
                description: `The instance (e.g. web-1, as local:status names it) is ${what}. ${rootOnly}`,
                options,
                exit: { 0: "done" },
                env: environment,
            }),
        ]),
    ),
};

/** The shared parser (a flag given twice is an error), plus the number of positionals a command takes. */
function parse<O extends NonNullable<ParseArgsConfig["options"]>>(
    command: string,
    args: string[],
    options: O,
    descriptions: { [K in keyof O]: string },
    positionals: number,
) {
    const parsed = parseCommandLine(args, helps[command](descriptions as Record<string, string>), options, positionals > 0);
    if (parsed.positionals.length !== positionals) {
        throw parsed.fail(positionals === 1 ? "give exactly one instance name" : `unexpected argument ${parsed.positionals[0]}`);
    }
    return parsed;
}

runTool(async () => {
    const [command, ...rest] = process.argv.slice(2);
    switch (command) {
        case "up": {
            const { values, fail } = parse(
                command,
                rest,
                { stack: { type: "string", short: "s" } },
                { stack: "the stack: the name of a Pulumi.<name>.yaml stack file (required)" },
                0,
            );
            if (typeof values.stack !== "string") throw fail("--stack is required");
            const site = await up(values.stack);
            const curl = (args: string) => `  ${internetCommand(["curl", ...args.split(" ")]).join(" ")}`;
            console.log(
                [
                    "",
                    `The ${site.stack} topology is up: ${site.url}`,
                    "Reach it from the internet namespace, as a user reaches the load balancer's public address:",
                    site.url.startsWith("https")
                        ? `${curl(`-sk ${site.url}api/status`)}      # -k: the certificate is self-signed`
                        : curl(`-s ${site.url}api/status`),
                    `  ${internetCommand(["bash"]).join(" ")}      # a shell on the internet (a browser: run it there)`,
                    `  ${vpcCommand(["bash"]).join(" ")}      # a shell at the VPC router's address (the security groups apply)`,
                    "Status: npm run local:status    Faults: npm run local:stop|start|crash|cut|heal -- <instance>    Remove everything: npm run local:down",
                ].join("\n"),
            );
            return 0;
        }
        case "status": {
            const { values } = parse(
                command,
                rest,
                { json: { type: "boolean", default: false } },
                { json: "print the list as JSON instead of a table" },
                0,
            );
            const rows = await status();
            if (values.json) {
                console.log(JSON.stringify(rows, null, 2));
                return 0;
            }
            if (rows.length === 0) {
                console.log("no local instances (start them with npm run local:up -- --stack dev)");
                return 0;
            }
            const table = [
                ["NAME", "ROLE", "PRIVATE IP", "PUBLIC IP", "SITE ADDRESS", "RUNNING", "NETWORK", "CLOUD-INIT", "SERVICE"],
                ...rows.map((r) => [
                    r.name,
                    r.role,
                    r.privateIp,
                    r.publicIp ?? "-",
                    r.siteAddress ?? "-",
                    String(r.running),
                    r.running ? (r.networkUp ? "up" : "cut") : "-",
                    r.cloudInit,
                    r.service,
                ]),
            ];
            const widths = table[0].map((_, i) => Math.max(...table.map((row) => row[i].length)));
            for (const row of table) console.log(row.map((cell, i) => (i < row.length - 1 ? cell.padEnd(widths[i]) : cell)).join("  "));
            return 0;
        }
        case "down":
            parse(command, rest, {}, {}, 0);
            await down();
            console.log("local cloud removed: no containers, namespaces, firewall tables, loop devices or volumes remain");
            return 0;
        case "stop":
        case "start":
        case "crash":
        case "cut":
        case "heal": {
            const { positionals } = parse(command, rest, {}, {}, 1);
            await injectFault(command, positionals[0]);
            console.log(`${positionals[0]}: ${faults[command]}`);
            return 0;
        }
        case "--help":
        case "-h":
            console.log(
                helpText(
                    {
                        usage,
                        description: "The local cloud. Each command's own help: npm run local:<command> -- --help",
                        options: {},
                        exit: { 0: "the command did what it says" },
                        env: environment,
                    },
                    {},
                ),
            );
            return 0;
        default:
            throw new UsageError(`unknown command ${JSON.stringify(command ?? "")}\nusage: ${usage}`);
    }
});
