/** A web/app server's cloud-config: nginx in front of gunicorn, and the app's files. */
import { renderRoleUserData } from "./cloudConfig";
import { bundledFile, WriteFile } from "./files";
import { readinessFiles } from "./rollout";
import { Target } from "./target";

export const appDir = "/srv/foobar/app";
export const gunicornSocket = "/run/foobar/gunicorn.sock";

/** The application files, as shipped under userdata/files/app. Sorted so the output is stable. */
export const appFiles = ["app.py", "static/style.css", "templates/base.html", "templates/error.html", "templates/index.html"];

export function renderNginxSite(siteName: string): string {
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
        "        proxy_read_timeout 15s;",
        "    }",
        "}",
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
        "",
        "[Service]",
        "User=www-data",
        "Group=www-data",
        "RuntimeDirectory=foobar",
        "EnvironmentFile=/etc/foobar/foobar.env",
        "EnvironmentFile=/etc/foobar/app.env",
        `WorkingDirectory=${appDir}`,
        `ExecStart=/usr/bin/gunicorn --workers 3 --bind unix:${gunicornSocket} --access-logfile - app:app`,
        "Restart=on-failure",
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

/** What a web server is told, whatever the target. */
export interface WebServerSettings {
    siteName: string;
    dbWriterHost: string;
    dbReaderHost: string;
    dbName: string;
    dbUser: string;
    /** SSM parameter holding the app user's database password. */
    appPasswordParameter: string;
}

export interface WebServerUserDataArgs extends WebServerSettings {
    target: Target;
}

export function renderWebServerUserData(args: WebServerUserDataArgs): string {
    const files: WriteFile[] = [
        ...appFiles.map((f) => ({ path: `${appDir}/${f}`, content: bundledFile(`app/${f}`), permissions: "0644", defer: true })),
        { path: "/etc/systemd/system/foobar-app.service", content: renderGunicornUnit(), permissions: "0644", defer: true },
        { path: "/etc/nginx/sites-available/foobar", content: renderNginxSite(args.siteName), permissions: "0644", defer: true },
        ...readinessFiles(),
    ];
    return renderRoleUserData({
        role: "web",
        target: args.target,
        settings: {
            SITE_NAME: args.siteName,
            DB_WRITER_HOST: args.dbWriterHost,
            DB_READER_HOST: args.dbReaderHost,
            DB_NAME: args.dbName,
            DB_USER: args.dbUser,
            APP_PASSWORD_PARAMETER: args.appPasswordParameter,
        },
        files,
        setupScript: "setup-web.sh",
    });
}
