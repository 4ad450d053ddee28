/**
 * Service-level monitoring: the exporters every instance runs, and the monitoring instance's Prometheus,
 * Alertmanager and blackbox exporter (all Debian's packages), with scrape targets, alert rules and
 * a console rendered from the topology plan. Pure: the same plan gives the same bytes, on AWS and locally.
 */
import { stringify } from "yaml";
import { InstancePlan, InstanceRole } from "../topology";
import { renderRoleUserData } from "./cloudConfig";
import { WriteFile } from "./files";
import { statsPort } from "./loadBalancer";
import { Role } from "./packages";
import { Target } from "./target";

export const monitoringPorts = {
    prometheus: 9090,
    alertmanager: 9093,
    blackboxExporter: 9115,
    nodeExporter: 9100,
    mysqldExporter: 9104,
    /** HAProxy's built-in exporter, on its stats port. */
    haproxy: statsPort,
} as const;

/** A scrape job: what it scrapes on each instance of a role (packages.ts installs the exporters). */
export interface Exporter {
    job: string;
    port: number;
}

const nodeExporter: Exporter = { job: "node", port: monitoringPorts.nodeExporter };

/** What each role exports when monitoring is on; the monitoring instance scrapes exactly these. */
export const roleExporters: Record<Role, readonly Exporter[]> = {
    lb: [nodeExporter, { job: "haproxy", port: monitoringPorts.haproxy }],
    web: [nodeExporter],
    db: [nodeExporter, { job: "mysqld", port: monitoringPorts.mysqldExporter }],
    monitoring: [nodeExporter],
};

/** An instance of the plan, as the monitoring instance knows it. */
export type ScrapedInstance = Pick<InstancePlan, "name" | "role" | "privateIp">;

/** The tier an instance of the plan belongs to: the `tier` label of its targets and alerts. */
export function tierOf(role: InstanceRole): Role {
    return role === "db-primary" || role === "db-replica" || role === "db-node" ? "db" : role;
}

/** How often Prometheus scrapes and evaluates; README "Monitoring" explains the choice. */
export const monitoringTiming = { scrapeInterval: "10s", evaluationInterval: "10s", groupWait: "10s", groupInterval: "30s" } as const;

export const prometheusDir = "/etc/prometheus";
export const targetsDir = `${prometheusDir}/targets`;
export const rulesDir = `${prometheusDir}/rules`;
export const consolePath = `${prometheusDir}/consoles/foobar.html`;
export const alertmanagerConfigPath = `${prometheusDir}/alertmanager.yml`;

/** A file_sd file: targets with the labels alerts name them by. */
export interface TargetGroup {
    targets: string[];
    labels: Record<string, string>;
}

/** The file_sd files by job, from the plan: every instance's node exporter, HAProxy, the MariaDB exporters, the site. */
export function scrapeTargets(instances: readonly ScrapedInstance[], publicUrl: string): Record<string, TargetGroup[]> {
    const jobs: Record<string, TargetGroup[]> = {};
    for (const instance of instances) {
        const tier = tierOf(instance.role);
        for (const exporter of roleExporters[tier]) {
            const labels: Record<string, string> = { instance: instance.name, tier };
            if (tier === "db")
                labels.role = instance.role === "db-primary" ? "primary" : instance.role === "db-node" ? "galera" : "replica";
            (jobs[exporter.job] ??= []).push({ targets: [`${instance.privateIp}:${exporter.port}`], labels });
        }
    }
    jobs.blackbox = [{ targets: [publicUrl], labels: { instance: "site", tier: "site", url: publicUrl } }];
    return jobs;
}

export const blackboxModule = "http_site";

