/**
 * Debian packages each role installs through cloud-init's `packages:`.
 * The local cloud builds its offline apt repository from this same list,
 * so EC2 and the containers install identical versions from Debian's archive.
 */
import type { Role as RoleTag } from "../roles";

/** The roles that run instances: every `Role` tag value but the network's. */
export type Role = Exclude<RoleTag, "network">;

export const rolePackages: Record<Role, readonly string[]> = {
    // python3-boto3: the AWS target's secret fetcher (the load balancer's TLS certificate, the database passwords),
    // which every role's target files carry.
    lb: ["haproxy", "python3-boto3"],
    web: ["nginx", "gunicorn", "python3-flask", "python3-pymysql", "python3-boto3"],
    db: ["default-mysql-server", "python3-boto3"],
    monitoring: ["prometheus", "prometheus-alertmanager", "prometheus-blackbox-exporter", "python3-boto3"],
};

/** What a load balancer of a pair adds (userdata/keepalived.ts; curl runs its track script); a single one does without. */
export const loadBalancerPairPackages: readonly string[] = ["keepalived", "curl"];
/**
 * What a Galera node installs besides its role's packages: the provider (a dependency of the server, named so the
 * policy pack sees the cluster) and mariabackup, which the snapshot transfer runs (not a dependency).
 */
export const galeraPackages: readonly string[] = ["galera-4", "mariadb-backup"];
/** What a web server installs besides its role's packages when the database is a Galera cluster: the HAProxy sidecar. */
export const galeraSidecarPackages: readonly string[] = ["haproxy"];

/** The exporters each role runs when monitoring is on (userdata/monitoring.ts scrapes them); each ships its unit. */
export const exporterPackages: Record<Role, readonly string[]> = {
    lb: ["prometheus-node-exporter"],
    web: ["prometheus-node-exporter"],
    db: ["prometheus-node-exporter", "prometheus-mysqld-exporter"],
    monitoring: ["prometheus-node-exporter"],
};

/** Every package any role installs, sorted and de-duplicated. */
export function allRolePackages(): string[] {
    return [
        ...new Set(
            [
                ...Object.values(rolePackages),
                ...Object.values(exporterPackages),
                loadBalancerPairPackages,
                galeraPackages,
                galeraSidecarPackages,
            ].flat(),
        ),
    ].sort();
}
