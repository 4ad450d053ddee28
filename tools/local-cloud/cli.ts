/**
 * `npm run local:up -- --stack <name>`, `npm run local:status [-- --json]`, `npm run local:down`,
 * and the faults on demand: `npm run local:stop|local:start|local:crash|local:cut|local:heal -- <instance>`.
 */
import { ParseArgsConfig } from "util";
import { parseCommandLine, runTool } from "../cliArgs";
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

/** The shared parser (a flag given twice is an error), plus the number of positionals a command takes. */
function parse<O extends NonNullable<ParseArgsConfig["options"]>>(args: string[], options: O, positionals: number) {
    const parsed = parseCommandLine(args, usage, options, positionals > 0);
    if (parsed.positionals.length !== positionals) {
        throw parsed.fail(positionals === 1 ? "give exactly one instance name" : `unexpected argument ${parsed.positionals[0]}`);
    }
    return parsed;
}

runTool(async () => {
    const [command, ...rest] = process.argv.slice(2);
    switch (command) {
        case "up": {
            const { values, fail } = parse(rest, { stack: { type: "string", short: "s" } }, 0);
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
            const { values } = parse(rest, { json: { type: "boolean", default: false } }, 0);
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
            parse(rest, {}, 0);
            await down();
            console.log("local cloud removed: no containers, namespaces, firewall tables, loop devices or volumes remain");
            return 0;
        case "stop":
        case "start":
        case "crash":
        case "cut":
        case "heal": {
            const { positionals } = parse(rest, {}, 1);
            await injectFault(command, positionals[0]);
            console.log(`${positionals[0]}: ${faults[command]}`);
            return 0;
        }
        default:
            throw new UsageError(`unknown command ${JSON.stringify(command ?? "")}\nusage: ${usage}`);
    }
});
