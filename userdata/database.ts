/** A database server's cloud-config: MariaDB (Debian's MySQL server) as primary, replica, or Galera cluster node. */
import { ipToInt } from "../config";
import { renderRoleUserData } from "./cloudConfig";
import { bundledFile, WriteFile } from "./files";
import { galeraPackages } from "./packages";
import { Target } from "./target";

/** `galera`: a node of a Galera cluster, where every node can take writes (the sidecars send them to one at a time). */
export type DatabaseRole = "primary" | "replica" | "galera";

export const mysqlPort = 3306;
/**
 * Galera's ports between the nodes: group communication (TCP and UDP), incremental state transfer, and the
 * snapshot transfer (mariabackup streamed over socat); and the health check HAProxy asks (an HTTP answer).
 */
export const galeraPorts = { groupCommunication: 4567, incrementalTransfer: 4568, snapshotTransfer: 4444, healthCheck: 9200 } as const;
/** The node's state as HAProxy reads it: 200 when synced in the primary component, else 503. */
export const galeraCheckUser = "galera_check";
/** Galera's group communication settings (evs.* ordered as Galera requires: keepalive ≤ check ≤ suspect ≤ inactive). */
export const galeraProviderOptions = [
    "pc.recovery=TRUE",
    "evs.keepalive_period=PT0.5S",
    "evs.inactive_check_period=PT0.5S",
    "evs.suspect_timeout=PT2S",
    "evs.inactive_timeout=PT4S",
].join("; ");
/** Where Debian's galera-4 puts the provider. */
export const galeraProvider = "/usr/lib/galera/libgalera_smm.so";
/** The snapshot transfer's login (root and mysql may read it), written at boot from the secret store. */
export const galeraSstConfigPath = "/etc/mysql/mariadb.conf.d/70-foobar-sst.cnf";
export const serverConfigPath = "/etc/mysql/mariadb.conf.d/60-foobar.cnf";
export const mysqldExporterConfigPath = "/etc/prometheus/mysqld-exporter.cnf";

/** A server id unique within the VPC: the low 16 bits of the private address (the VPC is /16 or smaller). */
export function serverIdFor(privateIp: string): number {
    return ipToInt(privateIp) & 0xffff || 1;
}

/** A Galera node's place in its cluster. */
export interface GaleraSettings {
    /** wsrep_cluster_name: nodes of another cluster are refused. */
    clusterName: string;
    /** This node's name (db-1 ...). */
    nodeName: string;
    /** Every node's address, this one's included, in node order. */
    nodeAddresses: string[];
    /**
     * Starts a new cluster when it finds neither a cluster nor state of its own (db-1). Exactly one node has it,
     * so two first boots never make two clusters.
     */
    bootstrap: boolean;
}

function renderGalera(privateIp: string, galera: GaleraSettings): string[] {
    return [
        // Galera replicates row events of InnoDB tables; interleaved auto-increment locks let nodes apply in parallel.
        "binlog_format = ROW",
        "default_storage_engine = InnoDB",
        "innodb_autoinc_lock_mode = 2",
        "innodb_flush_log_at_trx_commit = 1",
        "wsrep_on = ON",
        `wsrep_provider = ${galeraProvider}`,
        `wsrep_cluster_name = ${galera.clusterName}`,
        `wsrep_cluster_address = gcomm://${galera.nodeAddresses.join(",")}`,
        `wsrep_node_address = ${privateIp}`,
        `wsrep_node_name = ${galera.nodeName}`,
        // mariabackup copies a donor without blocking its writes.
        "wsrep_sst_method = mariabackup",
        // After all nodes crashed, they form the primary component again by themselves once all are back.
        // A node silent for 2 s is suspected and evicted (Galera waits 5 s by default): until then every commit
        // waits for it, so this bounds how long a crashed or cut-off node holds the others' writes (README "Galera cluster").
        `wsrep_provider_options = "${galeraProviderOptions}"`,
        "max_connections = 200",
    ];
}

