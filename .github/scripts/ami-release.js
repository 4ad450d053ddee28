#!/usr/bin/env node
// Moves the Debian 12 AMI build the stacks pin (`amiRelease`), for the
// scheduled workflow .github/workflows/debian-ami.yml, which opens a pull
// request with the result, and for anyone moving it by hand.
//
//   node .github/scripts/ami-release.js --name debian-12-amd64-20250316-2053 [--root DIR]
//       the build of an AMI name (fails on a name that is not a Debian 12
//       build); writes `release` to $GITHUB_OUTPUT
//   node .github/scripts/ami-release.js --set 20250316-2053 [--root DIR]
//       sets amiRelease in every stack file that pins by amiRelease (a stack
//       that pins by amiId is left alone), keeping comments and layout;
//       writes `changed` (the stacks moved, comma-separated)
//
// Without GITHUB_OUTPUT the key=value lines go to standard output.
"use strict";

const fs = require("node:fs");
const path = require("node:path");
const { parseDocument } = require("yaml");
const { emit } = require("./outputs");

if (require.main === module) {
    require("ts-node").register({ transpileOnly: true, project: path.join(__dirname, "..", "..", "tsconfig.json") });
}
const { loadStackConfig, stackFiles, UsageError } = require("../../tools/stackFile");
const { parseCommandLine, runTool } = require("../../tools/cliArgs");

/** Debian's AMI names: debian-12-<arch>-<YYYYMMDD>-<serial> (https://wiki.debian.org/Cloud/AmazonEC2Image/Bookworm). */
const DEBIAN_12_NAME = /^debian-12-(?:amd64|arm64)-(\d{8}-\d{1,6})$/;

/** The build of a Debian 12 AMI name. */
function releaseOf(name) {
    const m = DEBIAN_12_NAME.exec(name);
    if (!m)
        throw new UsageError(`${JSON.stringify(name)} is not the name of a Debian 12 AMI (debian-12-<amd64|arm64>-<YYYYMMDD>-<serial>)`);
    return m[1];
}

/** Sets amiRelease to `release` in every stack file of `root` that pins by it; returns the stacks whose file changed. */
function setRelease(root, release) {
    releaseOf(`debian-12-amd64-${release}`);
    const changed = [];
    for (const { stack, file } of stackFiles(root)) {
        const { project } = loadStackConfig(stack, root);
        const full = path.join(root, file);
        const doc = parseDocument(fs.readFileSync(full, "utf8"));
        // The key as the file spells it: with the project's namespace, or without (Pulumi >= 3.42).
        const key = [`${project}:amiRelease`, "amiRelease"].find((k) => doc.hasIn(["config", k]));
        if (key === undefined || doc.getIn(["config", key]) === release) continue;
        doc.setIn(["config", key], release);
        fs.writeFileSync(full, doc.toString());
        changed.push(stack);
    }
    return changed;
}

async function main(argv) {
    const { values, fail } = parseCommandLine(argv, "node .github/scripts/ami-release.js (--name AMI_NAME | --set BUILD) [--root DIR]", {
        name: { type: "string" },
        set: { type: "string" },
        root: { type: "string" },
    });
    if ((values.name === undefined) === (values.set === undefined)) throw fail("give one of --name and --set");
    if (values.name !== undefined) emit({ release: releaseOf(values.name) });
    else emit({ changed: setRelease(values.root ?? process.cwd(), values.set).join(",") });
    return 0;
}

module.exports = { releaseOf, setRelease };

if (require.main === module) runTool(() => main(process.argv.slice(2)));
