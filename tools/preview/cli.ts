/** `npm run preview:offline -- --stack <name> [--json]` */
import { parseToolArgs, runTool } from "../cliArgs";
import { findProjectRoot } from "../stackFile";
import { planStack } from "./plan";
import { planJson, renderPlan } from "./render";

runTool(async () => {
    const opts = parseToolArgs(process.argv.slice(2), "npm run preview:offline -- --stack <name> [--json]");
    const plan = await planStack(opts.stack, findProjectRoot());
    console.log(opts.json ? JSON.stringify(planJson(plan), null, 2) : renderPlan(plan));
    return 0;
});
