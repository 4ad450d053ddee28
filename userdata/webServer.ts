/** A web/app server's cloud-config: nginx in front of gunicorn, and the app's files. */
import { renderRoleUserData } from "./cloudConfig";
import { galeraSidecar } from "../topology";
import { galeraPorts, mysqlPort } from "./database";
import { bundledFile, WriteFile } from "./files";
import { galeraSidecarPackages } from "./packages";
import { readinessFiles } from "./rollout";
import { restartPolicy } from "./systemd";
import { Target } from "./target";

export const appDir = "/srv/foobar/app";
export const gunicornSocket = "/run/foobar/gunicorn.sock";

/** The application files, as shipped under userdata/files/app. Sorted so the output is stable. */
export const appFiles = ["app.py", "static/style.css", "templates/base.html", "templates/error.html", "templates/index.html"];

/** The largest request body the site accepts; nginx and the app enforce the same limit (an entry is 280 characters). */
export const maxRequestBodyBytes = 16 * 1024;
export const gunicornConfigPath = "/etc/foobar/gunicorn.conf.py";
/** gunicorn kills a worker silent this long; nginx waits as long for the app. HAProxy gave up after 3 s. */
const appTimeoutSeconds = 10;

export function renderNginxSite(siteName: string): string {
    const maxBodyKiB = maxRequestBodyBytes / 1024;
    return [
        "# Rendered by the foobar Pulumi program; edits are overwritten on the next deploy.",
        "upstream foobar_app {",
        `    server unix:${gunicornSocket} fail_timeout=0;`,
        "}",
        "",
        "server {",
        "    listen 80 default_server;",
        "    listen [::]:80 default_server;",
        `    server_name ${siteName} _;`,
        "    server_tokens off;",
        // The load balancer keeps its connections open and purges idle ones after seconds; nginx must not close first.
        "    keepalive_timeout 120s;",
        `    client_max_body_size ${maxBodyKiB}k;`,
        // nginx's own error pages, saying what went wrong; the status codes stay what HAProxy acts on.
        "    error_page 413 @body_too_large;",
        "    error_page 502 @app_gone;",
        "    error_page 504 @app_timeout;",
        "",
        "    location /static/ {",
        `        alias ${appDir}/static/;`,
        "        expires 1h;",
        "    }",
        "",
        "    location / {",
        "        proxy_pass http://foobar_app;",
        "        proxy_set_header Host $host;",
        "        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        "        proxy_set_header X-Forwarded-Proto $http_x_forwarded_proto;",
        "        proxy_connect_timeout 2s;",
        `        proxy_read_timeout ${appTimeoutSeconds}s;`,
        "    }",
        "",
        "    location @body_too_large {",
        "        default_type text/plain;",
        `        return 413 "413 Request Entity Too Large: the request body is over ${maxBodyKiB} KiB, the most this site accepts.\\n";`,
        "    }",
        "",
        "    location @app_gone {",
        "        default_type text/plain;",
        '        return 502 "502 Bad Gateway: the application on $hostname is not running.\\n";',
        "    }",
        "",
        "    location @app_timeout {",
        "        default_type text/plain;",
        `        return 504 "504 Gateway Timeout: the application on $hostname did not answer within ${appTimeoutSeconds} s.\\n";`,
        "    }",
        "}",
        "",
    ].join("\n");
}

/**
 * gunicorn's settings. The worker count follows the CPUs the instance has, read at boot: sync workers answer
 * one request each, and 2 per CPU + 1 is gunicorn's own advice. At most 17, so a web tier of five servers
 * holds well under MariaDB's max_connections (each worker keeps one connection per database endpoint).
 */
export function renderGunicornConfig(): string {
    return [
        "# Rendered by the foobar Pulumi program; edits are overwritten on the next deploy.",
        "import os",
        "",
        'wsgi_app = "app:app"',
        "workers = min(2 * len(os.sched_getaffinity(0)) + 1, 17)",
        `bind = "unix:${gunicornSocket}"`,
        `timeout = ${appTimeoutSeconds}`,
        // A clean stop lets requests in flight finish; systemd's TimeoutStopSec is just above it.
        "graceful_timeout = 4",
        'accesslog = "-"',
        "",
    ].join("\n");
}

export function renderGunicornUnit(): string {
    return [
        "[Unit]",
        "Description=foobar application (gunicorn)",
        "After=network-online.target",
        "Wants=network-online.target",
        // Started before nginx and so stopped after it: on shutdown nginx stops taking requests
        // (the load balancer sees a refused connection and retries elsewhere) before the app goes.
        "Before=nginx.service",
        ...restartPolicy.unit,
        "",
        "[Service]",
        "User=www-data",
        "Group=www-data",
        "RuntimeDirectory=foobar",
        "EnvironmentFile=/etc/foobar/foobar.env",
        "EnvironmentFile=/etc/foobar/app.env",
        `WorkingDirectory=${appDir}`,
        `ExecStart=/usr/bin/gunicorn --config ${gunicornConfigPath}`,
        ...restartPolicy.service,
        // The whole control group gets SIGTERM: when the master was killed, its orphaned workers leave too
        // (after the request in hand), and whatever is still there after 5 s is killed, so the restart never waits long.
        "KillMode=control-group",
        "TimeoutStopSec=5s",
        "NoNewPrivileges=true",
        "PrivateTmp=true",
        "ProtectSystem=full",
        "ProtectHome=true",
        "",
        "[Install]",
        "WantedBy=multi-user.target",
        "",
    ].join("\n");
}

