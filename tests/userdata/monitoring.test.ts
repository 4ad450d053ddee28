/**
 * Monitoring: the alert rules under Debian's promtool (check and unit tests with synthetic series: each alert
 * fires on its fault and stays silent on a healthy site), every Prometheus, Alertmanager and blackbox
 * configuration the renderer writes checked by the packages' own tools, and targets that come from the plan.
 */
import * as fs from "fs";
import * as path from "path";
import { stringify } from "yaml";
import { planTopology } from "../../topology";
import { alertRules, renderAlertRules, scrapeTargets } from "../../userdata/monitoring";
import { devConfig, run, tempDir } from "../helpers";
import { cases, doc, file } from "./helpers";
import { mockRegionZones } from "../../tools/preview/mocks";

const labels = {
    lb: { instance: "lb-1", tier: "lb" },
    primary: { instance: "db-primary", tier: "db", role: "primary" },
    replica: { instance: "db-replica-1", tier: "db", role: "replica" },
};
type Labels = Record<string, string>;
const series = (name: string, l: Labels) =>
    `${name}{${Object.entries(l)
        .map(([k, v]) => `${k}="${v}"`)
        .join(",")}}`;
const input = (name: string, l: Labels, values: string) => ({ series: series(name, l), values });

/** What the rule's templates say for these labels and value: the alert must name the instance it is about. */
function expectedAlert(alertname: string, exp: Labels, value = "") {
    const rule = alertRules(true)
        .flatMap((g) => g.rules)
        .find((r) => r.alert === alertname)!;
    const expand = (text: string) =>
        text
            .replace(/\{\{ \$labels\.(\w+) \}\}/g, (_, k: string) => exp[k] ?? "")
            .replace(/\{\{ \$value \| humanizePercentage \}\}/g, value)
            .replace(/\{\{ \$value \}\}/g, value);
    return {
        exp_labels: { ...exp, ...rule.labels, alertname: undefined },
        exp_annotations: { summary: expand(rule.annotations.summary), description: expand(rule.annotations.description) },
    };
}

interface Fault {
    alert: string;
    interval?: string;
    series: { series: string; values: string }[];
    /** Before the fault has lasted `for`: nothing yet. */
    quietAt: string;
    firingAt: string;
    firing: { labels: Labels; value?: string }[];
}

