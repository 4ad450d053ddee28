/**
 * Debian packages each role installs through cloud-init's `packages:`.
 * The local cloud builds its offline apt repository from this same list,
 * so EC2 and the containers install identical versions from Debian's archive.
 */
export type Role = "lb" | "web" | "db";

export const rolePackages: Record<Role, readonly string[]> = {
    // python3-boto3: the AWS target's secret fetcher (the load balancer's TLS certificate, the database passwords).
    lb: ["haproxy", "python3-boto3"],
    web: ["nginx", "gunicorn", "python3-flask", "python3-pymysql", "python3-boto3"],
    db: ["default-mysql-server", "python3-boto3"],
};

/** Every package any role installs, sorted and de-duplicated. */
export function allRolePackages(): string[] {
    return [...new Set(Object.values(rolePackages).flat())].sort();
}
