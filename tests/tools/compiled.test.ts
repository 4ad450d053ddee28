/** tools/compiled.js: the offline commands run compiled JavaScript, built once per state of the sources and never stale. */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";

jest.setTimeout(600_000);

const root = path.resolve(__dirname, "..", "..");
const compiled = require("../../tools/compiled.js") as { ensureBuild(): string; signature(): string };
const scripts = (JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")) as { scripts: Record<string, string> }).scripts;

test("npm ci builds the JavaScript (prepare), and the offline commands run it", () => {
    expect(scripts.prepare).toBe("node tools/compiled.js --build");
    expect(scripts["preview:offline"]).toBe("node tools/compiled.js tools/preview/cli");
    expect(scripts["policy:check"]).toBe("node tools/compiled.js tools/policy-check/cli");
    // The build goes where git, eslint and prettier never look.
    expect(fs.readFileSync(path.join(root, ".gitignore"), "utf8")).toMatch(/^\/bin\/$/m);
});

test("the build is named after the sources: touching one names another, putting it back names the same again", () => {
    const source = path.join(root, "roles.ts");
    const { atime, mtime } = fs.statSync(source);
    const before = compiled.signature();
    try {
        fs.utimesSync(source, atime, new Date(mtime.getTime() + 1000));
        expect(compiled.signature()).not.toBe(before);
    } finally {
        fs.utimesSync(source, atime, mtime);
    }
    expect(compiled.signature()).toBe(before);
});

test("the compiled preview and policy check print exactly what the TypeScript prints", () => {
    const build = compiled.ensureBuild();
    expect(path.basename(build)).toBe(compiled.signature());
    // The files the program reads beside itself are the sources', linked, never copies.
    expect(fs.realpathSync(path.join(build, "userdata", "files"))).toBe(path.join(root, "userdata", "files"));
    const run = (args: string[]) => {
        const r = spawnSync(process.execPath, args, { cwd: root, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
        return { status: r.status, stdout: r.stdout, stderr: r.stderr };
    };
    for (const [tool, args] of [
        ["tools/preview/cli", ["--stack", "prod", "--json"]],
        ["tools/policy-check/cli", ["--stack", "dev", "--json"]],
    ] as const) {
        const js = run(["tools/compiled.js", tool, ...args]);
        const ts = run(["-r", "ts-node/register/transpile-only", `${tool}.ts`, ...args]);
        expect(js.stdout.length).toBeGreaterThan(1000);
        expect(js).toEqual(ts);
    }
});