const node = (l: Labels) => ({ job: "node", ...l });
const web1 = { proxy: "web", server: "web-1", ...labels.lb };
const faults: Fault[] = [
    {
        alert: "InstanceDown",
        series: [
            input("up", node({ instance: "web-1", tier: "web" }), "1 1 0x10"),
            input("up", node({ instance: "web-2", tier: "web" }), "1x12"),
        ],
        quietAt: "30s",
        firingAt: "1m",
        firing: [{ labels: node({ instance: "web-1", tier: "web" }) }],
    },
    {
        alert: "ExporterDown",
        series: [input("up", { job: "mysqld", ...labels.primary }, "1 0x10"), input("up", node(labels.primary), "1x12")],
        quietAt: "30s",
        firingAt: "1m",
        firing: [{ labels: { job: "mysqld", ...labels.primary } }],
    },
    {
        alert: "DataDiskFillingUp",
        interval: "1m",
        series: [
            input(
                "node_filesystem_avail_bytes",
                { mountpoint: "/var/lib/mysql", fstype: "ext4", ...labels.primary },
                "10000000000-100000000x80",
            ),
            input("node_filesystem_avail_bytes", { mountpoint: "/", fstype: "ext4", ...labels.replica }, "10000000000x80"),
        ],
        quietAt: "5m",
        firingAt: "70m",
        firing: [{ labels: { mountpoint: "/var/lib/mysql", fstype: "ext4", ...labels.primary } }],
    },
    {
        alert: "WebServerOutOfBackend",
        series: [
            // A pair: both load balancers see web-1 down, which is one alert (one notification), not one per LB.
            input("haproxy_server_status", { ...web1, state: "DOWN" }, "0 0 1x10"),
            input("haproxy_server_status", { ...web1, instance: "lb-2", state: "DOWN" }, "0 0 1x10"),
            input("haproxy_server_status", { ...web1, server: "web-2", state: "DOWN" }, "0x12"),
            input("haproxy_server_status", { ...web1, server: "web-2", instance: "lb-2", state: "DOWN" }, "0x12"),
        ],
        quietAt: "30s",
        firingAt: "1m",
        firing: [{ labels: { proxy: "web", server: "web-1", tier: "web" }, value: "2" }],
    },
    {
        alert: "BackendNoHealthyServer",
        series: [input("haproxy_backend_active_servers", { proxy: "web", ...labels.lb }, "2 2 0x10")],
        quietAt: "20s",
        firingAt: "1m",
        firing: [{ labels: { proxy: "web", ...labels.lb } }],
    },
    {
        alert: "WebServerAnswers5xx",
        series: [
            input("haproxy_server_http_responses_total", { ...web1, code: "5xx" }, "0+5x20"),
            input("haproxy_server_http_responses_total", { ...web1, code: "2xx" }, "0+5x20"),
            input("haproxy_server_http_responses_total", { ...web1, server: "web-2", code: "5xx" }, "0x20"),
            input("haproxy_server_http_responses_total", { ...web1, server: "web-2", code: "2xx" }, "0+10x20"),
        ],
        quietAt: "20s",
        firingAt: "2m",
        firing: [{ labels: { instance: "lb-1", server: "web-1", tier: "web" }, value: "50%" }],
    },
    {
        alert: "SiteHttp5xxRate",
        series: [
            input("haproxy_frontend_http_responses_total", { proxy: "www", code: "5xx", ...labels.lb }, "0+5x20"),
            input("haproxy_frontend_http_responses_total", { proxy: "www", code: "2xx", ...labels.lb }, "0+15x20"),
        ],
        quietAt: "20s",
        firingAt: "2m",
        firing: [{ labels: { instance: "lb-1", tier: "lb" }, value: "25%" }],
    },
    {
        alert: "MysqlDown",
        series: [input("mysql_up", labels.replica, "1 1 0x10"), input("mysql_up", labels.primary, "1x12")],
        quietAt: "30s",
        firingAt: "1m",
        firing: [{ labels: labels.replica }],
    },
    {
        alert: "MoreThanOneWriter",
        series: [
            input("mysql_global_variables_read_only", labels.primary, "0x12"),
            input("mysql_global_variables_read_only", labels.replica, "1 1 1 0x10"),
        ],
        quietAt: "30s",
        firingAt: "1m",
        firing: [{ labels: labels.primary }, { labels: labels.replica }],
    },
    {
        alert: "ReplicationStopped",
        series: [
            input("mysql_slave_status_slave_sql_running", labels.replica, "1 1 0x10"),
            input("mysql_slave_status_slave_io_running", labels.replica, "1x12"),
        ],
        quietAt: "30s",
        firingAt: "1m",
        firing: [{ labels: labels.replica }],
    },
    {
        alert: "ReplicationLagging",
        series: [input("mysql_slave_status_seconds_behind_master", labels.replica, "0 0 60x20")],
        quietAt: "1m",
        firingAt: "2m",
        firing: [{ labels: labels.replica, value: "60" }],
    },
    {
        // Threads stopped: SHOW SLAVE STATUS gives a NULL lag, so the series is not there at all.
        alert: "ReplicationLagUnknown",
        series: [input("mysql_up", labels.replica, "1x12"), input("mysql_up", labels.primary, "1x12")],
        quietAt: "10s",
        firingAt: "1m",
        firing: [{ labels: labels.replica }],
    },
    {
        alert: "NoReplicaReporting",
        series: [input("mysql_up", labels.primary, "1x12")],
        quietAt: "30s",
        firingAt: "2m",
        firing: [{ labels: {} }],
    },
    {
        alert: "SiteUnreachable",
        series: [input("probe_success", { job: "blackbox", instance: "site", tier: "site", url: "https://198.51.100.10/" }, "1 1 0x10")],
        quietAt: "30s",
        firingAt: "1m",
        firing: [{ labels: { job: "blackbox", instance: "site", tier: "site", url: "https://198.51.100.10/" } }],
    },
];

