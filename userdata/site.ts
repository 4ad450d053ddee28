/**
 * What each instance of the site is told, as plain values derived from the
 * stack config and its topology plan. The Pulumi components (target `aws`)
 * and the local cloud (target `local`) both render from these, so the two can
 * only differ where the target says they do.
 */
import { intToIp, parseCidr, StackConfig } from "../config";
import { allInstances, InstancePlan, TopologyPlan } from "../topology";
import { DatabaseServerSettings, renderDatabaseUserData } from "./database";
import { VrrpSettings } from "./keepalived";
import { LoadBalancerSettings, renderHaproxyConfig, renderLoadBalancerUserData } from "./loadBalancer";
import { MonitoringServerSettings, renderMonitoringUserData } from "./monitoring";
import { Target } from "./target";
import { renderWebServerUserData, WebServerSettings } from "./webServer";

export const databaseName = "foobar";
export const appUser = "app";
export const replicationUser = "repl";
export const exporterUser = "exporter";

/** SSM parameter names, by convention from the stack name. */
export function parameterNames(stack: string) {
    return {
        appPassword: `/foobar/${stack}/db/app-password`,
        replicationPassword: `/foobar/${stack}/db/replication-password`,
        tlsPem: `/foobar/${stack}/lb/tls-pem`,
        /** Not a secret: the HAProxy configuration the load balancer installs (a String parameter). */
        lbConfig: `/foobar/${stack}/lb/haproxy-cfg`,
        exporterPassword: `/foobar/${stack}/db/exporter-password`,
        /** The load-balancer pair's VRRP password. */
        vrrpPassword: `/foobar/${stack}/lb/vrrp-password`,
    };
}

/**
 * A CIDR block as a MariaDB account host: `ip/netmask` matches every client
 * whose address ANDed with the netmask is the ip ("Account Names",
 * https://mariadb.com/kb/en/create-user/); a single address stays plain.
 */
export function mariadbHost(cidr: string): string {
    const { base, prefix } = parseCidr("grant", cidr, 0, 32);
    if (prefix === 32) return intToIp(base);
    return `${intToIp(base)}/${intToIp((~0 << (32 - prefix)) >>> 0)}`;
}

export interface SiteSettings {
    lb: LoadBalancerSettings;
    /** A load-balancer pair: each one's VRRP settings, by instance name. */
    vrrp?: Record<string, VrrpSettings>;
    web: WebServerSettings;
    /** By instance name, the primary first. */
    db: Record<string, DatabaseServerSettings>;
    /** The monitoring instance, when monitoring is on. */
    monitoring?: MonitoringServerSettings;
}

export function siteSettings(config: StackConfig, plan: TopologyPlan): SiteSettings {
    const names = parameterNames(config.stack);
    const siteName = config.domain ? `www.${config.domain}` : "www.foobar.com";
    const https = config.https !== "none";
    const db: SiteSettings["db"] = {};
    const dbServers = [plan.dbPrimary, ...plan.dbReplicas];
    const galera = config.database === "galera";
    for (const server of dbServers) {
        db[server.name] = {
            role: galera ? "galera" : server.role === "db-primary" ? "primary" : "replica",
            privateIp: server.privateIp,
            writerHost: plan.endpoints.writer,
            dbName: databaseName,
            appUser,
            // The blocks, not today's servers: a web server or replica added later can log in, and the
            // database's user-data (which it reads once, at its first boot) never changes with the counts.
            appHosts: plan.grants.web.map(mariadbHost),
            replicationUser,
            // Galera nodes need no replication login from elsewhere: the snapshot transfer's login is local to the donor.
            replicaHosts: galera ? [] : plan.grants.replicas.map(mariadbHost),
            appPasswordParameter: names.appPassword,
            replicationPasswordParameter: names.replicationPassword,
            ...(config.monitoring ? { exporter: { user: exporterUser, passwordParameter: names.exporterPassword } } : {}),
            ...(galera
                ? {
                      galera: {
                          clusterName: `foobar-${config.stack}`,
                          nodeName: server.name,
                          nodeAddresses: dbServers.map((s) => s.privateIp),
                          bootstrap: server === plan.dbPrimary,
                      },
                  }
                : {}),
        };
    }
    const [first, second] = plan.lbs;
    // lb-1 wins a tie and lb-2 starts late: after both start together, lb-1 alone becomes master (userdata/keepalived.ts).
    const vrrp =
        second === undefined
            ? undefined
            : {
                  [first.name]: {
                      self: first.privateIp,
                      peer: second.privateIp,
                      priority: 250,
                      startupDelaySeconds: 0,
                      passwordParameter: names.vrrpPassword,
                  },
                  [second.name]: {
                      self: second.privateIp,
                      peer: first.privateIp,
                      priority: 240,
                      startupDelaySeconds: 5,
                      passwordParameter: names.vrrpPassword,
                  },
              };
    return {
        ...(vrrp ? { vrrp } : {}),
        lb: {
            algorithm: config.lbAlgorithm,
            backends: plan.web.map((w) => ({
                name: w.name,
                address: w.privateIp,
                ...(plan.webSpares.includes(w.name) ? { backup: true } : {}),
            })),
            https,
            siteName,
            tlsParameter: https ? names.tlsPem : undefined,
            configParameter: names.lbConfig,
            monitoring: config.monitoring,
        },
        web: {
            siteName,
            dbWriterHost: plan.endpoints.writer,
            dbReaderHost: plan.endpoints.reader,
            dbName: databaseName,
            dbUser: appUser,
            appPasswordParameter: names.appPassword,
            monitoring: config.monitoring,
            ...(galera ? { galeraNodes: dbServers.map((s) => ({ name: s.name, address: s.privateIp })) } : {}),
        },
        db,
        ...(plan.monitoring
            ? {
                  monitoring: {
                      stack: config.stack,
                      name: plan.monitoring.name,
                      instances: allInstances(plan).map(({ name, role, privateIp }) => ({ name, role, privateIp })),
                  },
              }
            : {}),
    };
}

/** The user-data of one instance of the plan, for a target; the monitoring instance also needs the site's public URL. */
export function renderInstanceUserData(settings: SiteSettings, instance: InstancePlan, target: Target, publicUrl?: string): string {
    switch (instance.role) {
        case "monitoring":
            if (!settings.monitoring || publicUrl === undefined)
                throw new Error(`${instance.name} needs monitoring settings and the public URL`);
            return renderMonitoringUserData({ ...settings.monitoring, publicUrl, target });
        case "lb":
            return renderLoadBalancerUserData({ ...settings.lb, vrrp: settings.vrrp?.[instance.name], target });
        case "web":
            return renderWebServerUserData({ ...settings.web, target });
        default:
            return renderDatabaseUserData({ ...settings.db[instance.name], target });
    }
}

/**
 * The values the deploy publishes for instances to read at run time, by
 * parameter name: the HAProxy configuration. The AWS stack holds them in SSM
 * (components/loadBalancer.ts); the local cloud writes them where the
 * `local` target's fetcher reads parameters.
 */
export function siteParameters(settings: SiteSettings): Record<string, string> {
    return { [settings.lb.configParameter]: renderHaproxyConfig(settings.lb) };
}
