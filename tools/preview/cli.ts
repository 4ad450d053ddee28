/** `npm run preview:offline -- --stack <name> [--json]` */
import { parseToolArgs, runTool } from "../cliArgs";
import { findProjectRoot } from "../stackFile";
import { planStack } from "./plan";
import { planJson, renderPlan } from "./render";

runTool(async () => {
    const opts = parseToolArgs(process.argv.slice(2), {
        usage: "npm run -s preview:offline -- --stack <name> [--json]",
        description:
            "Runs the Pulumi program of the stack under mocks (no AWS, no Pulumi CLI) and prints what it would create: " +
            "the resources with their key inputs and decoded user-data, and the outputs.",
        json: 'print the plan as JSON ({"resources":[...],"outputs":{...}}) instead of the tree',
        exit: { 0: "the plan is printed" },
    });
    const plan = await planStack(opts.stack, findProjectRoot());
    console.log(opts.json ? JSON.stringify(planJson(plan), null, 2) : renderPlan(plan));
    return 0;
});
