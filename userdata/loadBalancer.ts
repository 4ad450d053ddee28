/** The load balancer's cloud-config and its HAProxy configuration. */
import { LbAlgorithm } from "../config";
import { renderRoleUserData } from "./cloudConfig";
import { lbConfigSyncFiles } from "./rollout";
import { Target } from "./target";

export interface Backend {
    name: string;
    address: string;
}

export interface HaproxyConfigArgs {
    algorithm: LbAlgorithm;
    backends: Backend[];
    /** Terminate TLS on 443 and redirect 80 there. */
    https: boolean;
    /** Host header sent with health checks. */
    siteName: string;
}

/** HAProxy's stats page and Prometheus exporter; the security group opens it to the VPC only. */
export const statsPort = 8404;
export const tlsCertificatePath = "/etc/haproxy/certs/site.pem";

export function renderHaproxyConfig(args: HaproxyConfigArgs): string {
    if (args.backends.length === 0) throw new Error("the load balancer needs at least one backend");
    const frontend = args.https
        ? [
              "    bind :80",
              `    bind :443 ssl crt ${tlsCertificatePath} alpn h2,http/1.1`,
              "    http-request redirect scheme https code 301 unless { ssl_fc }",
              '    http-response set-header Strict-Transport-Security "max-age=31536000"',
          ]
        : ["    bind :80"];
    return [
        "# Rendered by the foobar Pulumi program; edits are overwritten on the next deploy.",
        "global",
        "    log /dev/log local0",
        "    maxconn 4096",
        "    user haproxy",
        "    group haproxy",
        "    stats socket /run/haproxy/admin.sock mode 660 level admin",
        "    ssl-default-bind-options ssl-min-ver TLSv1.2",
        "",
        "defaults",
        "    mode http",
        "    log global",
        "    option httplog",
        "    option dontlognull",
        "    option forwardfor",
        "    option http-server-close",
        // A request that cannot reach its server is tried again on another one,
        // so losing a web server costs clients no failed request.
        "    retries 3",
        "    option redispatch 1",
        "    retry-on conn-failure empty-response response-timeout",
        "    timeout connect 2s",
        "    timeout client 30s",
        "    timeout server 15s",
        "    timeout http-request 10s",
        "    timeout check 1s",
        "",
        "frontend www",
        ...frontend,
        // Retrying a request the server may have acted on is safe only for reads; other methods retry only when the connection failed.
        "    http-request disable-l7-retry unless METH_GET",
        "    default_backend web",
        "",
        "backend web",
        `    balance ${args.algorithm}`,
        "    option httpchk",
        `    http-check send meth GET uri /healthz ver HTTP/1.1 hdr Host ${args.siteName}`,
        "    http-check expect status 200",
        // Checks every 500 ms (connect timeout = inter): two failures mark a server down in about 2 s.
        "    default-server inter 500ms fastinter 250ms downinter 1s fall 2 rise 2",
        ...args.backends.map((b) => `    server ${b.name} ${b.address}:80 check`),
        "",
        "frontend stats",
        `    bind :${statsPort}`,
        "    http-request use-service prometheus-exporter if { path /metrics }",
        "    stats enable",
        "    stats uri /stats",
        "    stats refresh 10s",
        "",
    ].join("\n");
}

/** What the load balancer is told, whatever the target. */
export interface LoadBalancerSettings extends HaproxyConfigArgs {
    /** SSM parameter holding certificate and key (PEM), when https is on. */
    tlsParameter?: string;
    /** SSM parameter the deploy publishes the HAProxy configuration in; the instance installs it (userdata/rollout.ts). */
    configParameter: string;
}

export interface LoadBalancerUserDataArgs extends LoadBalancerSettings {
    target: Target;
}

export function renderLoadBalancerUserData(args: LoadBalancerUserDataArgs): string {
    if (args.https !== (args.tlsParameter !== undefined)) {
        throw new Error("https needs a TLS parameter, and a TLS parameter needs https");
    }
    return renderRoleUserData({
        role: "lb",
        target: args.target,
        settings: {
            TLS_PARAMETER: args.tlsParameter ?? "",
            TLS_CERTIFICATE_PATH: tlsCertificatePath,
            LB_CONFIG_PARAMETER: args.configParameter,
        },
        // Not the configuration itself: backends and balancing settings change without a new instance.
        files: lbConfigSyncFiles(),
        setupScript: "setup-lb.sh",
    });
}
