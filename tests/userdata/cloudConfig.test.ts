/**
 * Every rendered user-data as a whole: cloud-init's schema, EC2's size limit, shellcheck over every script it
 * writes, and the SSM secret fetcher of the aws target.
 */
import * as fs from "fs";
import * as path from "path";
import { encodeUserData, userDataLimitBytes } from "../../userdata/cloudConfig";
import { run, tempDir } from "../helpers";
import { cases, doc, file } from "./helpers";

test.each(cases())("%s passes cloud-init schema and fits EC2's limit", (_, r) => {
    expect(r.text.startsWith("#cloud-config\n")).toBe(true);
    // Over 16 KiB, the document goes gzipped (userDataBase64), which must fit the same limit.
    const encoded = encodeUserData(r.text);
    const size =
        encoded.userData !== undefined ? Buffer.byteLength(encoded.userData) : Buffer.from(encoded.userDataBase64!, "base64").length;
    expect(size).toBeLessThanOrEqual(userDataLimitBytes);
    const dir = tempDir("schema");
    fs.writeFileSync(path.join(dir, "user-data"), r.text);
    const result = run("cloud-init", ["schema", "--config-file", path.join(dir, "user-data")]);
    expect(result.output).toMatch(/Valid cloud-config/);
    expect(result.status).toBe(0);
});

test("cloud-init schema rejects a broken document (the check can fail)", () => {
    const dir = tempDir("schema");
    fs.writeFileSync(path.join(dir, "user-data"), "#cloud-config\npackages: 3\nwrite_files: [{content: x}]\n");
    expect(run("cloud-init", ["schema", "--config-file", path.join(dir, "user-data")]).status).not.toBe(0);
});

/** Every shell script a user-data writes, with the environment files it reads, through shellcheck. */
test.each(cases())("%s: shellcheck passes every script, and every variable they read is set", (_, r) => {
    const files = doc(r.text).write_files;
    const env = files.filter((f) => f.path.startsWith("/etc/foobar/") && f.path.endsWith(".env"));
    const defined = new Set(
        env.flatMap((f) =>
            f.content
                .split("\n")
                .map((l) => l.split("=")[0])
                .filter(Boolean),
        ),
    );
    const scripts = files.filter((f) => f.content.startsWith("#!/bin/sh"));
    expect(scripts.length).toBeGreaterThan(0);
    for (const script of scripts) {
        const dir = tempDir("shellcheck");
        const p = path.join(dir, path.basename(script.path));
        fs.writeFileSync(p, script.content);
        // SC1091: the sourced env files exist only on the instance; the variable check below stands in for it.
        const result = run("shellcheck", ["--shell=sh", "--severity=style", "--exclude=SC1091", p]);
        expect(result.output).toBe("");
        expect(result.status).toBe(0);
        const used = [...script.content.matchAll(/\$\{?([A-Z][A-Z0-9_]+)/g)].map((m) => m[1]);
        for (const name of used) expect({ script: script.path, name, defined: defined.has(name) }).toMatchObject({ defined: true });
    }
});

test("shellcheck flags a broken script (the check can fail)", () => {
    const dir = tempDir("shellcheck");
    fs.writeFileSync(path.join(dir, "bad.sh"), "#!/bin/sh\nrm -rf $DIR/*\n[[ $x == 1 ]]\n");
    expect(run("shellcheck", ["--shell=sh", path.join(dir, "bad.sh")]).status).not.toBe(0);
});

test.each(cases().filter(([, r]) => r.target === "aws"))(
    "%s: the SSM secret fetcher compiles, and the role installs what it imports",
    (_, r) => {
        const fetcher = file(r.text, "/usr/local/sbin/foobar-fetch-secret");
        expect(fetcher).toMatch(/^import boto3$/m);
        expect(doc(r.text).packages).toContain("python3-boto3");
        const dir = tempDir("fetch");
        fs.writeFileSync(path.join(dir, "fetch.py"), file(r.text, "/usr/local/sbin/foobar-fetch-secret"));
        expect(run("/usr/bin/python3", ["-m", "py_compile", path.join(dir, "fetch.py")]).status).toBe(0);
    },
);