/** Prometheus: the file_sd jobs, the blackbox probe, and its own components on this instance (`self`). */
export function renderPrometheusConfig(stack: string, self: string, jobs: readonly string[]): string {
    const fileJob = (job: string) => ({ job_name: job, file_sd_configs: [{ files: [`${targetsDir}/${job}.json`] }] });
    const local = (job: string, port: number) => ({
        job_name: job,
        static_configs: [{ targets: [`localhost:${port}`], labels: { instance: self, tier: "monitoring" } }],
    });
    const config = {
        global: {
            scrape_interval: monitoringTiming.scrapeInterval,
            evaluation_interval: monitoringTiming.evaluationInterval,
            external_labels: { stack },
        },
        rule_files: [`${rulesDir}/*.yml`],
        alerting: { alertmanagers: [{ static_configs: [{ targets: [`localhost:${monitoringPorts.alertmanager}`] }] }] },
        scrape_configs: [
            ...jobs.filter((j) => j !== "blackbox").map(fileJob),
            {
                ...fileJob("blackbox"),
                metrics_path: "/probe",
                params: { module: [blackboxModule] },
                // The target is the URL to probe; the exporter on this instance probes it.
                relabel_configs: [
                    { source_labels: ["__address__"], target_label: "__param_target" },
                    { target_label: "__address__", replacement: `localhost:${monitoringPorts.blackboxExporter}` },
                ],
            },
            local("prometheus", monitoringPorts.prometheus),
            local("alertmanager", monitoringPorts.alertmanager),
            local("blackbox-exporter", monitoringPorts.blackboxExporter),
        ],
    };
    return header + stringify(config, { lineWidth: 0 });
}

/**
 * The blackbox exporter probes the site as a user does: the public address, redirects followed. The certificate
 * is self-signed by design, so it is not verified; its expiry is still exported (probe_ssl_earliest_cert_expiry).
 */
export function renderBlackboxConfig(): string {
    return (
        header +
        stringify({
            modules: {
                [blackboxModule]: {
                    prober: "http",
                    timeout: "5s",
                    http: { preferred_ip_protocol: "ip4", follow_redirects: true, tls_config: { insecure_skip_verify: true } },
                },
            },
        })
    );
}

const header = "# Rendered by the foobar Pulumi program; edits are overwritten on the next deploy.\n";

interface AlertRule {
    alert: string;
    expr: string;
    for?: string;
    /** `tier` where the alert is about one tier; otherwise the firing series' own tier label stays. */
    labels: { severity: "critical" | "warning"; tier?: string };
    annotations: { summary: string; description: string };
}

