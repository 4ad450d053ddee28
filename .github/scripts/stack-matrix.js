#!/usr/bin/env node
// Derives the GitHub Actions stack matrix from the Pulumi stack files present
// in the repository, so that adding `Pulumi.<stack>.yaml` adds the stack to
// every per-stack job without editing a workflow.
//
// Used by .github/workflows/*.yml and by tests/github/**/*.test.ts (the test
// runs this very file, so the workflow and the test cannot drift apart).
// Plain Node.js with no dependencies: the matrix job runs before `npm ci`.
//
//   node .github/scripts/stack-matrix.js [--root DIR]
//       every stack; writes `matrix`, `stacks` and `count` to $GITHUB_OUTPUT
//   node .github/scripts/stack-matrix.js --stack NAME [--root DIR]
//       one stack (fails when it has no stack file); writes `stack`,
//       `policy-config` and `region` to $GITHUB_OUTPUT
//
// Without GITHUB_OUTPUT the same key=value lines go to standard output.
"use strict";

const fs = require("node:fs");
const path = require("node:path");

/** `Pulumi.<stack>.yaml` (or `.yml`); `Pulumi.yaml` itself has no stack part. */
const STACK_FILE = /^Pulumi\.([A-Za-z0-9][A-Za-z0-9._-]*)\.ya?ml$/;
/** Policy configuration used when a stack has no `policies/config/<stack>.json`. */
const DEFAULT_POLICY_CONFIG = "policies/config/dev.json";

/** Stack files at the root of `root`, one entry per stack, sorted by name. */
function stackFiles(root) {
    const byStack = new Map();
    for (const entry of fs.readdirSync(root, { withFileTypes: true })) {
        if (!entry.isFile()) continue;
        const m = STACK_FILE.exec(entry.name);
        if (!m) continue;
        // Pulumi reads `.yaml` before `.yml`; keep the one it would read.
        const known = byStack.get(m[1]);
        if (!known || entry.name.endsWith(".yaml")) byStack.set(m[1], entry.name);
    }
    return [...byStack.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([stack, file]) => ({ stack, file }));
}

/** Names of the stacks that have a stack file, sorted. */
function listStacks(root) {
    return stackFiles(root).map((s) => s.stack);
}

/** `policies/config/<stack>.json` when that file exists, else the dev config. */
function policyConfigFor(root, stack) {
    const own = `policies/config/${stack}.json`;
    return fs.existsSync(path.join(root, own)) ? own : DEFAULT_POLICY_CONFIG;
}

/**
 * The stack's `aws:region` when its stack file sets it as a plain top-level
 * `config:` value, else '' (the workflow then falls back to vars.AWS_REGION).
 * Only used to pick the STS region for the credentials step; the program
 * itself reads `aws:region` through Pulumi config as usual.
 */
function regionFor(root, file) {
    const text = fs.readFileSync(path.join(root, file), "utf8");
    const m = /^[ \t]+["']?aws:region["']?[ \t]*:[ \t]*["']?([a-z]{2}(?:-[a-z]+)+-\d)["']?[ \t]*(?:#.*)?$/m.exec(text);
    return m ? m[1] : "";
}

/** One matrix entry per stack file. */
function stackEntries(root) {
    return stackFiles(root).map(({ stack, file }) => ({
        stack,
        file,
        policyConfig: policyConfigFor(root, stack),
        region: regionFor(root, file),
    }));
}

/** The value given to `strategy.matrix` through `fromJSON`. */
function stackMatrix(root) {
    return { include: stackEntries(root) };
}

function parseArgs(argv) {
    const args = { root: process.cwd(), stack: undefined };
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        if ((a === "--root" || a === "--stack") && i + 1 < argv.length) {
            args[a.slice(2)] = argv[++i];
        } else {
            throw new Error(`unknown argument: ${a}`);
        }
    }
    return args;
}

function emit(outputs) {
    const lines = Object.entries(outputs)
        .map(([k, v]) => `${k}=${v}\n`)
        .join("");
    if (process.env.GITHUB_OUTPUT) fs.appendFileSync(process.env.GITHUB_OUTPUT, lines);
    process.stdout.write(lines);
}

function main(argv) {
    let args;
    try {
        args = parseArgs(argv);
    } catch (e) {
        process.stderr.write(`${e.message}\nusage: stack-matrix.js [--root DIR] [--stack NAME]\n`);
        return 2;
    }
    const entries = stackEntries(args.root);
    if (args.stack !== undefined) {
        const entry = entries.find((e) => e.stack === args.stack);
        if (!entry) {
            const known = entries.map((e) => e.stack).join(", ") || "none";
            process.stdout.write(`::error::no stack file Pulumi.${args.stack}.yaml in the repository (stacks: ${known})\n`);
            return 1;
        }
        emit({ stack: entry.stack, "policy-config": entry.policyConfig, region: entry.region });
        return 0;
    }
    if (entries.length === 0) {
        process.stdout.write("::error::no Pulumi.<stack>.yaml stack file in the repository\n");
        return 1;
    }
    emit({
        matrix: JSON.stringify({ include: entries }),
        stacks: JSON.stringify(entries.map((e) => e.stack)),
        count: String(entries.length),
    });
    return 0;
}

module.exports = {
    STACK_FILE,
    DEFAULT_POLICY_CONFIG,
    listStacks,
    policyConfigFor,
    regionFor,
    stackEntries,
    stackMatrix,
    main,
};

if (require.main === module) {
    process.exitCode = main(process.argv.slice(2));
}
