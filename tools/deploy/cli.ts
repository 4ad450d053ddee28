/**
 * `npm run deploy:bound -- --stack <name> [--json]`: the upper bound of a `pulumi up` on the stack
 * (tools/deploy/rolloutBound.ts). In GitHub Actions it also writes the step outputs the deploy job's
 * limits take (`minutes`, `credential-seconds`), and fails when the bound does not fit a hosted job.
 */
import * as fs from "fs";
import { parseToolArgs, runTool } from "../cliArgs";
import { planStack } from "../preview/plan";
import { findProjectRoot } from "../stackFile";
import { hostedJobLimitMinutes, rolloutBound } from "./rolloutBound";

/** The credentials outlive `pulumi up` by this much: the role session starts a step before it. */
const credentialSlackSeconds = 10 * 60;

runTool(async () => {
    const opts = parseToolArgs(process.argv.slice(2), "npm run deploy:bound -- --stack <name> [--json]");
    const bound = rolloutBound(await planStack(opts.stack, findProjectRoot()));
    const credentialSeconds = bound.minutes * 60 + credentialSlackSeconds;
    if (opts.json) console.log(JSON.stringify({ ...bound, credentialSeconds }, null, 2));
    else {
        console.log(`${opts.stack}: pulumi up takes at most ${bound.minutes} min; the longest chain:`);
        for (const step of bound.chain) console.log(`  ${step.name} ${step.seconds / 60} min`);
    }
    if (bound.minutes > hostedJobLimitMinutes) {
        console.error(
            `deploy:bound: ${opts.stack}'s rollout may take ${bound.minutes} min, over a GitHub-hosted job's ${hostedJobLimitMinutes}: ` +
                "deploy it from a self-hosted runner (up to 5 days) with a role whose MaxSessionDuration covers it, or lower webCount",
        );
        return 1;
    }
    if (process.env.GITHUB_OUTPUT) {
        fs.appendFileSync(process.env.GITHUB_OUTPUT, `minutes=${bound.minutes}\ncredential-seconds=${credentialSeconds}\n`);
    }
    return 0;
});