/** The alert rules, one group per tier; replica rules only when the plan has replicas, Galera's when it has a cluster. */
export function alertRules(hasReplicas: boolean, galera = false): { name: string; rules: AlertRule[] }[] {
    const rule = (
        alert: string,
        tier: string | undefined,
        severity: AlertRule["labels"]["severity"],
        expr: string,
        forDuration: string | undefined,
        summary: string,
        description: string,
    ): AlertRule => ({
        alert,
        expr,
        ...(forDuration ? { for: forDuration } : {}),
        labels: { severity, ...(tier ? { tier } : {}) },
        annotations: { summary, description },
    });
    const responses = (filter: string) => `sum by (instance, server) (rate(haproxy_server_http_responses_total{${filter}}[1m]))`;
    const frontend = (filter: string) => `sum by (instance) (rate(haproxy_frontend_http_responses_total{${filter}}[1m]))`;
    const replicaUp = 'mysql_up{role="replica"} == 1';
    return [
        {
            name: "instances",
            rules: [
                rule(
                    "InstanceDown",
                    undefined,
                    "critical",
                    'up{job="node"} == 0',
                    "30s",
                    "{{ $labels.instance }} ({{ $labels.tier }}) does not answer Prometheus",
                    "The node exporter on {{ $labels.instance }} has not answered for 30 s: the instance is down, cut off or its exporter stopped. Check its EC2 status checks, then `systemctl status prometheus-node-exporter` on it.",
                ),
                rule(
                    "ExporterDown",
                    undefined,
                    "warning",
                    'up{job!="node"} == 0',
                    "30s",
                    "The {{ $labels.job }} exporter on {{ $labels.instance }} does not answer",
                    "Prometheus cannot scrape {{ $labels.job }} on {{ $labels.instance }}: that service is not watched. Check the service and its exporter on {{ $labels.instance }}.",
                ),
                rule(
                    "DataDiskFillingUp",
                    undefined,
                    "warning",
                    'predict_linear(node_filesystem_avail_bytes{mountpoint=~"/|/var/lib/mysql",fstype!~"tmpfs|overlay"}[1h], 4 * 3600) < 0',
                    "10m",
                    "{{ $labels.mountpoint }} on {{ $labels.instance }} fills up within 4 hours at this rate",
                    "At the last hour's rate {{ $labels.mountpoint }} on {{ $labels.instance }} is full within 4 hours. Free space or grow the volume (dbVolumeSizeGiB for the database's data volume) before writes stop.",
                ),
            ],
        },
        {
            name: "request-path",
            rules: [
                rule(
                    "WebServerOutOfBackend",
                    "web",
                    "warning",
                    // Counted over the load balancers: a pair's two HAProxies both see the server down, and that is one alert.
                    'count by (proxy, server) (haproxy_server_status{proxy="web",state="DOWN"} == 1)',
                    "20s",
                    "Web server {{ $labels.server }} is out of the load balancer's backend",
                    "{{ $value }} load balancer(s) mark {{ $labels.server }} down: its /healthz check fails. The site runs on the other web servers; check nginx and foobar-app on {{ $labels.server }} (`systemctl status nginx foobar-app`).",
                ),
                rule(
                    "BackendNoHealthyServer",
                    "lb",
                    "critical",
                    'haproxy_backend_active_servers{proxy="web"} == 0',
                    "10s",
                    "No web server is healthy behind {{ $labels.instance }}: the site answers 503",
                    "Every server of HAProxy's backend web is down. Check the web servers (`systemctl status nginx foobar-app`) and the load balancer's view of them (stats on port 8404).",
                ),
                rule(
                    "WebServerAnswers5xx",
                    "web",
                    "warning",
                    `(${responses('proxy=~"web|web-writes",code="5xx"')} / ${responses('proxy=~"web|web-writes"')} > 0.05) and ${responses('proxy=~"web|web-writes"')} > 0.1`,
                    "30s",
                    "Web server {{ $labels.server }} answers {{ $value | humanizePercentage }} of requests with 5xx",
                    "More than 5% of the answers from {{ $labels.server }} over the last minute were server errors while it passes its health check. Read its logs (`journalctl -u foobar-app -u nginx`) and the database's state.",
                ),
                rule(
                    "SiteHttp5xxRate",
                    "lb",
                    "critical",
                    `(${frontend('proxy="www",code="5xx"')} / ${frontend('proxy="www"')} > 0.05) and ${frontend('proxy="www"')} > 0.1`,
                    "30s",
                    "{{ $value | humanizePercentage }} of the site's answers are server errors",
                    "Users get 5xx answers from {{ $labels.instance }}. See which web server answers them (WebServerAnswers5xx), or whether the database is down (the app answers 503 then).",
                ),
            ],
        },
        {
            name: "db",
            rules: [
                rule(
                    "MysqlDown",
                    "db",
                    "critical",
                    "mysql_up == 0",
                    "30s",
                    "MariaDB on {{ $labels.instance }} ({{ $labels.role }}) does not answer",
                    "The exporter on {{ $labels.instance }} cannot reach MariaDB. Check `systemctl status mariadb` and its journal on {{ $labels.instance }}.",
                ),
                // Every Galera node takes writes by design (the sidecars send them to one at a time); a node out of sync takes none.
                ...(galera
                    ? [
                          rule(
                              "GaleraNodeNotSynced",
                              "db",
                              "critical",
                              "mysql_global_status_wsrep_local_state != 4",
                              "20s",
                              "{{ $labels.instance }} is not synced with its Galera cluster (state {{ $value }})",
                              'The node takes no traffic (its health check answers 503) until it is synced again: 1 joining, 2 donor, 3 joined. A node that stays out is cut off or lost its quorum; see README "Galera cluster".',
                          ),
                      ]
                    : [
                          rule(
                              "MoreThanOneWriter",
                              "db",
                              "critical",
                              "(mysql_global_variables_read_only == 0) and on () (count(mysql_global_variables_read_only == 0) > 1)",
                              "10s",
                              "{{ $labels.instance }} ({{ $labels.role }}) accepts writes, and so does another database server",
                              "More than one database server has read_only off: writes can diverge. Only the primary may accept writes; on the others run `SET GLOBAL read_only = ON` and check which server the writer endpoint names.",
                          ),
                      ]),
                ...(hasReplicas
                    ? [
                          rule(
                              "ReplicationStopped",
                              "db",
                              "critical",
                              "mysql_slave_status_slave_io_running == 0 or mysql_slave_status_slave_sql_running == 0",
                              "20s",
                              "Replication on {{ $labels.instance }} has stopped",
                              "A replication thread of {{ $labels.instance }} is not running: its reads grow stale. Read Last_IO_Error / Last_SQL_Error in `SHOW SLAVE STATUS` on it, fix the cause, then `START SLAVE`.",
                          ),
                          rule(
                              "ReplicationLagging",
                              "db",
                              "warning",
                              "mysql_slave_status_seconds_behind_master > 30",
                              "1m",
                              "{{ $labels.instance }} is {{ $value }} s behind the primary",
                              "Reads from {{ $labels.instance }} are more than 30 s stale. Check its load and the primary's write rate.",
                          ),
                          // A NULL Seconds_Behind_Master (a thread stopped, never configured) removes the series: watch its absence.
                          rule(
                              "ReplicationLagUnknown",
                              "db",
                              "critical",
                              `(${replicaUp}) unless on (instance) mysql_slave_status_seconds_behind_master`,
                              "20s",
                              "{{ $labels.instance }} reports no replication lag: it is not replicating",
                              "MariaDB on {{ $labels.instance }} answers, but SHOW SLAVE STATUS gives no lag (threads stopped or replication not configured). Check `SHOW SLAVE STATUS` on it.",
                          ),
                          rule(
                              "NoReplicaReporting",
                              "db",
                              "critical",
                              "absent(mysql_slave_status_seconds_behind_master)",
                              "1m",
                              "No database replica reports replication",
                              "No replica has reported a replication lag for a minute: every replica is down, stopped replicating, or its exporter is gone. Reads fall back to stale or missing data; check the replicas.",
                          ),
                      ]
                    : []),
            ],
        },
        {
            name: "site",
            rules: [
                rule(
                    "SiteUnreachable",
                    "site",
                    "critical",
                    'probe_success{job="blackbox"} == 0',
                    "30s",
                    "The site does not answer at its public address {{ $labels.url }}",
                    "The probe from outside the VPC (through the NAT gateway to the public address, as users come) fails. Check the load balancer and its Elastic IP.",
                ),
            ],
        },
    ];
}