/** Every series a healthy site exports: no alert may fire on it, however long it runs. */
const healthy = [
    ...["lb-1", "web-1", "web-2", "db-primary", "db-replica-1", "monitoring-1"].map((instance) =>
        input("up", node({ instance, tier: instance.replace(/-.*/, "") }), "1x70"),
    ),
    input("up", { job: "haproxy", ...labels.lb }, "1x70"),
    input("up", { job: "mysqld", ...labels.primary }, "1x70"),
    input("up", { job: "mysqld", ...labels.replica }, "1x70"),
    input("node_filesystem_avail_bytes", { mountpoint: "/var/lib/mysql", fstype: "ext4", ...labels.primary }, "10000000000-1000x70"),
    input("haproxy_server_status", { ...web1, state: "DOWN" }, "0x70"),
    input("haproxy_server_status", { ...web1, state: "UP" }, "1x70"),
    input("haproxy_backend_active_servers", { proxy: "web", ...labels.lb }, "2x70"),
    input("haproxy_server_http_responses_total", { ...web1, code: "5xx" }, "0+1x70"),
    input("haproxy_server_http_responses_total", { ...web1, code: "2xx" }, "0+100x70"),
    input("haproxy_frontend_http_responses_total", { proxy: "www", code: "5xx", ...labels.lb }, "0+1x70"),
    input("haproxy_frontend_http_responses_total", { proxy: "www", code: "2xx", ...labels.lb }, "0+100x70"),
    input("mysql_up", labels.primary, "1x70"),
    input("mysql_up", labels.replica, "1x70"),
    input("mysql_global_variables_read_only", labels.primary, "0x70"),
    input("mysql_global_variables_read_only", labels.replica, "1x70"),
    input("mysql_slave_status_slave_sql_running", labels.replica, "1x70"),
    input("mysql_slave_status_slave_io_running", labels.replica, "1x70"),
    input("mysql_slave_status_seconds_behind_master", labels.replica, "0x70"),
    input("probe_success", { job: "blackbox", instance: "site", tier: "site", url: "https://198.51.100.10/" }, "1x70"),
];

const allAlerts = alertRules(true).flatMap((g) => g.rules.map((r) => r.alert));

function promtoolTests(rulesFile: string) {
    return {
        rule_files: [rulesFile],
        evaluation_interval: "10s",
        tests: [
            ...faults.map((f) => ({
                name: `${f.alert} fires on its fault`,
                interval: f.interval ?? "10s",
                input_series: f.series,
                alert_rule_test: [
                    { eval_time: f.quietAt, alertname: f.alert, exp_alerts: [] },
                    {
                        eval_time: f.firingAt,
                        alertname: f.alert,
                        exp_alerts: f.firing.map((a) => expectedAlert(f.alert, a.labels, a.value)),
                    },
                ],
            })),
            {
                name: "a healthy site raises no alert",
                interval: "10s",
                input_series: healthy,
                alert_rule_test: ["1m", "5m", "11m"].flatMap((t) =>
                    allAlerts.map((alertname) => ({ eval_time: t, alertname, exp_alerts: [] })),
                ),
            },
        ],
    };
}

/** Writes the rules and their tests, runs `promtool test rules`; returns its output and exit status. */
function promtoolTest(rules: string, tests: object): { status: number; output: string } {
    const dir = tempDir("promtool");
    fs.writeFileSync(path.join(dir, "rules.yml"), rules);
    // exp_labels entries set to undefined are dropped (alertname is implied by the test).
    fs.writeFileSync(path.join(dir, "tests.yml"), stringify(JSON.parse(JSON.stringify(tests))));
    const r = run("promtool", ["test", "rules", path.join(dir, "tests.yml")]);
    return { status: r.status ?? -1, output: r.output };
}