export function renderMariadbConfig(server: Pick<DatabaseServerSettings, "role" | "privateIp" | "galera">): string {
    const lines = [
        "# Rendered by the foobar Pulumi program; edits are overwritten on the next deploy.",
        "[mysqld]",
        "bind_address = 0.0.0.0",
        `port = ${mysqlPort}`,
        // Grants name client addresses, never host names.
        "skip_name_resolve = ON",
    ];
    if (server.role === "galera") {
        if (!server.galera) throw new Error("a Galera node needs its cluster settings");
        lines.push(...renderGalera(server.privateIp, server.galera));
    } else {
        lines.push(
            `server_id = ${serverIdFor(server.privateIp)}`,
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
        );
        if (server.role === "replica") lines.push("read_only = ON");
    }
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
    /** A Galera node's place in its cluster (role `galera` only). */
    galera?: GaleraSettings;
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
    const galera = args.role === "galera" ? args.galera : undefined;
    if ((args.role === "galera") !== (galera !== undefined)) throw new Error(`${args.role} with${galera ? "" : "out"} Galera settings`);
    return renderRoleUserData({
        role: "db",
        target: args.target,
        extraPackages: galera ? galeraPackages : [],
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
            ...(galera ? galeraEnvironment(args.privateIp, galera) : {}),
        },
        files: [
            dataVolumeDropIn,
            {
                path: serverConfigPath,
                content: renderMariadbConfig(args),
                permissions: "0644",
                defer: true,
            },
            ...(galera ? galeraFiles() : []),
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

/** Where MariaDB keeps its data: the EBS data volume is mounted here (setup-db.sh writes its fstab line). */
export const dataDirectory = "/var/lib/mysql";

/**
 * MariaDB never starts on the package's copy of the data directory left on the root disk: the fstab line is
 * `nofail` (a lost volume must not stop the boot, or SSH), which drops the mount's ordering before
 * local-fs.target, so the units that read the data directory require its mount themselves. Before setup-db.sh
 * writes the fstab line there is no mount unit, and the dependency is void (systemd.unit: RequiresMountsFor=).
 */
export const dataVolumeDropIn: WriteFile = {
    path: "/etc/systemd/system/mariadb.service.d/50-foobar-data-volume.conf",
    content: [
        "# Rendered by the foobar Pulumi program: start only on the mounted data volume.",
        "[Unit]",
        `RequiresMountsFor=${dataDirectory}`,
        "",
    ].join("\n"),
    permissions: "0644",
    defer: true,
};

/** What the Galera scripts read from /etc/foobar/foobar.env. */
function galeraEnvironment(privateIp: string, galera: GaleraSettings): Record<string, string> {
    const index = galera.nodeAddresses.indexOf(privateIp);
    if (index < 0) throw new Error(`${galera.nodeName} (${privateIp}) is not among its cluster's nodes`);
    return {
        GALERA_NODE_NAME: galera.nodeName,
        GALERA_PEERS: galera.nodeAddresses.filter((a) => a !== privateIp).join(" "),
        GALERA_BOOTSTRAP: galera.bootstrap ? "yes" : "no",
        // A new cluster's nodes join one after another, in node order: at most one snapshot transfer at a time.
        GALERA_JOIN_AFTER: String(index),
        GALERA_CHECK_PORT: String(galeraPorts.healthCheck),
        GALERA_CHECK_USER: galeraCheckUser,
        GALERA_SST_CONFIG: galeraSstConfigPath,
    };
}

/**
 * Starts MariaDB into its cluster at boot in place of mariadb.service (which stays the unit that runs it, and
 * restarts it after a crash): the wrapper joins a synced peer, or bootstraps where that is safe.
 */
export function renderGaleraStartUnit(): string {
    return [
        "[Unit]",
        "Description=foobar: start MariaDB into its Galera cluster (join a synced node, or bootstrap where that is safe)",
        "After=network-online.target local-fs.target",
        "Wants=network-online.target",
        // It reads the data directory (grastate.dat) to decide whether to bootstrap: never the root disk's copy.
        `RequiresMountsFor=${dataDirectory}`,
        "",
        "[Service]",
        "Type=oneshot",
        "RemainAfterExit=yes",
        "ExecStart=/usr/local/sbin/foobar-galera-start",
        // A joiner may copy the whole data set (a snapshot transfer) before MariaDB reports it started.
        "TimeoutStartSec=30min",
        "",
        "[Install]",
        "WantedBy=multi-user.target",
        "",
    ].join("\n");
}

/** The health check's listener: one short-lived check process per connection, nothing running in between. */
export function renderGaleraCheckSocket(): string {
    return [
        "[Unit]",
        "Description=foobar: Galera health check for the web servers' HAProxy (port " + galeraPorts.healthCheck + ")",
        "",
        "[Socket]",
        `ListenStream=${galeraPorts.healthCheck}`,
        "Accept=yes",
        "MaxConnections=64",
        "",
        "[Install]",
        "WantedBy=sockets.target",
        "",
    ].join("\n");
}

export function renderGaleraCheckService(): string {
    return [
        "[Unit]",
        "Description=foobar: answer one Galera health check",
        "",
        "[Service]",
        // Logs in over the socket as the MariaDB account of the same name (unix_socket, no privileges: SHOW STATUS).
        `User=${galeraCheckUser}`,
        "ExecStart=/usr/local/sbin/foobar-galera-check",
        "StandardInput=socket",
        "StandardOutput=socket",
        "StandardError=journal",
        "RuntimeMaxSec=5",
        "NoNewPrivileges=true",
        "PrivateTmp=true",
        "ProtectSystem=strict",
        "ProtectHome=true",
        "",
    ].join("\n");
}

/** How often, and after how long a server's start, the liveness check looks (galera-liveness.sh). */
export const galeraLiveness = { intervalSeconds: 10, graceSeconds: 20 } as const;

/**
 * Restarts MariaDB when it runs outside its cluster for good (Galera closed its group connection after an error it
 * cannot recover from in process); a timer runs it, so an instance needs no daemon of its own for it.
 */
export function renderGaleraLivenessService(): string {
    return [
        "[Unit]",
        "Description=foobar: restart MariaDB when it runs outside its Galera cluster for good",
        "",
        "[Service]",
        "Type=oneshot",
        `ExecStart=/usr/local/sbin/foobar-galera-liveness ${galeraLiveness.graceSeconds}`,
        "",
    ].join("\n");
}

export function renderGaleraLivenessTimer(): string {
    return [
        "[Unit]",
        `Description=foobar: check every ${galeraLiveness.intervalSeconds} s that MariaDB is in its Galera cluster`,
        "",
        "[Timer]",
        `OnActiveSec=${galeraLiveness.intervalSeconds}s`,
        `OnUnitActiveSec=${galeraLiveness.intervalSeconds}s`,
        "AccuracySec=1s",
        "",
        "[Install]",
        "WantedBy=timers.target",
        "",
    ].join("\n");
}

function galeraFiles(): WriteFile[] {
    const file = (path: string, content: string, permissions = "0644"): WriteFile => ({ path, content, permissions, defer: true });
    return [
        file("/usr/local/sbin/foobar-galera-setup", bundledFile("scripts/galera-setup.sh"), "0755"),
        file("/usr/local/sbin/foobar-galera-start", bundledFile("scripts/galera-start.sh"), "0755"),
        file("/usr/local/sbin/foobar-galera-check", bundledFile("scripts/galera-check.sh"), "0755"),
        file("/usr/local/sbin/foobar-galera-liveness", bundledFile("scripts/galera-liveness.sh"), "0755"),
        file("/etc/systemd/system/foobar-galera.service", renderGaleraStartUnit()),
        file("/etc/systemd/system/foobar-galera-check.socket", renderGaleraCheckSocket()),
        file("/etc/systemd/system/foobar-galera-check@.service", renderGaleraCheckService()),
        file("/etc/systemd/system/foobar-galera-liveness.service", renderGaleraLivenessService()),
        file("/etc/systemd/system/foobar-galera-liveness.timer", renderGaleraLivenessTimer()),
    ];
}