export function renderAlertRules(hasReplicas: boolean, galera = false): string {
    return header + stringify({ groups: alertRules(hasReplicas, galera) }, { lineWidth: 0 });
}

/** Where Alertmanager sends: the stack's SNS topic on AWS, a webhook a test reads in the local cloud (see target.ts). */
export type AlertReceiver = { kind: "sns"; topicArn: string; region: string } | { kind: "webhook"; url: string };

export function alertReceiverOf(target: Target): AlertReceiver {
    if (target.kind === "aws") {
        if (!target.alarmTopicArn) throw new Error("the monitoring instance needs the alarm topic's ARN on the aws target");
        return { kind: "sns", topicArn: target.alarmTopicArn, region: target.region };
    }
    if (!target.alertWebhookUrl) throw new Error("the monitoring instance needs an alert webhook URL on the local target");
    return { kind: "webhook", url: target.alertWebhookUrl };
}

/**
 * Alertmanager: one route, grouped per alert and instance so each fault is its own message. A new group waits
 * 10 s for companions; changes (more firing, resolved) go out after 30 s; a standing alert repeats every 4 h.
 */
export function renderAlertmanagerConfig(receiver: AlertReceiver): string {
    const name = receiver.kind === "sns" ? "alarm-topic" : "local-webhook";
    const integration =
        receiver.kind === "sns"
            ? {
                  sns_configs: [
                      {
                          // Signed with the instance role's credentials (IMDS); the role may publish to this topic only.
                          sigv4: { region: receiver.region },
                          topic_arn: receiver.topicArn,
                          // SNS email subjects: at most 100 characters.
                          subject:
                              "[{{ .Status | toUpper }}] {{ .CommonLabels.alertname }} {{ .CommonLabels.instance }} {{ .CommonLabels.server }}",
                          message:
                              "{{ range .Alerts }}{{ .Status | toUpper }}: {{ .Annotations.summary }}\n{{ .Annotations.description }}\n\n{{ end }}",
                          send_resolved: true,
                      },
                  ],
              }
            : { webhook_configs: [{ url: receiver.url, send_resolved: true }] };
    return (
        header +
        stringify(
            {
                route: {
                    receiver: name,
                    group_by: ["alertname", "instance", "server"],
                    group_wait: monitoringTiming.groupWait,
                    group_interval: monitoringTiming.groupInterval,
                    repeat_interval: "4h",
                },
                receivers: [{ name, ...integration }],
            },
            { lineWidth: 0 },
        )
    );
}

