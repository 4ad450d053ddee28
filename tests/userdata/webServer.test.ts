/** The web servers' nginx site, gunicorn settings and unit, and the app, through the real tools. */
import * as fs from "fs";
import * as path from "path";
import {
    appDir,
    gunicornConfigPath,
    gunicornSocket,
    maxRequestBodyBytes,
    renderSidecarConfig,
    sidecarConfigPath,
} from "../../userdata/webServer";
import { run, tempDir } from "../helpers";
import { Daemon, freePort, waitFor } from "./daemons";
import { cases, doc, envSettings, file } from "./helpers";

const appSourceDir = path.join(__dirname, "../../userdata/files/app");

/** A minimal nginx main configuration around the rendered site, as Debian's nginx.conf includes it; returns its path. */
function nginxMain(dir: string, site: string, extra = ""): string {
    fs.writeFileSync(path.join(dir, "site.conf"), site);
    const main = path.join(dir, "nginx.conf");
    fs.writeFileSync(
        main,
        `${extra}pid ${dir}/nginx.pid;\nerror_log ${dir}/error.log;\nevents {}\nhttp {\n  access_log off;\n  include /etc/nginx/mime.types;\n  include ${dir}/site.conf;\n}\n`,
    );
    return main;
}

function nginxTest(site: string) {
    const dir = tempDir("nginx");
    return run("nginx", ["-t", "-p", dir, "-c", nginxMain(dir, site)]);
}

const webCases = cases(/^web$/);

test.each(webCases)("%s: nginx -t accepts the site", (_, r) => {
    const result = nginxTest(file(r.text, "/etc/nginx/sites-available/foobar"));
    expect(result.output).toMatch(/syntax is ok/);
    expect(result.status).toBe(0);
});

test("nginx -t rejects a broken site (the check can fail)", () => {
    expect(nginxTest("server { listen 80; proxy_pass; }").status).not.toBe(0);
});