export const sidecarConfigPath = "/etc/haproxy/haproxy.cfg";

/**
 * The HAProxy sidecar in front of a Galera cluster, on each web server: the app's writer endpoint (127.0.0.1:3306)
 * leads to one node at a time, the first in node order whose health check says synced in the primary component
 * (the others are `backup`); its reader endpoint (127.0.0.2:3306) to every such node. A node marked down has its
 * sessions cut, so no app connection lingers on it; when db-1 comes back, the backups' writer sessions are cut, so
 * writes go to one node again. README "Galera cluster" explains the timing.
 */
export function renderSidecarConfig(nodes: { name: string; address: string }[]): string {
    if (nodes.length === 0) throw new Error("the sidecar needs at least one database node");
    const servers = (backup: boolean) =>
        nodes.map((n, i) => `    server ${n.name} ${n.address}:${mysqlPort}${backup && i > 0 ? " backup" : ""}`);
    return [
        "# Rendered by the foobar Pulumi program; edits are overwritten on the next deploy.",
        "global",
        "    log /dev/log local0",
        "    maxconn 1024",
        "    user haproxy",
        "    group haproxy",
        "    stats socket /run/haproxy/admin.sock mode 660 level admin",
        "",
        "defaults",
        "    mode tcp",
        "    log global",
        "    option dontlognull",
        // Inside the VPC a live node answers a SYN in well under a millisecond: half a second is a dead one.
        "    timeout connect 500ms",
        // The app keeps its connections and reuses them; MariaDB closes idle ones after 8 hours.
        "    timeout client 1h",
        "    timeout server 1h",
        "    timeout check 500ms",
        // The app gives up on a connection after 1 s: one more attempt fits.
        "    retries 1",
        "    option httpchk",
        "    http-check expect status 200",
        // A node is out after two failed checks (the second 250 ms after the first: within about 2.3 s of its failure), back after
        // two good ones; its sessions are cut at once, so the app's next attempt goes to the next node.
        `    default-server check port ${galeraPorts.healthCheck} inter 1s fastinter 250ms downinter 1s rise 2 fall 2 on-marked-down shutdown-sessions`,
        "",
        "listen db-writer",
        `    bind ${galeraSidecar.writer}:${mysqlPort}`,
        ...servers(true).map((line, i) => (i === 0 ? `${line} on-marked-up shutdown-backup-sessions` : line)),
        "",
        "listen db-reader",
        `    bind ${galeraSidecar.reader}:${mysqlPort}`,
        "    balance leastconn",
        ...servers(false),
        "",
    ].join("\n");
}

/** What a web server is told, whatever the target. */
export interface WebServerSettings {
    siteName: string;
    dbWriterHost: string;
    dbReaderHost: string;
    dbName: string;
    dbUser: string;
    /** SSM parameter holding the app user's database password. */
    appPasswordParameter: string;
    /** Service-level monitoring: the node exporter runs. */
    monitoring: boolean;
    /** With a Galera cluster: its nodes, which the HAProxy sidecar routes the app's endpoints to. */
    galeraNodes?: { name: string; address: string }[];
}

export interface WebServerUserDataArgs extends WebServerSettings {
    target: Target;
}

export function renderWebServerUserData(args: WebServerUserDataArgs): string {
    const files: WriteFile[] = [
        ...appFiles.map((f) => ({ path: `${appDir}/${f}`, content: bundledFile(`app/${f}`), permissions: "0644", defer: true })),
        { path: gunicornConfigPath, content: renderGunicornConfig(), permissions: "0644", defer: true },
        { path: "/etc/systemd/system/foobar-app.service", content: renderGunicornUnit(), permissions: "0644", defer: true },
        { path: "/etc/nginx/sites-available/foobar", content: renderNginxSite(args.siteName), permissions: "0644", defer: true },
        ...readinessFiles(),
        ...(args.galeraNodes
            ? [{ path: sidecarConfigPath, content: renderSidecarConfig(args.galeraNodes), permissions: "0644", defer: true }]
            : []),
    ];
    return renderRoleUserData({
        role: "web",
        target: args.target,
        settings: {
            SITE_NAME: args.siteName,
            DB_WRITER_HOST: args.dbWriterHost,
            DB_READER_HOST: args.dbReaderHost,
            DB_PORT: String(mysqlPort),
            DB_NAME: args.dbName,
            DB_USER: args.dbUser,
            APP_PASSWORD_PARAMETER: args.appPasswordParameter,
            MAX_BODY_BYTES: String(maxRequestBodyBytes),
            DB_SIDECAR: args.galeraNodes ? "haproxy" : "",
        },
        files,
        extraPackages: args.galeraNodes ? galeraSidecarPackages : [],
        setupScript: "setup-web.sh",
        packagedServices: args.galeraNodes ? ["nginx.service", "haproxy.service"] : ["nginx.service"],
        monitoring: args.monitoring,
    });
}