describe("alert rules", () => {
    test.each([true, false])("promtool check rules passes (replicas: %s)", (hasReplicas) => {
        const dir = tempDir("rules");
        fs.writeFileSync(path.join(dir, "rules.yml"), renderAlertRules(hasReplicas));
        const r = run("promtool", ["check", "rules", path.join(dir, "rules.yml")]);
        expect(r.output).toMatch(/SUCCESS: \d+ rules found/);
        expect(r.status).toBe(0);
    });

    test("every alert has a fault test, and each fires on its fault and stays silent on a healthy site (promtool test rules)", () => {
        expect(faults.map((f) => f.alert).sort()).toEqual([...allAlerts].sort());
        const r = promtoolTest(renderAlertRules(true), promtoolTests("rules.yml"));
        expect(r.output).toMatch(/SUCCESS/);
        expect(r.status).toBe(0);
    });

    test("the unit tests can fail: a rule that fires on a healthy site is caught", () => {
        const broken = renderAlertRules(true).replace("expr: mysql_up == 0", "expr: mysql_up == 1");
        expect(broken).not.toBe(renderAlertRules(true));
        const r = promtoolTest(broken, promtoolTests("rules.yml"));
        expect(r.status).not.toBe(0);
        expect(r.output).toMatch(/MysqlDown/);
    });

    test("a Galera cluster: no MoreThanOneWriter (every node takes writes by design); GaleraNodeNotSynced fires on a node out of sync only", () => {
        const rules = renderAlertRules(false, true);
        expect(rules).not.toMatch(/MoreThanOneWriter|slave_status/);
        const dir = tempDir("rules");
        fs.writeFileSync(path.join(dir, "rules.yml"), rules);
        expect(run("promtool", ["check", "rules", path.join(dir, "rules.yml")]).status).toBe(0);
        const node = (n: number) => ({ instance: `db-${n}`, tier: "db", role: "galera" });
        const r = promtoolTest(rules, {
            rule_files: ["rules.yml"],
            evaluation_interval: "10s",
            tests: [
                {
                    interval: "10s",
                    input_series: [
                        input("mysql_global_status_wsrep_local_state", node(1), "4x12"),
                        input("mysql_global_status_wsrep_local_state", node(2), "4x12"),
                        // Desynced (a donor, or wsrep_desync) from 30 s on.
                        input("mysql_global_status_wsrep_local_state", node(3), "4 4 4 2x10"),
                    ],
                    alert_rule_test: [
                        { eval_time: "30s", alertname: "GaleraNodeNotSynced", exp_alerts: [] },
                        {
                            eval_time: "1m",
                            alertname: "GaleraNodeNotSynced",
                            exp_alerts: [
                                {
                                    exp_labels: { ...node(3), severity: "critical" },
                                    exp_annotations: {
                                        summary: "db-3 is not synced with its Galera cluster (state 2)",
                                        description: alertRules(false, true)
                                            .flatMap((g) => g.rules)
                                            .find((x) => x.alert === "GaleraNodeNotSynced")!.annotations.description,
                                    },
                                },
                            ],
                        },
                    ],
                },
            ],
        });
        expect(r.output).toMatch(/SUCCESS/);
        expect(r.status).toBe(0);
    });

    test("every alert names what it is about and says what to do; each tier has rules", () => {
        for (const rule of alertRules(true).flatMap((g) => g.rules)) {
            expect(rule.annotations.summary).toMatch(/\{\{ \$labels\.(instance|server|url) \}\}|No database replica|The site|of the site/);
            expect(rule.annotations.description.length).toBeGreaterThan(40);
        }
        const tiers = new Set(alertRules(true).flatMap((g) => g.rules.map((r) => r.labels.tier)));
        for (const tier of ["lb", "web", "db", "site"]) expect(tiers).toContain(tier);
        // Without replicas, no rule expects replication.
        expect(renderAlertRules(false)).not.toMatch(/slave_status/);
    });
});

