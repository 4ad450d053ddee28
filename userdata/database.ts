/** A database server's cloud-config: MariaDB (Debian's MySQL server) as primary or replica. */
import { ipToInt } from "../config";
import { renderRoleUserData } from "./cloudConfig";
import { Target } from "./target";

export type DatabaseRole = "primary" | "replica";

export const mysqlPort = 3306;
export const serverConfigPath = "/etc/mysql/mariadb.conf.d/60-foobar.cnf";
export const mysqldExporterConfigPath = "/etc/prometheus/mysqld-exporter.cnf";

/** A server id unique within the VPC: the low 16 bits of the private address (the VPC is /16 or smaller). */
export function serverIdFor(privateIp: string): number {
    return ipToInt(privateIp) & 0xffff || 1;
}

export function renderMariadbConfig(role: DatabaseRole, serverId: number): string {
    const lines = [
        "# Rendered by the foobar Pulumi program; edits are overwritten on the next deploy.",
        "[mysqld]",
        "bind_address = 0.0.0.0",
        `port = ${mysqlPort}`,
        // Grants name client addresses, never host names.
        "skip_name_resolve = ON",
        `server_id = ${serverId}`,
        // Binary log with GTIDs on every server, so a replica can be promoted.
        "log_bin = mysql-bin",
        "binlog_format = ROW",
        "log_slave_updates = ON",
        "gtid_strict_mode = ON",
        "relay_log = relay-bin",
        "relay_log_recovery = ON",
        "sync_binlog = 1",
        "innodb_flush_log_at_trx_commit = 1",
        "max_connections = 200",
    ];
    if (role === "replica") lines.push("read_only = ON");
    return lines.join("\n") + "\n";
}

/** What a database server is told, whatever the target. */
export interface DatabaseServerSettings {
    role: DatabaseRole;
    privateIp: string;
    /** The writer endpoint: replicas replicate from it. */
    writerHost: string;
    dbName: string;
    appUser: string;
    /** Addresses (or ip/netmask blocks) the app user may connect from: the web tier. */
    appHosts: string[];
    replicationUser: string;
    /** Addresses (or ip/netmask blocks) the replication user may connect from: the replicas. */
    replicaHosts: string[];
    appPasswordParameter: string;
    replicationPasswordParameter: string;
    /**
     * Service-level monitoring: the MariaDB exporter logs in locally as this user (PROCESS, REPLICATION CLIENT,
     * SELECT), with the password in this parameter; undefined when monitoring is off.
     */
    exporter?: { user: string; passwordParameter: string };
}

export interface DatabaseUserDataArgs extends DatabaseServerSettings {
    target: Target;
}

const identifierPattern = /^[a-z][a-z0-9_]{0,31}$/;
/** An address, or an address block as MariaDB writes it (`ip/netmask`). */
const hostPattern = /^\d{1,3}(\.\d{1,3}){3}(\/\d{1,3}(\.\d{1,3}){3})?$/;

export function renderDatabaseUserData(args: DatabaseUserDataArgs): string {
    for (const name of [args.dbName, args.appUser, args.replicationUser, ...(args.exporter ? [args.exporter.user] : [])]) {
        if (!identifierPattern.test(name)) throw new Error(`not a safe SQL identifier: ${name}`);
    }
    for (const host of [...args.appHosts, ...args.replicaHosts]) {
        if (!hostPattern.test(host)) throw new Error(`not an IPv4 address or ip/netmask: ${host}`);
    }
    return renderRoleUserData({
        role: "db",
        target: args.target,
        settings: {
            DB_ROLE: args.role,
            DB_WRITER_HOST: args.writerHost,
            DB_NAME: args.dbName,
            APP_USER: args.appUser,
            APP_HOSTS: args.appHosts.join(" "),
            REPLICATION_USER: args.replicationUser,
            REPLICA_HOSTS: args.replicaHosts.join(" "),
            APP_PASSWORD_PARAMETER: args.appPasswordParameter,
            REPLICATION_PASSWORD_PARAMETER: args.replicationPasswordParameter,
            EXPORTER_USER: args.exporter?.user ?? "",
            EXPORTER_PASSWORD_PARAMETER: args.exporter?.passwordParameter ?? "",
            EXPORTER_CONFIG: mysqldExporterConfigPath,
        },
        files: [
            {
                path: serverConfigPath,
                content: renderMariadbConfig(args.role, serverIdFor(args.privateIp)),
                permissions: "0644",
                defer: true,
            },
            ...(args.exporter
                ? [
                      {
                          path: "/etc/default/prometheus-mysqld-exporter",
                          // The credentials file is written at boot from the secret store, readable by the exporter only.
                          content: `ARGS="--config.my-cnf=${mysqldExporterConfigPath}"\n`,
                          permissions: "0644",
                          defer: true,
                      },
                  ]
                : []),
        ],
        setupScript: "setup-db.sh",
        packagedServices: ["mariadb.service"],
        monitoring: args.exporter !== undefined,
    });
}
