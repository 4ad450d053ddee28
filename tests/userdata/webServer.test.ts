/** The web servers' nginx site, gunicorn settings and unit, and the app, through the real tools. */
import * as fs from "fs";
import * as path from "path";
import { gunicornConfigPath, maxRequestBodyBytes } from "../../userdata/webServer";
import { run, tempDir } from "../helpers";
import { cases, envSettings, file } from "./helpers";

const appSourceDir = path.join(__dirname, "../../userdata/files/app");

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
