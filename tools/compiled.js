#!/usr/bin/env node
// Runs a tool as compiled JavaScript instead of compiling its TypeScript on every start (ts-node spends most of an
// offline preview's time there). The JavaScript is built once per state of the sources, by `npm ci` (the prepare
// script) or by the first run after a change, into bin/<signature of the sources>/; a run never uses a stale build.
//
//   node tools/compiled.js <tool, e.g. tools/preview/cli> [args...]   run it
//   node tools/compiled.js --build                                      only build (the prepare script)
//
// The build is tsc with tsconfig.build.json (emit only). Files the code reads beside itself (userdata/files,
// components/scripts) are linked into the build, so they are never copies that could go stale.
"use strict";

const crypto = require("node:crypto");
const fs = require("node:fs");
const path = require("node:path");
const { spawnSync } = require("node:child_process");

const root = path.resolve(__dirname, "..");
const config = path.join(root, "tsconfig.build.json");
/** What the build reads: the sources tsconfig.build.json includes, and the compiler settings. */
const sourceDirs = ["components", "userdata", "policies", "tools"];
/** Directories of files the code reads with __dirname, linked into each build. */
const assetDirs = ["components/scripts", "userdata/files"];

function walk(dir, out) {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        if (entry.name === "node_modules") continue;
        const full = path.join(dir, entry.name);
        if (entry.isDirectory()) walk(full, out);
        else if (entry.name.endsWith(".ts")) out.push(full);
    }
    return out;
}

/** A digest of every source's path, size and modification time, the compiler settings and the compiler's version. */
function signature() {
    const files = [
        ...fs
            .readdirSync(root)
            .filter((f) => f.endsWith(".ts"))
            .map((f) => path.join(root, f)),
        ...sourceDirs.flatMap((d) => walk(path.join(root, d), [])),
        path.join(root, "tsconfig.json"),
        config,
    ].sort();
    const hash = crypto.createHash("sha256");
    for (const f of files) {
        const s = fs.statSync(f);
        // Rounded, not floored: a time set back from a Date passes through a float of seconds and can land a hair below.
        hash.update(`${path.relative(root, f)}\0${s.size}\0${Math.round(s.mtimeMs)}\n`);
    }
    hash.update(require("typescript/package.json").version);
    return hash.digest("hex").slice(0, 16);
}

/** The build for the sources as they are, built first if there is none. Concurrent runs each build and one wins. */
function ensureBuild() {
    const bin = path.join(root, "bin");
    const out = path.join(bin, signature());
    if (fs.existsSync(out)) return out;
    fs.mkdirSync(bin, { recursive: true });
    const tmp = fs.mkdtempSync(path.join(bin, ".building-"));
    try {
        const tsc = require.resolve("typescript/bin/tsc");
        const r = spawnSync(process.execPath, [tsc, "-p", config, "--outDir", tmp], { cwd: root, encoding: "utf8" });
        if (r.status !== 0) {
            process.stderr.write(`error: building the tools failed (tsc -p tsconfig.build.json):\n${r.stdout}${r.stderr}`);
            process.exit(2);
        }
        for (const dir of assetDirs) fs.symlinkSync(path.join(root, dir), path.join(tmp, dir));
        try {
            fs.renameSync(tmp, out);
        } catch (e) {
            if (!fs.existsSync(out)) throw e; // another run built the same sources first
        }
    } finally {
        fs.rmSync(tmp, { recursive: true, force: true });
    }
    // Builds of earlier states of the sources, unused for a day (a run may still be using a recent one).
    for (const old of fs.readdirSync(bin)) {
        const p = path.join(bin, old);
        if (p !== out && /^[0-9a-f]{16}$/.test(old) && Date.now() - fs.statSync(p).mtimeMs > 86_400_000) {
            fs.rmSync(p, { recursive: true, force: true });
        }
    }
    return out;
}

/** The compiled module of `tool` (a path of a .ts source, with or without the extension). */
function compiledPath(tool) {
    return path.join(ensureBuild(), tool.replace(/\.ts$/, "") + ".js");
}

module.exports = { compiledPath, ensureBuild, signature };

if (require.main === module) {
    const [tool, ...args] = process.argv.slice(2);
    if (tool === "--build") {
        fs.mkdirSync(path.join(root, "bin"), { recursive: true });
        ensureBuild();
    } else if (!tool) {
        process.stderr.write("usage: node tools/compiled.js <tools/...> [args...] | --build\n");
        process.exit(2);
    } else {
        fs.mkdirSync(path.join(root, "bin"), { recursive: true });
        const main = compiledPath(tool);
        process.argv = [process.argv[0], main, ...args];
        require(main);
    }
}