/**
 * The console (Prometheus's console templates, with the libraries Debian ships as examples): each tier's
 * health and the site's request rate, at http://<monitoring>:9090/consoles/foobar.html.
 */
export function renderConsole(): string {
    const row = (cells: string[]) => `<tr>${cells.map((c) => `<td>${c}</td>`).join("")}</tr>`;
    const state = (expr: string) =>
        `{{ if eq (${expr}) 1.0 }}<span class="text-success">up</span>{{ else }}<span class="text-danger">DOWN</span>{{ end }}`;
    return [
        "{{/* Rendered by the foobar Pulumi program; edits are overwritten on the next deploy. */}}",
        '{{ template "head" . }}',
        '{{ template "prom_content_head" . }}',
        "<h1>foobar: the site at a glance</h1>",
        "<h2>Users' view</h2>",
        '<table class="table table-sm table-striped">',
        row([
            "public address",
            `{{ with query "probe_success{job='blackbox'}" }}{{ range . }}{{ .Labels.url }}: ${state(".Value")}{{ end }}{{ else }}no probe{{ end }}`,
        ]),
        row([
            "requests per second",
            `{{ with query "sum(rate(haproxy_frontend_http_requests_total{proxy='www'}[1m]))" }}{{ . | first | value | printf "%.1f" }}{{ end }}`,
        ]),
        row([
            "server errors (5xx share)",
            `{{ with query "sum(rate(haproxy_frontend_http_responses_total{proxy='www',code='5xx'}[1m])) / sum(rate(haproxy_frontend_http_responses_total{proxy='www'}[1m]))" }}{{ . | first | value | humanizePercentage }}{{ else }}no traffic{{ end }}`,
        ]),
        row(["firing alerts", `{{ with query "count(ALERTS{alertstate='firing'})" }}{{ . | first | value }}{{ else }}none{{ end }}`]),
        "</table>",
        '<div id="requestRate"></div>',
        "<script>",
        "new PromConsole.Graph({",
        '  node: document.querySelector("#requestRate"),',
        "  expr: [\"sum by (code) (rate(haproxy_frontend_http_responses_total{proxy='www'}[1m]))\"],",
        '  name: "[[ code ]]",',
        "  yAxisFormatter: PromConsole.NumberFormatter.humanize,",
        "  yHoverFormatter: PromConsole.NumberFormatter.humanize,",
        '  yUnits: "/s",',
        '  yTitle: "Answers per second by status class"',
        "})",
        "</script>",
        "<h2>Instances</h2>",
        '<table class="table table-sm table-striped">',
        "<tr><th>instance</th><th>tier</th><th>exporter</th><th>state</th></tr>",
        `{{ range sortByLabel "instance" (query "up") }}${row(["{{ .Labels.instance }}", "{{ .Labels.tier }}", "{{ .Labels.job }}", state(".Value")])}{{ end }}`,
        "</table>",
        "<h2>Load balancer: web servers in the backend</h2>",
        '<table class="table table-sm table-striped">',
        "<tr><th>server</th><th>state</th><th>requests per second</th></tr>",
        `{{ range sortByLabel "server" (query "haproxy_server_status{proxy='web',state='UP'}") }}${row([
            "{{ .Labels.server }}",
            state(".Value"),
            `{{ with printf "sum(rate(haproxy_server_http_responses_total{proxy=~'web|web-writes',server='%s'}[1m]))" .Labels.server | query }}{{ . | first | value | printf "%.1f" }}{{ end }}`,
        ])}{{ end }}`,
        "</table>",
        "<h2>Database</h2>",
        '<table class="table table-sm table-striped">',
        "<tr><th>server</th><th>role</th><th>MariaDB</th><th>writable</th><th>replication lag</th></tr>",
        `{{ range sortByLabel "instance" (query "mysql_up") }}${row([
            "{{ .Labels.instance }}",
            "{{ .Labels.role }}",
            state(".Value"),
            `{{ with printf "mysql_global_variables_read_only{instance='%s'}" .Labels.instance | query }}{{ if eq (. | first | value) 0.0 }}yes{{ else }}no{{ end }}{{ end }}`,
            `{{ with printf "mysql_slave_status_seconds_behind_master{instance='%s'}" .Labels.instance | query }}{{ . | first | value }} s{{ else }}-{{ end }}`,
        ])}{{ end }}`,
        "</table>",
        '<p><a href="{{ pathPrefix }}/alerts">Alerts</a> · <a href="{{ pathPrefix }}/targets">Targets</a></p>',
        '{{ template "prom_content_tail" . }}',
        '{{ template "tail" }}',
        "",
    ].join("\n");
}

