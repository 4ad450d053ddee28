/** The README's commands that print JSON work as written: npm's banner ("> foobar@0.1.0 ...") must not precede the JSON. */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";

jest.setTimeout(300_000);

const root = path.resolve(__dirname, "..");
const readme = fs.readFileSync(path.join(root, "README.md"), "utf8");
/** Every `npm run …` command in the README (in code blocks and inline code) that asks for --json, up to a comment. */
const jsonCommands = [...readme.matchAll(/npm\s+run\b[^`#\n]*--json[^`#\n]*/g)].map((m) => m[0].replace(/\s+/g, " ").trim());

test("every README command that prints JSON runs npm silently", () => {
    expect(jsonCommands.length).toBeGreaterThanOrEqual(4);
    expect(jsonCommands.filter((c) => !/^npm run (-s|--silent) /.test(c))).toEqual([]);
});

test("the README's offline-preview JSON command, run as written, prints JSON that parses", () => {
    const command = "npm run -s preview:offline -- --stack dev --json";
    expect(jsonCommands).toContain(command);
    const r = spawnSync("bash", ["-c", command], { cwd: root, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
    expect(r.status).toBe(0);
    const plan = JSON.parse(r.stdout) as { resources: unknown[] };
    expect(plan.resources.length).toBeGreaterThan(10);
});
