/**
 * The files that let a running stack change without an outage
 * (README: Changes on a running stack): a web server's readiness marker, and
 * the load balancer's agent that installs the HAProxy configuration the
 * deploy publishes. Kept apart from the role renderers, which add them.
 */
import { bundledFile, WriteFile } from "./files";

const unit = (name: string): WriteFile => ({
    path: `/etc/systemd/system/${name}`,
    content: bundledFile(`rollout/${name}`),
    permissions: "0644",
    defer: true,
});

/** A web server prints `foobar-ready` to its console once its app answers through nginx. */
export function readinessFiles(): WriteFile[] {
    return [
        { path: "/usr/local/sbin/foobar-ready", content: bundledFile("rollout/foobar-ready.sh"), permissions: "0755" },
        unit("foobar-ready.service"),
    ];
}

/** The load balancer polls its configuration parameter, checks, installs, reloads and prints `foobar-lb-config <digest>`. */
export function lbConfigSyncFiles(): WriteFile[] {
    return [
        { path: "/usr/local/sbin/foobar-lb-config", content: bundledFile("rollout/foobar-lb-config.sh"), permissions: "0755" },
        unit("foobar-lb-config.service"),
        unit("foobar-lb-config.timer"),
    ];
}
