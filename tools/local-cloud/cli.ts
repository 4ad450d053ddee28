/** `npm run local:up -- --stack <name>`, `npm run local:status`, `npm run local:down` */
import { parseArgs } from "util";
import { runTool } from "../cliArgs";
import { UsageError } from "../preview/stackConfig";
import { vpcNetns } from "./network";
import { down, status, up } from "./site";

const usage = "npm run local:up -- --stack <name> | npm run local:status | npm run local:down";

runTool(async () => {
    const [command, ...rest] = process.argv.slice(2);
    let values: { stack?: string };
    try {
        ({ values } = parseArgs({ args: rest, options: { stack: { type: "string", short: "s" } }, strict: true }));
    } catch (err) {
        throw new UsageError(`${(err as Error).message}\nusage: ${usage}`);
    }
    switch (command) {
        case "up": {
            if (!values.stack) throw new UsageError(`--stack is required\nusage: ${usage}`);
            const site = await up(values.stack);
            console.log(
                [
                    "",
                    `The ${site.stack} topology is up: ${site.url}`,
                    "Reach it from the VPC namespace, where the instances' addresses live:",
                    site.url.startsWith("https")
                        ? `  ip netns exec ${vpcNetns()} curl -sk ${site.url}api/status      # -k: the certificate is self-signed`
                        : `  ip netns exec ${vpcNetns()} curl -s ${site.url}api/status`,
                    `  ip netns exec ${vpcNetns()} bash      # a shell inside the VPC`,
                    "Status: npm run local:status    Remove everything: npm run local:down",
                ].join("\n"),
            );
            return 0;
        }
        case "status": {
            const rows = await status();
            if (rows.length === 0) {
                console.log("no local instances (start them with npm run local:up -- --stack dev)");
                return 0;
            }
            console.log(
                ["NAME".padEnd(14), "ROLE".padEnd(11), "ADDRESS".padEnd(15), "RUNNING".padEnd(8), "CLOUD-INIT".padEnd(11), "SERVICE"].join(
                    " ",
                ),
            );
            for (const r of rows) {
                console.log(
                    [
                        r.name.padEnd(14),
                        r.role.padEnd(11),
                        r.address.padEnd(15),
                        String(r.running).padEnd(8),
                        r.cloudInit.padEnd(11),
                        r.service,
                    ].join(" "),
                );
            }
            return 0;
        }
        case "down":
            await down();
            console.log("local cloud removed: no containers, namespaces or interfaces remain");
            return 0;
        default:
            throw new UsageError(`unknown command ${JSON.stringify(command ?? "")}\nusage: ${usage}`);
    }
});
