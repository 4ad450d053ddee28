/**
 * Step outputs for the workflows' scripts: `key=value` lines appended to $GITHUB_OUTPUT when a
 * runner gives one, and printed for the log (and for tests, which read stdout).
 */
"use strict";
const fs = require("node:fs");

function emit(outputs) {
    const lines = Object.entries(outputs)
        .map(([k, v]) => `${k}=${v}\n`)
        .join("");
    if (process.env.GITHUB_OUTPUT) fs.appendFileSync(process.env.GITHUB_OUTPUT, lines);
    process.stdout.write(lines);
}

module.exports = { emit };
