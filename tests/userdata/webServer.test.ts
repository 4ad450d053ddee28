/** The web servers' nginx site, gunicorn settings and unit, and the app, through the real tools. */
import * as fs from "fs";
import * as path from "path";
import { appDir, gunicornConfigPath, gunicornSocket, maxRequestBodyBytes } from "../../userdata/webServer";
import { run, tempDir } from "../helpers";
import { Daemon, freePort, waitFor } from "./daemons";
import { cases, envSettings, file } from "./helpers";

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
