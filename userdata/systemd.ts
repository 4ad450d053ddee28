/**
 * How every daemon of the site comes back by itself after a crash: one restart policy, applied to the
 * units Debian's packages ship (as drop-ins) and to the units the project writes (inline).
 */
import { WriteFile } from "./files";

/**
 * Restart whatever way the daemon ended unless systemctl stopped it; wait a second so a port or a socket is
 * free again. Five starts within a minute is a crash loop: systemd then leaves the unit failed, where
 * `systemctl --failed` and the monitoring see it, instead of restarting it forever.
 */
export const restartPolicy = {
    unit: ["StartLimitIntervalSec=60", "StartLimitBurst=5"],
    service: ["Restart=always", "RestartSec=1s"],
} as const;

export function restartDropInPath(unit: string): string {
    return `/etc/systemd/system/${unit}.d/50-foobar-restart.conf`;
}

export function renderRestartDropIn(): string {
    return [
        "# Rendered by the foobar Pulumi program: restart after a crash, and show a crash loop as a failed unit.",
        "[Unit]",
        ...restartPolicy.unit,
        "",
        "[Service]",
        ...restartPolicy.service,
        "",
    ].join("\n");
}

/** The drop-in for a unit shipped by a Debian package, e.g. `nginx.service`. */
export function restartDropIn(unit: string): WriteFile {
    return { path: restartDropInPath(unit), content: renderRestartDropIn(), permissions: "0644", defer: true };
}