test.each(webCases)("%s: nginx and the app accept the same largest body, and the app is told it", (_, r) => {
    const site = file(r.text, "/etc/nginx/sites-available/foobar");
    expect(site).toContain(`client_max_body_size ${maxRequestBodyBytes / 1024}k;`);
    expect(file(r.text, "/etc/foobar/foobar.env")).toContain(`MAX_BODY_BYTES="${maxRequestBodyBytes}"`);
    // nginx outlives the load balancer's idle connections, so it never closes one HAProxy is about to reuse.
    expect(site).toMatch(/keepalive_timeout 120s;/);
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

test.each(webCases)("%s: gunicorn loads its rendered settings: the app, and 2 workers per CPU + 1", (_, r) => {
    const dir = tempDir("gunicorn");
    const config = path.join(dir, "gunicorn.conf.py");
    fs.writeFileSync(config, file(r.text, gunicornConfigPath));
    expect(file(r.text, "/etc/systemd/system/foobar-app.service")).toContain(
        `ExecStart=/usr/bin/gunicorn --config ${gunicornConfigPath}\n`,
    );
    // gunicorn's own --print-config parses the file the way the service will, then loads the shipped app.
    const printed = run("/usr/bin/gunicorn", ["--config", config, "--print-config"], {
        cwd: appSourceDir,
        env: { ...process.env, PYTHONDONTWRITEBYTECODE: "1", ...envSettings(file(r.text, "/etc/foobar/foobar.env")) },
    });
    expect(printed.status).toBe(0);
    const cpus = Number(run("nproc", []).stdout.trim());
    expect(printed.stdout).toMatch(new RegExp(`^workers\\s+= ${Math.min(2 * cpus + 1, 17)}$`, "m"));
    expect(printed.stdout).toMatch(/^wsgi_app\s+= app:app$/m);
    expect(printed.stdout).toMatch(/^bind\s+= \['unix:\/run\/foobar\/gunicorn.sock'\]$/m);
});

test("the rendered site on loopback: 413 over the body limit and a 502 naming the host when the app is not running, each saying so", async () => {
    const [, r] = webCases[0];
    const dir = tempDir("nginx-live");
    const port = await freePort();
    const site = file(r.text, "/etc/nginx/sites-available/foobar")
        .replace("listen 80 default_server;", `listen 127.0.0.1:${port} default_server;`)
        .replace("    listen [::]:80 default_server;\n", "")
        .replace(`unix:${gunicornSocket}`, `unix:${path.join(dir, "no-app.sock")}`)
        .replace(`${appDir}/static/`, `${appSourceDir}/static/`);
    expect(site).not.toMatch(/listen (\[::\]:)?80/);
    // As root, nginx's workers would run as nobody, who cannot enter the private temporary directory.
    const nginx = new Daemon("nginx", "nginx", [
        "-p",
        dir,
        "-c",
        nginxMain(dir, site, "daemon off;\nuser root;\n"),
        "-e",
        path.join(dir, "error.log"),
    ]);
    const base = `http://127.0.0.1:${port}`;
    try {
        await waitFor("nginx answering", async () => (await fetch(`${base}/static/style.css`)).status === 200, 10000);
        const post = (bytes: number) =>
            fetch(`${base}/api/entries`, { method: "POST", body: "x".repeat(bytes), headers: { "content-type": "application/json" } });
        const tooLong = await post(maxRequestBodyBytes + 1);
        expect(tooLong.status).toBe(413);
        expect(await tooLong.text()).toMatch(/the request body is over 16 KiB, the most this site accepts/);
        // At the limit, nginx passes the request on: to an app that is not there.
        const atLimit = await post(maxRequestBodyBytes);
        expect(atLimit.status).toBe(502);
        expect(await atLimit.text()).toMatch(/^502 Bad Gateway: the application on \S+ is not running/);
    } finally {
        await nginx.stop();
        fs.rmSync(dir, { recursive: true, force: true });
    }
});

describe("with a Galera cluster: the HAProxy sidecar the app's endpoints lead to", () => {
    const galeraWeb = webCases.filter(([, r]) => r.variant === "galera");

    test("the galera variant renders web servers (the checks below run)", () => {
        expect(galeraWeb.length).toBeGreaterThan(0);
    });

    test.each(galeraWeb)("%s: haproxy -c accepts the sidecar; the app is pointed at it", (_, r) => {
        const dir = tempDir("sidecar");
        const cfg = file(r.text, sidecarConfigPath);
        fs.writeFileSync(path.join(dir, "haproxy.cfg"), cfg);
        const result = run("haproxy", ["-c", "-f", path.join(dir, "haproxy.cfg")]);
        expect(result.output).toMatch(/Configuration file is valid/);
        expect(result.status).toBe(0);
        const env = envSettings(file(r.text, "/etc/foobar/foobar.env"));
        expect([env.DB_WRITER_HOST, env.DB_READER_HOST, env.DB_PORT, env.DB_SIDECAR]).toEqual([
            "127.0.0.1",
            "127.0.0.2",
            "3306",
            "haproxy",
        ]);
        expect(doc(r.text).packages).toContain("haproxy");
    });

    test("writes go to one node at a time (the others are backups), reads to every node; checks ask port 9200", () => {
        const cfg = renderSidecarConfig([
            { name: "db-1", address: "10.0.128.11" },
            { name: "db-2", address: "10.0.192.11" },
            { name: "db-3", address: "10.0.128.48" },
        ]);
        const section = (name: string) => cfg.split(`listen ${name}\n`)[1].split("\n\n")[0];
        expect(section("db-writer")).toBe(
            [
                "    bind 127.0.0.1:3306",
                "    server db-1 10.0.128.11:3306 on-marked-up shutdown-backup-sessions",
                "    server db-2 10.0.192.11:3306 backup",
                "    server db-3 10.0.128.48:3306 backup",
            ].join("\n"),
        );
        expect(section("db-reader")).toMatch(/^ {4}bind 127\.0\.0\.2:3306\n {4}balance leastconn\n( {4}server db-\d \S+:3306\n?){3}$/);
        expect(cfg).toMatch(/^ {4}option httpchk\n {4}http-check expect status 200$/m);
        expect(cfg).toMatch(/^ {4}default-server check port 9200 .* on-marked-down shutdown-sessions$/m);
    });

    test("the whiteboard's web servers have no sidecar", () => {
        for (const [, r] of webCases.filter(([, c]) => c.variant !== "galera")) {
            expect(doc(r.text).write_files.map((f) => f.path)).not.toContain(sidecarConfigPath);
        }
    });
});
