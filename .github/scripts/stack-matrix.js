#!/usr/bin/env node
// Derives the GitHub Actions stack matrix from the stack files Pulumi reads, so
// that adding `Pulumi.<stack>.yaml` adds the stack to every per-stack job
// without editing a workflow.
//
// Which stack files exist, which one Pulumi reads and what it reads from it
// come from tools/stackFile.ts, the module the offline preview, the policy
// check and the local cloud read stacks with (loaded through ts-node, so the
// job runs after `npm ci`). A stack file Pulumi would ignore or refuse fails
// the job with an error annotation on that file.
//
// Used by .github/workflows/*.yml and by tests/github/**/*.test.ts (the test
// runs this very file, so the workflow and the test cannot drift apart).
//
//   node .github/scripts/stack-matrix.js [--root DIR]
//       every stack; writes `matrix`, `stacks` and `count` to $GITHUB_OUTPUT
//   node .github/scripts/stack-matrix.js --stack NAME [--root DIR]
//       one stack (fails when it has no stack file); writes `stack`,
//       `policy-config` and `region` to $GITHUB_OUTPUT
//   node .github/scripts/stack-matrix.js --deployable [--stack NAME] [--root DIR]
//       the stacks the deploy workflow may deploy: those whose policy config
//       makes every policy of the pack mandatory (so a stack that passes only
//       with advisory findings, like the whiteboard `dev`, is never deployed
//       by a merge). With --stack, that one stack, or a failure saying why
//       not. Writes `matrix`, `stacks` and `count` (possibly 0).
//
// Without GITHUB_OUTPUT the same key=value lines go to standard output.
"use strict";

const fs = require("node:fs");
const path = require("node:path");

if (require.main === module) {
    require("ts-node").register({ transpileOnly: true, project: path.join(__dirname, "..", "..", "tsconfig.json") });
}
const { ignoredStackFiles, loadStackConfig, stackFilePath, stackFiles } = require("../../tools/stackFile");
const { parseCommandLine, runTool } = require("../../tools/cliArgs");
const { loadPolicyConfig } = require("../../tools/policy-check/config");
const { policies } = require("../../policies/pack");
const { emit } = require("./outputs");

/** Policy configuration used when a stack has no `policies/config/<stack>.json`. */
const DEFAULT_POLICY_CONFIG = "policies/config/dev.json";

/** `policies/config/<stack>.json` when that file exists, else the dev config. */
function policyConfigFor(root, stack) {
    const own = `policies/config/${stack}.json`;
    return fs.existsSync(path.join(root, own)) ? own : DEFAULT_POLICY_CONFIG;
}

/** A stack file that cannot be used, with the file to annotate. */
class StackFileProblem extends Error {
    constructor(file, message) {
        super(message);
        this.file = file;
    }
}

/**
 * The matrix entry of one stack: its stack file, policy config and `aws:region`
 * (used only to pick the STS region for the credentials step; the program reads
 * `aws:region` through Pulumi config as usual).
 */
function stackEntry(root, { stack, file }) {
    let config;
    try {
        ({ config } = loadStackConfig(stack, root));
    } catch (e) {
        throw new StackFileProblem(file, e.message);
    }
    return { stack, file, policyConfig: policyConfigFor(root, stack), region: config["aws:region"] ?? "" };
}

/** One matrix entry per stack file Pulumi reads, sorted by stack; a file Pulumi ignores is a problem. */
function stackEntries(root) {
    const ignored = ignoredStackFiles(root)[0];
    if (ignored) throw new StackFileProblem(ignored.file, ignored.message);
    return stackFiles(root).map((f) => stackEntry(root, f));
}

/**
 * Why the deploy workflow must not deploy `entry`'s stack, or undefined when its policy config makes every
 * policy of the pack mandatory (an advisory or disabled policy would let `pulumi up` pass with a finding).
 */
function notDeployable(root, entry) {
    const resolved = loadPolicyConfig(path.join(root, entry.policyConfig), policies);
    const lax = Object.entries(resolved).filter(([, s]) => s.enforcementLevel !== "mandatory");
    if (lax.length === 0) return undefined;
    const [name, settings] = lax[0];
    const others = lax.length > 1 ? ` and ${lax.length - 1} more of the pack's ${Object.keys(resolved).length}` : "";
    return (
        `stack ${entry.stack} is not deployed by this workflow: its policy config ${entry.policyConfig} leaves ${name} ${settings.enforcementLevel}${others}; ` +
        `once the stack passes every policy, make policies/config/${entry.stack}.json {"all": "mandatory"}, or deploy it by hand with pulumi up`
    );
}

/** The stacks the deploy workflow deploys: those held to every policy as mandatory. */
function deployableEntries(root) {
    return stackEntries(root).filter((e) => notDeployable(root, e) === undefined);
}

/** The value given to `strategy.matrix` through `fromJSON`. */
function stackMatrix(root) {
    return { include: stackEntries(root) };
}

/** A workflow error annotation (on a file when there is one); the job fails with exit 1. */
function annotate(file, message) {
    process.stdout.write(`::error${file ? ` file=${file}` : ""}::${message}\n`);
    return 1;
}

/** The entry of a stack named on the command line, or why there is none (no such stack file). */
function namedEntry(root, stack) {
    let file;
    try {
        file = stackFilePath(stack, root);
    } catch (e) {
        return { error: e.message };
    }
    return { file, entry: stackEntry(root, { stack, file }) };
}

async function main(argv) {
    const { values } = parseCommandLine(argv, "node .github/scripts/stack-matrix.js [--root DIR] [--stack NAME] [--deployable]", {
        root: { type: "string" },
        stack: { type: "string" },
        deployable: { type: "boolean" },
    });
    const root = values.root ?? process.cwd();
    const matrixOutputs = (entries) => ({
        matrix: JSON.stringify({ include: entries }),
        stacks: JSON.stringify(entries.map((e) => e.stack)),
        count: String(entries.length),
    });
    try {
        if (values.deployable) {
            if (values.stack === undefined) {
                emit(matrixOutputs(deployableEntries(root)));
                return 0;
            }
            const { file, entry, error } = namedEntry(root, values.stack);
            if (error) return annotate(undefined, error);
            const problem = notDeployable(root, entry);
            if (problem) return annotate(file, problem);
            emit(matrixOutputs([entry]));
            return 0;
        }
        if (values.stack !== undefined) {
            const { entry, error } = namedEntry(root, values.stack);
            if (error) return annotate(undefined, error);
            emit({ stack: entry.stack, "policy-config": entry.policyConfig, region: entry.region });
            return 0;
        }
        const entries = stackEntries(root);
        if (entries.length === 0) return annotate(undefined, "no Pulumi.<stack>.yaml stack file in the repository");
        emit(matrixOutputs(entries));
        return 0;
    } catch (e) {
        if (e instanceof StackFileProblem) return annotate(e.file, e.message);
        throw e;
    }
}

module.exports = { DEFAULT_POLICY_CONFIG, deployableEntries, notDeployable, policyConfigFor, stackEntries, stackMatrix };

if (require.main === module) runTool(() => main(process.argv.slice(2)));
