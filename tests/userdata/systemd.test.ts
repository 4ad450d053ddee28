/**
 * Every daemon the site depends on restarts by itself after a crash: the drop-ins over the units Debian's
 * packages ship, and the project's own unit, checked by systemd-analyze verify against the real units.
 * (This machine runs no systemd, so the restart itself is exercised by the local-cloud suites.)
 */
import * as fs from "fs";
import * as path from "path";
import { restartDropInPath } from "../../userdata/systemd";
import { run, tempDir } from "../helpers";
import { cases, doc, file } from "./helpers";

/** The daemons each role must keep running, by the unit name systemd knows them. */
const roleDaemons: Record<string, string[]> = {
    lb: ["haproxy.service"],
    web: ["nginx.service"],
    "db-primary": ["mariadb.service"],
    "db-replica": ["mariadb.service"],
    "db-node": ["mariadb.service"],
    monitoring: ["prometheus.service", "prometheus-alertmanager.service", "prometheus-blackbox-exporter.service"],
};
/** With monitoring on, the exporters each role adds. */
const exporterDaemons: Record<string, string[]> = {
    lb: ["prometheus-node-exporter.service"],
    web: ["prometheus-node-exporter.service"],
    "db-primary": ["prometheus-node-exporter.service", "prometheus-mysqld-exporter.service"],
    "db-replica": ["prometheus-node-exporter.service", "prometheus-mysqld-exporter.service"],
    "db-node": ["prometheus-node-exporter.service", "prometheus-mysqld-exporter.service"],
    monitoring: ["prometheus-node-exporter.service"],
};

/** systemd-analyze verify of Debian's unit with `dropIn` in its drop-in directory; returns its complaints. */
function verifyWithDropIn(unit: string, dropIn: string): string[] {
    const dir = tempDir("systemd");
    fs.copyFileSync(path.join("/lib/systemd/system", unit), path.join(dir, unit));
    fs.mkdirSync(path.join(dir, `${unit}.d`));
    fs.writeFileSync(path.join(dir, `${unit}.d`, "50-foobar-restart.conf"), dropIn);
    // The trailing colon keeps systemd's own unit directories after ours.
    const result = run("systemd-analyze", ["verify", "--man=no", path.join(dir, unit)], {
        env: { ...process.env, SYSTEMD_UNIT_PATH: `${dir}:` },
    });
    return result.output.split("\n").filter((l) => l.trim());
}

test.each(cases())("%s: a restart drop-in for each daemon of the role, accepted by systemd-analyze", (_, r) => {
    const monitored = r.variant === "hardened" || r.role === "monitoring";
    const paired = r.variant === "lb pair" && r.role === "lb" ? ["keepalived.service"] : [];
    // With a Galera cluster, each web server runs the HAProxy sidecar the app's database endpoints lead to.
    const sidecar = r.variant === "galera" && r.role === "web" ? ["haproxy.service"] : [];
    const daemons = [...roleDaemons[r.role], ...paired, ...sidecar, ...(monitored ? exporterDaemons[r.role] : [])];
    expect(roleDaemons[r.role]).toBeDefined();
    const dropIns = doc(r.text).write_files.filter((f) => f.path.endsWith("/50-foobar-restart.conf"));
    expect(dropIns.map((f) => f.path)).toEqual(daemons.map(restartDropInPath));
    for (const unit of daemons) {
        const dropIn = file(r.text, restartDropInPath(unit));
        expect(dropIn).toMatch(/^\[Service\]\nRestart=always\nRestartSec=1s$/m);
        expect(dropIn).toMatch(/^\[Unit\]\nStartLimitIntervalSec=60\nStartLimitBurst=5$/m);
        expect(verifyWithDropIn(unit, dropIn)).toEqual([]);
    }
});

test("systemd-analyze flags a broken drop-in (the check can fail)", () => {
    const complaints = verifyWithDropIn("nginx.service", "[Service]\nRestart=sometimes\nRestartSecs=1\n");
    expect(complaints.join("\n")).toMatch(/restart specifier/);
    expect(complaints.join("\n")).toMatch(/Unknown key 'RestartSecs'/);
});

test.each(cases(/^web$/))("%s: the app's own unit restarts the same way, and never waits long on orphaned workers", (_, r) => {
    const unit = file(r.text, "/etc/systemd/system/foobar-app.service");
    expect(unit).toMatch(/^Restart=always\nRestartSec=1s$/m);
    expect(unit).toMatch(/^StartLimitIntervalSec=60\nStartLimitBurst=5$/m);
    expect(unit).toMatch(/^KillMode=control-group$/m);
    expect(unit).toMatch(/^TimeoutStopSec=5s$/m);
});
