/** The load balancer's cloud-config and its HAProxy configuration. */
import { LbAlgorithm } from "../config";
import { renderRoleUserData } from "./cloudConfig";
import { keepalivedFiles, VrrpSettings } from "./keepalived";
import { loadBalancerPairPackages } from "./packages";
import { lbConfigSyncFiles } from "./rollout";
import { Target } from "./target";

export interface Backend {
    name: string;
    address: string;
    /** A hot spare (webMode active-passive): HAProxy sends it traffic only while no other server is up. */
    backup?: boolean;
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

/**
 * Timing of the request path, chosen for this app (pages answer in milliseconds; the app gives up on the
 * database after at most 2 s and answers 503 itself). README "HAProxy: why each setting" explains each value.
 */
export const haproxyTiming = {
    /** A SYN to a live web server in the VPC is answered in well under a millisecond; 1 s is one lost SYN. */
    connect: "1s",
    /** Longer than the app's slowest honest answer (2 s), short enough that a hanging server costs a request about 3 s. */
    server: "3s",
    check: "1s",
} as const;

/** Requests that change nothing on the server: HAProxy's METH_GET matches GET and HEAD. */
const readRequests = "METH_GET";

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
        // Keep-alive on both sides (HAProxy's default once http-server-close is gone); idle server connections are shared.
        "    http-reuse safe",
        `    timeout connect ${haproxyTiming.connect}`,
        `    timeout server ${haproxyTiming.server}`,
        "    timeout client 30s",
        "    timeout http-request 5s",
        "    timeout http-keep-alive 10s",
        `    timeout check ${haproxyTiming.check}`,
        // Every retry goes to another server: the one that failed is the least likely to answer.
        "    retries 2",
        "    option redispatch 1",
        '    http-error status 502 content-type text/plain string "502 Bad Gateway: the web server failed while answering this request. A write may still have been applied: check before sending it again."',
        '    http-error status 503 content-type text/plain string "503 Service Unavailable: no web server is available; try again in a few seconds."',
        '    http-error status 504 content-type text/plain string "504 Gateway Timeout: the web server did not answer in time. A write may still have been applied: check before sending it again."',
        "",
        "frontend www",
        ...frontend,
        // Writes take a backend of their own, so they are never replayed and never ride a connection another request left idle.
        `    use_backend web-writes unless ${readRequests}`,
        "    default_backend web",
        "",
        "backend web",
        `    balance ${args.algorithm}`,
        // Reads are idempotent: replay them on another server when this one refused, closed without answering,
        // did not answer in time, or its nginx found the app gone (502).
        "    retry-on conn-failure empty-response response-timeout 502",
        "    option httpchk",
        `    http-check send meth GET uri /healthz ver HTTP/1.1 hdr Host ${args.siteName}`,
        "    http-check expect status 200",
        // Checks every 500 ms, every 250 ms once one failed: two failures mark a server down within about 1 s
        // (3 s when it hangs, bounded by the check timeout). Three failed answers in a row that were not replayed
        // (a write's 502, a 503) bring the next check forward, and the check decides: errors alone never take a
        // server out, or a database outage (every server answers 503) or one request that trips a bug would empty the backend.
        "    default-server inter 500ms fastinter 250ms downinter 1s fall 2 rise 2 observe layer7 error-limit 3 on-error fastinter",
        // A backup server takes traffic only when no other is up: the first backup listed, the other zone's (`option allbackups` unset).
        ...args.backends.map((b) => `    server ${b.name} ${b.address}:80 check${b.backup ? " backup" : ""}`),
        "",
        "backend web-writes",
        `    balance ${args.algorithm}`,
        // A fresh connection per write: a failure to connect means nothing was sent, the one case where replaying a
        // write elsewhere is safe. Anything later (the server closed, timed out, answered 502) goes back to the client.
        "    http-reuse never",
        "    retry-on conn-failure",
        // The same servers, up and down with the checks of backend web.
        ...args.backends.map((b) => `    server ${b.name} ${b.address}:80 track web/${b.name}${b.backup ? " backup" : ""}`),
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
    /** Service-level monitoring: the node exporter runs beside HAProxy's own. */
    monitoring: boolean;
}

export interface LoadBalancerUserDataArgs extends LoadBalancerSettings {
    target: Target;
    /** One of a pair: keepalived decides which load balancer holds the public address. */
    vrrp?: VrrpSettings;
}

export function renderLoadBalancerUserData(args: LoadBalancerUserDataArgs): string {
    if (args.https !== (args.tlsParameter !== undefined)) {
        throw new Error("https needs a TLS parameter, and a TLS parameter needs https");
    }
    const { vrrp } = args;
    const movesAddress = args.target.kind === "aws" ? args.target.elasticIpAllocationId : args.target.virtualAddress;
    if ((vrrp === undefined) !== (movesAddress === undefined)) {
        throw new Error("a load balancer of a pair needs VRRP settings and a target that moves the public address, and only it");
    }
    // A single load balancer's user-data stays what it was before pairs existed, so upgrading the program replaces nothing.
    return renderRoleUserData({
        role: "lb",
        target: args.target,
        settings: {
            TLS_PARAMETER: args.tlsParameter ?? "",
            TLS_CERTIFICATE_PATH: tlsCertificatePath,
            LB_CONFIG_PARAMETER: args.configParameter,
            ...(vrrp ? { VRRP_PASSWORD_PARAMETER: vrrp.passwordParameter } : {}),
        },
        // Not the configuration itself: backends and balancing settings change without a new instance.
        files: [...lbConfigSyncFiles(), ...(vrrp ? keepalivedFiles(vrrp) : [])],
        setupScript: "setup-lb.sh",
        packagedServices: ["haproxy.service", ...(vrrp ? ["keepalived.service"] : [])],
        extraPackages: vrrp ? loadBalancerPairPackages : [],
        extraSetupScripts: vrrp ? ["setup-keepalived.sh"] : [],
        monitoring: args.monitoring,
    });
}