describe("the monitoring instance's configuration", () => {
    const monitoringCases = cases(/^monitoring$/);

    test("the monitored variants render a monitoring instance; the whiteboard does not", () => {
        expect(monitoringCases.map(([title]) => title)).toEqual(["hardened monitoring-1 (aws)", "hardened monitoring-1 (local)"]);
    });

    test.each(monitoringCases)("%s: promtool check config, amtool check-config and the blackbox exporter accept it", (_, r) => {
        const dir = tempDir("prometheus");
        for (const f of doc(r.text).write_files.filter((w) => w.path.startsWith("/etc/prometheus/"))) {
            const p = path.join(dir, f.path.slice("/etc/prometheus/".length));
            fs.mkdirSync(path.dirname(p), { recursive: true });
            fs.writeFileSync(p, f.content);
        }
        const config = path.join(dir, "prometheus.yml");
        fs.writeFileSync(config, fs.readFileSync(config, "utf8").replaceAll("/etc/prometheus/", `${dir}/`));
        const prometheus = run("promtool", ["check", "config", config]);
        expect(prometheus.output).toMatch(/SUCCESS: 1 rule files found/);
        expect(prometheus.status).toBe(0);
        const alertmanager = run("amtool", ["check-config", path.join(dir, "alertmanager.yml")]);
        expect(alertmanager.output).toMatch(/SUCCESS/);
        expect(alertmanager.status).toBe(0);
        const blackbox = run("prometheus-blackbox-exporter", ["--config.check", `--config.file=${path.join(dir, "blackbox.yml")}`]);
        expect(blackbox.output).toMatch(/Config file is ok/);
        expect(blackbox.status).toBe(0);
        // Alerts reach people: the stack's topic, signed with the instance role, on AWS; the test's webhook locally.
        expect(file(r.text, "/etc/prometheus/alertmanager.yml")).toMatch(
            r.target === "aws"
                ? /sns_configs:\n {6}- sigv4:\n {10}region: eu-west-1\n {8}topic_arn: arn:aws:sns:/
                : /webhook_configs:\n {6}- url: http:\/\/10\.0\.0\.1:9095\/alerts/,
        );
    });

    test("amtool check-config can fail: a route to a receiver that does not exist", () => {
        const dir = tempDir("alertmanager");
        const [, r] = monitoringCases[0];
        fs.writeFileSync(
            path.join(dir, "am.yml"),
            file(r.text, "/etc/prometheus/alertmanager.yml").replace("receiver: alarm-topic", "receiver: nobody"),
        );
        expect(run("amtool", ["check-config", path.join(dir, "am.yml")]).status).not.toBe(0);
    });

    test("targets come from the plan: every instance's node exporter, HAProxy, each database's exporter, the public address", () => {
        const plan = planTopology(devConfig({ firewall: "strict", monitoring: "true", webCount: "3", replicaCount: "2" }), mockRegionZones);
        const jobs = scrapeTargets(
            [...plan.lbs, ...plan.web, plan.dbPrimary, ...plan.dbReplicas, plan.monitoring!].map(({ name, role, privateIp }) => ({
                name,
                role,
                privateIp,
            })),
            "https://198.51.100.10/",
        );
        expect(jobs.node.map((g) => g.labels.instance)).toEqual([
            "lb-1",
            "web-1",
            "web-2",
            "web-3",
            "db-primary",
            "db-replica-1",
            "db-replica-2",
            "monitoring-1",
        ]);
        expect(jobs.node.map((g) => g.targets[0])).toEqual(
            [...plan.lbs, ...plan.web, plan.dbPrimary, ...plan.dbReplicas, plan.monitoring!].map((i) => `${i.privateIp}:9100`),
        );
        expect(jobs.haproxy).toEqual([{ targets: [`${plan.lbs[0].privateIp}:8404`], labels: { instance: "lb-1", tier: "lb" } }]);
        expect(jobs.mysqld.map((g) => [g.labels.instance, g.labels.role, g.targets[0]])).toEqual([
            ["db-primary", "primary", `${plan.dbPrimary.privateIp}:9104`],
            ["db-replica-1", "replica", `${plan.dbReplicas[0].privateIp}:9104`],
            ["db-replica-2", "replica", `${plan.dbReplicas[1].privateIp}:9104`],
        ]);
        expect(jobs.blackbox[0].targets).toEqual(["https://198.51.100.10/"]);
    });

    test.each(cases(/^(lb|web|db-primary|db-replica)$/).filter(([, r]) => r.variant !== "hardened"))(
        "%s: no exporter without monitoring",
        (_, r) => {
            expect(doc(r.text).packages.filter((p) => p.startsWith("prometheus"))).toEqual([]);
        },
    );

    test.each(cases(/^(lb|web|db-primary|db-replica)$/).filter(([, r]) => r.variant === "hardened"))(
        "%s: with monitoring, the node exporter (and MariaDB's on databases, with its credentials fetched at boot)",
        (_, r) => {
            const exporters = doc(r.text).packages.filter((p) => p.startsWith("prometheus"));
            expect(exporters).toEqual(
                r.role.startsWith("db") ? ["prometheus-node-exporter", "prometheus-mysqld-exporter"] : ["prometheus-node-exporter"],
            );
            if (r.role.startsWith("db")) {
                expect(file(r.text, "/etc/default/prometheus-mysqld-exporter")).toBe(
                    'ARGS="--config.my-cnf=/etc/prometheus/mysqld-exporter.cnf"\n',
                );
                expect(file(r.text, "/etc/foobar/foobar.env")).toMatch(
                    /^EXPORTER_PASSWORD_PARAMETER="\/foobar\/dev\/db\/exporter-password"$/m,
                );
            }
        },
    );
});
