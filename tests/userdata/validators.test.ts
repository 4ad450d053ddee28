/**
 * Every rendered user-data, and every file it writes, through the real tools:
 * cloud-init's schema, haproxy -c, nginx -t, shellcheck, py_compile, and the
 * MariaDB server's own option parsing.
 */
import * as fs from "fs";
import * as path from "path";
import { parse } from "yaml";
import { CloudConfig, userDataLimitBytes } from "../../userdata/cloudConfig";
import { parameterNames } from "../../userdata/site";
import { devConfig, renderAll, run, tempDir } from "../helpers";

const variants = {
    dev: devConfig(),
    hardened: devConfig({
        firewall: "strict",
        https: "self-signed",
        monitoring: "true",
        webCount: "5",
        replicaCount: "3",
        lbAlgorithm: "leastconn",
    }),
    "no replicas": devConfig({ replicaCount: "0", webCount: "1" }),
};

const rendered = Object.entries(variants).flatMap(([variant, config]) =>
    renderAll(config).flatMap((r) => [
        { variant, target: "aws", name: r.instance.name, role: r.instance.role, text: r.aws, published: r.published },
        { variant, target: "local", name: r.instance.name, role: r.instance.role, text: r.local, published: r.published },
    ]),
);
const cases = rendered.map((r) => [`${r.variant} ${r.name} (${r.target})`, r] as const);
const doc = (text: string) => parse(text) as CloudConfig;
const file = (text: string, p: string) => {
    const f = doc(text).write_files.find((w) => w.path === p);
    if (!f) throw new Error(`no ${p} in user-data`);
    return f.content;
};

test.each(cases)("%s passes cloud-init schema and fits EC2's limit", (_, r) => {
    expect(r.text.startsWith("#cloud-config\n")).toBe(true);
    expect(Buffer.byteLength(r.text)).toBeLessThanOrEqual(userDataLimitBytes);
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

const lbCases = cases.filter(([, r]) => r.role === "lb");
test.each(lbCases)("%s: haproxy -c accepts the configuration the deploy publishes for it", (_, r) => {
    const dir = tempDir("haproxy");
    let cfg = r.published[parameterNames("dev").lbConfig];
    if (cfg.includes("ssl crt")) {
        // haproxy -c loads the certificate, so give it a real one at a test path.
        const pem = path.join(dir, "site.pem");
        const made = run("openssl", [
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            "/CN=www.foobar.com",
            "-days",
            "1",
            "-keyout",
            pem,
            "-out",
            pem,
        ]);
        expect(made.status).toBe(0);
        cfg = cfg.replace("/etc/haproxy/certs/site.pem", pem);
    }
    fs.writeFileSync(path.join(dir, "haproxy.cfg"), cfg);
    const result = run("haproxy", ["-c", "-f", path.join(dir, "haproxy.cfg")]);
    expect(result.output).not.toMatch(/\[WARNING\]|\[ALERT\]/);
    expect(result.status).toBe(0);
});

test("haproxy -c rejects a broken configuration (the check can fail)", () => {
    const dir = tempDir("haproxy");
    fs.writeFileSync(path.join(dir, "haproxy.cfg"), "defaults\n    mode http\nbackend web\n    balance sideways\n");
    expect(run("haproxy", ["-c", "-f", path.join(dir, "haproxy.cfg")]).status).not.toBe(0);
});

/** A minimal nginx main configuration around the rendered site, as Debian's nginx.conf includes it. */
function nginxTest(site: string) {
    const dir = tempDir("nginx");
    fs.writeFileSync(path.join(dir, "site.conf"), site);
    fs.writeFileSync(
        path.join(dir, "nginx.conf"),
        `pid ${dir}/nginx.pid;\nerror_log ${dir}/error.log;\nevents {}\nhttp {\n  access_log off;\n  include /etc/nginx/mime.types;\n  include ${dir}/site.conf;\n}\n`,
    );
    return run("nginx", ["-t", "-p", dir, "-c", path.join(dir, "nginx.conf")]);
}

const webCases = cases.filter(([, r]) => r.role === "web");
test.each(webCases)("%s: nginx -t accepts the site", (_, r) => {
    const result = nginxTest(file(r.text, "/etc/nginx/sites-available/foobar"));
    expect(result.output).toMatch(/syntax is ok/);
    expect(result.status).toBe(0);
});

test("nginx -t rejects a broken site (the check can fail)", () => {
    expect(nginxTest("server { listen 80; proxy_pass; }").status).not.toBe(0);
});

test.each(webCases)("%s: the app compiles and the gunicorn unit passes systemd-analyze", (_, r) => {
    const dir = tempDir("app");
    fs.writeFileSync(path.join(dir, "app.py"), file(r.text, "/srv/foobar/app/app.py"));
    expect(run("/usr/bin/python3", ["-m", "py_compile", path.join(dir, "app.py")]).status).toBe(0);
    const unit = path.join(dir, "foobar-app.service");
    fs.writeFileSync(unit, file(r.text, "/etc/systemd/system/foobar-app.service"));
    const verify = run("systemd-analyze", ["verify", "--man=no", unit]);
    // verify complains about paths that exist only on the instance (the env files, gunicorn's socket dir); nothing else.
    const complaints = verify.output.split("\n").filter((l) => l.trim() && !/EnvironmentFile|\/etc\/foobar|gunicorn/.test(l));
    expect(complaints).toEqual([]);
});

const dbCases = cases.filter(([, r]) => r.role.startsWith("db"));
test.each(dbCases)("%s: mariadbd accepts the server configuration", (_, r) => {
    const dir = tempDir("mariadb");
    const cnf = path.join(dir, "60-foobar.cnf");
    fs.writeFileSync(cnf, file(r.text, "/etc/mysql/mariadb.conf.d/60-foobar.cnf"));
    const result = run("mariadbd", [`--defaults-file=${cnf}`, "--help", "--verbose"]);
    expect(result.output).not.toMatch(/unknown (variable|option)|\[ERROR\]/);
    expect(result.status).toBe(0);
    // The server really parsed our values: its effective settings show them.
    expect(result.output).toMatch(/^log-bin\s+mysql-bin$/m);
    expect(result.output).toMatch(r.role === "db-replica" ? /^read-only\s+TRUE$/m : /^read-only\s+FALSE$/m);
    expect(result.output).toMatch(/^gtid-strict-mode\s+TRUE$/m);
});

test("mariadbd rejects an unknown option (the check can fail)", () => {
    const dir = tempDir("mariadb");
    fs.writeFileSync(path.join(dir, "bad.cnf"), "[mysqld]\nlog_bin_typo = 1\n");
    expect(run("mariadbd", [`--defaults-file=${path.join(dir, "bad.cnf")}`, "--help", "--verbose"]).status).not.toBe(0);
});

/** Every shell script a user-data writes, with the environment files it reads, through shellcheck. */
test.each(cases)("%s: shellcheck passes every script, and every variable they read is set", (_, r) => {
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

test.each(cases.filter(([, r]) => r.target === "aws"))(
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
