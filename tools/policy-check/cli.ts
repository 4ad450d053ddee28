/**
 * `npm run policy:check -- --stack <name> [--json] [--config <file>]`
 * Exit 0: no mandatory violation; 1: a mandatory violation; 2: usage or program error.
 */
import { policies } from "../../policies/pack";
import { parseToolArgs, runTool } from "../cliArgs";
import { findProjectRoot, loadStackConfig } from "../stackFile";
import { checkStack, defaultPolicyConfig } from "./check";
import { loadPolicyConfig } from "./config";
import { renderReport, reportJson } from "./report";

runTool(async () => {
    const opts = parseToolArgs(
        process.argv.slice(2),
        {
            usage: "npm run -s policy:check -- --stack <name> [--json] [--config <policy-config.json>]",
            description:
                "Plans the stack offline (as preview:offline does) and evaluates the policy pack in policies/ over the plan, " +
                "as pulumi preview --policy-pack policies would.",
            json: 'print the report as JSON ({"violations":[...],"exempted":[...]}) instead of text',
            config: "a policy config file, as pulumi preview --policy-pack-config takes (default: every policy at its own level)",
            exit: { 0: "no mandatory violation (advisory ones are listed)", 1: "at least one mandatory violation" },
        },
        true,
    );
    // Both are checked before the (slower) plan, so a typo fails at once.
    const config = opts.config ? loadPolicyConfig(opts.config, policies) : defaultPolicyConfig();
    const root = findProjectRoot();
    const result = await checkStack(loadStackConfig(opts.stack, root), config, policies, root);
    for (const { policy, entry } of result.unusedExemptions) {
        console.error(`warning: ${policy} exempts "${entry}", which names no resource of stack ${result.stack}`);
    }
    console.log(
        opts.json
            ? JSON.stringify(reportJson(result), null, 2)
            : renderReport(
                  result,
                  policies.map((p) => p.name),
              ),
    );
    return result.violations.some((v) => v.enforcementLevel === "mandatory") ? 1 : 0;
});