/** What the monitoring instance is told, whatever the target. */
export interface MonitoringServerSettings {
    stack: string;
    /** Its own name in the plan. */
    name: string;
    /** Every instance of the plan, itself included. */
    instances: ScrapedInstance[];
}

export interface MonitoringUserDataArgs extends MonitoringServerSettings {
    /** The site as users reach it (the Elastic IP, or the local cloud's public address): what the blackbox exporter probes. */
    publicUrl: string;
    target: Target;
}

export const monitoringServices = ["prometheus.service", "prometheus-alertmanager.service", "prometheus-blackbox-exporter.service"];

export function renderMonitoringUserData(args: MonitoringUserDataArgs): string {
    const jobs = scrapeTargets(args.instances, args.publicUrl);
    const hasReplicas = args.instances.some((i) => i.role === "db-replica");
    const file = (path: string, content: string): WriteFile => ({ path, content, permissions: "0644", defer: true });
    const files: WriteFile[] = [
        file(`${prometheusDir}/prometheus.yml`, renderPrometheusConfig(args.stack, args.name, Object.keys(jobs))),
        ...Object.entries(jobs).map(([job, groups]) => file(`${targetsDir}/${job}.json`, JSON.stringify(groups, null, 2) + "\n")),
        file(
            `${rulesDir}/foobar.yml`,
            renderAlertRules(
                hasReplicas,
                args.instances.some((i) => i.role === "db-node"),
            ),
        ),
        file(`${prometheusDir}/blackbox.yml`, renderBlackboxConfig()),
        file(consolePath, renderConsole()),
        file(alertmanagerConfigPath, renderAlertmanagerConfig(alertReceiverOf(args.target))),
        // No Alertmanager cluster: its gossip port (9094) stays closed.
        file("/etc/default/prometheus-alertmanager", 'ARGS="--cluster.listen-address="\n'),
        // Prometheus on this instance is the exporter's only client.
        file(
            "/etc/default/prometheus-blackbox-exporter",
            `ARGS="--config.file ${prometheusDir}/blackbox.yml --web.listen-address=127.0.0.1:${monitoringPorts.blackboxExporter}"\n`,
        ),
    ];
    return renderRoleUserData({
        role: "monitoring",
        target: args.target,
        monitoring: true,
        settings: { PROMETHEUS_PORT: String(monitoringPorts.prometheus), ALERTMANAGER_PORT: String(monitoringPorts.alertmanager) },
        files,
        setupScript: "setup-monitoring.sh",
        packagedServices: monitoringServices,
    });
}
