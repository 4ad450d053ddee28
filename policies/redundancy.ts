/**
 * Single points of failure: the seeds' "if the load balancer fails, the
 * whole site is down" and "if the primary fails, no writes are possible",
 * and the web tier the design doubled to avoid one.
 */
import { PolicyResource } from "@pulumi/policy";
import type { TierRole } from "../roles";
import { haproxyConfigOf, serversOf } from "./lib/haproxy";
import { coversPort, groupsOpenedBy, ingressOf } from "./lib/ingress";
import { gaps, list, stackPolicy } from "./lib/policy";
import { roleOf, StackGraph, types } from "./lib/resources";
import { anyOf, Known, knownBool, knownList, knownString, need, Undecidable, unknown } from "./lib/unknowns";
import { cloudConfigOf, settingOf } from "./lib/userData";

const failoverPackages = (description: string, defaults: string[]) => ({
    failoverPackages: { type: "array" as const, items: { type: "string" as const }, default: defaults, description },
});

/** The instances of a tier; counting them is the point, so undecidable while any instance's tier is unknown. */
function tier(stack: StackGraph, role: TierRole): PolicyResource[] {
    if (stack.ofType(types.instance).some((i) => roleOf(i) === unknown)) throw new Undecidable();
    return stack.instancesWithRole(role);
}

/** Distinct zones of the instances; undecidable when any zone is unknown. */
function zones(stack: StackGraph, instances: PolicyResource[]): Set<string> {
    return new Set(instances.map((i) => need(stack.zoneOf(i))));
}

/** True when every instance's cloud-config installs one of `packages`. */
function allInstall(instances: PolicyResource[], packages: string[]): boolean {
    return instances.every((i) => need(cloudConfigOf(i))?.packages.some((p) => packages.includes(p)) ?? false);
}

/** A managed AWS load balancer spreads itself over the subnets it is given. */
function managedLoadBalancerSpansZones(lb: PolicyResource): Known<boolean> {
    return anyOf(
        ["subnets", "subnetMappings", "availabilityZones"].map((prop) => {
            const placed = knownList(() => lb.props[prop]);
            return placed === unknown ? unknown : placed.length >= 2;
        }),
    );
}

/** DNS failover: Route 53 records that move traffic when a health check fails. */
function dnsFailover(stack: StackGraph): Known<boolean> {
    return anyOf(
        stack.ofType(types.route53Record).map((r) => {
            const failover = knownList(() => r.props.failoverRoutingPolicies);
            return failover === unknown ? unknown : failover.length > 0;
        }),
    );
}

/** VRRP, the protocol keepalived speaks: IP protocol 112 (RFC 5798). */
const vrrpProtocols = ["112", "vrrp"];

/**
 * Whether every load balancer's security groups let the others' VRRP adverts in: an ingress rule for protocol 112
 * (or all traffic) from the group itself, from a group another load balancer has, or from a CIDR. Without it each
 * hears nobody and becomes master: both claim the address.
 */
function vrrpAllowed(stack: StackGraph, lbs: PolicyResource[]): boolean {
    const lbGroups = lbs.map((lb) => need(stack.securityGroupsOf(lb)));
    const peersGroups = (i: number) =>
        new Set(
            lbGroups
                .filter((_, j) => j !== i)
                .flat()
                .map((g) => g.urn),
        );
    return lbGroups.every((groups, i) =>
        stack.resources
            .flatMap((r) => ingressOf(r))
            .some((rule) => {
                const opened = need(groupsOpenedBy(stack, rule));
                if (!opened.some((g) => groups.some((own) => own.urn === g.urn))) return false;
                const ports = need(rule.ports);
                if (!vrrpProtocols.includes(String(ports.protocol).toLowerCase()) && !coversPort(ports, 0, "all")) return false;
                return rule.sources.some((source) => {
                    if (source.kind === "self" || source.kind === "cidr") return true;
                    if (source.kind !== "group") return false;
                    const from = need(stack.targets(rule.declaredBy, source.prop, source.ref, stack.ofType(types.securityGroup)));
                    return from.some((g) => peersGroups(i).has(g.urn) || groups.some((own) => own.urn === g.urn));
                });
            }),
    );
}

/** The IAM policy documents of the role behind an instance's instance profile. */
function instancePolicies(stack: StackGraph, instance: PolicyResource): { Statement?: unknown }[] {
    const profiles = need(
        stack.targets(
            instance,
            "iamInstanceProfile",
            knownString(() => instance.props.iamInstanceProfile),
            stack.ofType(types.instanceProfile),
        ),
    );
    const roles = profiles.flatMap((p) =>
        need(
            stack.targets(
                p,
                "role",
                knownString(() => p.props.role),
                stack.ofType(types.iamRole),
            ),
        ),
    );
    return stack
        .ofType(types.rolePolicy)
        .filter((rp) =>
            roles.some((role) =>
                stack.pointsAt(
                    rp,
                    "role",
                    knownString(() => rp.props.role),
                    role,
                ),
            ),
        )
        .map((rp) => {
            const text = need(knownString(() => rp.props.policy));
            return text === undefined ? {} : (JSON.parse(text) as { Statement?: unknown });
        });
}

/** Whether an instance's role may associate an Elastic IP (what a notify script that moves the address calls). */
function mayMoveElasticIp(stack: StackGraph, instance: PolicyResource): boolean {
    const asList = (v: unknown): unknown[] => (Array.isArray(v) ? v : v === undefined ? [] : [v]);
    return instancePolicies(stack, instance).some((doc) =>
        asList(doc.Statement).some((st) => {
            const statement = st as { Effect?: string; Action?: unknown; Resource?: unknown };
            const actions = asList(statement.Action).map(String);
            const resources = asList(statement.Resource).map(String);
            return (
                statement.Effect === "Allow" &&
                actions.some((a) => a === "ec2:AssociateAddress" || a === "ec2:*" || a === "*") &&
                resources.some((r) => r === "*" || /:elastic-ip\//.test(r))
            );
        }),
    );
}

export const loadBalancerRedundancy = stackPolicy<{ failoverPackages: string[] }>(
    {
        name: "redundancy-load-balancer",
        description:
            "The load balancer is not a single point of failure: at least two load-balancer instances in different availability zones, with a way to move traffic between them.",
        severity: "high",
        gap: gaps.spof,
        remediationSteps:
            "Set `lbCount: 2`: a second HAProxy instance in another availability zone, with keepalived moving the Elastic IP to the one that is up " +
            "(the VRRP rule between them and the permission to associate the address come with it). " +
            "Route 53 failover records with health checks, or a managed AWS load balancer over two subnets, count too.",
        config: failoverPackages("Packages that, installed on every load balancer, move traffic between them (a floating IP).", [
            "keepalived",
        ]),
    },
    (stack, ctx) => {
        if (need(anyOf(stack.ofType(...types.managedLoadBalancers).map(managedLoadBalancerSpansZones)))) return;
        const lbs = tier(stack, "lb");
        if (lbs.length === 0) {
            ctx.report(
                undefined,
                "The stack has no load balancer: no instance tagged Role=lb and no managed AWS load balancer over two subnets.",
            );
            return;
        }
        if (lbs.length === 1) {
            ctx.report(lbs[0], `${lbs[0].name} is the only load balancer: when it fails, the whole site is down.`);
            return;
        }
        ctx.judge(() => {
            const names = list(lbs.map((l) => l.name));
            const inZones = zones(stack, lbs);
            let problem: string | undefined;
            if (inZones.size < 2) problem = `${names} all run in ${[...inZones][0]}: one zone outage takes the site down.`;
            else if (need(dnsFailover(stack))) problem = undefined;
            else if (!allInstall(lbs, ctx.config.failoverPackages)) {
                problem = `${names} have no way to move traffic between them (no ${list(ctx.config.failoverPackages, "or")} on every load balancer, no Route 53 failover records): clients of a failed one stay failed.`;
            } else if (!vrrpAllowed(stack, lbs)) {
                problem = `${names} run ${list(ctx.config.failoverPackages, "or")}, but their security groups drop VRRP (IP protocol 112) between them: each becomes master and both claim the address.`;
            } else {
                const stuck = lbs.filter((lb) => !mayMoveElasticIp(stack, lb));
                if (stuck.length > 0 && stack.ofType(types.eip).length > 0) {
                    problem = `${list(stuck.map((l) => l.name))} may not associate the Elastic IP (no ec2:AssociateAddress on an elastic-ip in its instance role): the address cannot follow a failover.`;
                }
            }
            if (problem) for (const lb of lbs) ctx.report(lb, problem);
        });
    },
);

export const databaseWriteFailover = stackPolicy<{ failoverPackages: string[] }>(
    {
        name: "redundancy-database-write-failover",
        description:
            "Writes survive the loss of the database primary: a failover path promotes another server in another availability zone.",
        severity: "high",
        gap: gaps.spof,
        remediationSteps:
            "Set `database: galera` (`pulumi config set database galera`, and remove replicaCount): a MariaDB Galera cluster of three (or five, `dbNodeCount`) nodes over the availability zones, which keeps taking writes when a node fails. " +
            "Other failover paths pass too: a failover manager (orchestrator, MaxScale, Pacemaker, keepalived with a promotion script) on every database server over two availability zones, or a Multi-AZ RDS/Aurora database. " +
            '`replicaCount` only adds read replicas: a replica is not promoted when the primary fails. To accept the risk on a stack instead, `exempt: ["db-primary"]`.',
        config: failoverPackages("Packages that, installed on every database server, promote a replica or form a multi-writer cluster.", [
            "orchestrator",
            "maxscale",
            "pacemaker",
            "keepalived",
            "galera-4",
        ]),
    },
    (stack, ctx) => {
        for (const rds of stack.ofType(types.rdsInstance)) {
            ctx.judge(() => {
                // Aurora instances fail over within their cluster.
                const cluster = need(knownString(() => rds.props.clusterIdentifier));
                if (cluster === undefined && need(knownBool(() => rds.props.multiAz)) !== true) {
                    ctx.report(rds, `${rds.name} is a single-AZ RDS instance: when it fails, writes stop (set multiAz).`);
                }
            });
        }
        const servers = tier(stack, "db");
        if (servers.length === 0) return;
        ctx.judge(() => {
            const configs = servers.map((s) => need(cloudConfigOf(s)));
            // The program writes each server's role to its settings; a server without one is a standalone writer.
            const writers = servers.filter((_, k) => (configs[k] ? settingOf(configs[k], "DB_ROLE") : undefined) !== "replica");
            const reasons: string[] = [];
            if (servers.length < 2) reasons.push("There is no other database server to take over.");
            else if (zones(stack, servers).size < 2) reasons.push("Every database server runs in the same availability zone.");
            const galera = configs.some((c) => c && (settingOf(c, "DB_ROLE") === "galera" || c.packages.includes("galera-4")));
            // A Galera cluster serves while a majority of its nodes answer: with two, the survivor of a failure has none.
            if (galera && servers.length < 3) {
                reasons.push(
                    `A Galera cluster of ${servers.length} node${servers.length === 1 ? "" : "s"} stops taking writes when a node fails (no majority survives): it needs at least three.`,
                );
            }
            if (servers.length >= 2 && !allInstall(servers, ctx.config.failoverPackages)) {
                const replicas = servers.filter((s) => !writers.includes(s)).map((s) => s.name);
                reasons.push(
                    `Nothing promotes ${replicas.length > 0 ? list(replicas) : "another server"}: the database servers run no failover manager or cluster (${list(ctx.config.failoverPackages, "or")}).`,
                );
            }
            if (reasons.length === 0) return;
            for (const w of writers) {
                const role = writers.length === 1 ? "the only writer" : `one of ${writers.length} writers`;
                ctx.report(w, `${w.name} is ${role}: when it fails, writes stop. ${reasons.join(" ")}`);
            }
        });
    },
);

/** Where the load balancer's cloud-config writes HAProxy's configuration (else it names a parameter holding it). */
const haproxyConfigPath = {
    haproxyConfigPath: {
        type: "string" as const,
        default: "/etc/haproxy/haproxy.cfg",
        description: "Where the load balancer's cloud-config writes HAProxy's configuration.",
    },
};

/**
 * The web servers that are hot spares: those every load balancer's `backend web` lists only as `backup` servers (by
 * private address). Empty when no load balancer shows a configuration, or none has a backup (active-active).
 */
function webSpares(stack: StackGraph, web: PolicyResource[], configPath: string): PolicyResource[] {
    const backends = tier(stack, "lb").flatMap((lb) =>
        (haproxyConfigOf(lb, stack, configPath) ?? []).filter((s) => s.kind === "backend" && s.name === "web"),
    );
    const servers = backends.flatMap(serversOf);
    return web.filter((w) => {
        const ip = need(knownString(() => w.props.privateIp));
        const lines = servers.filter((s) => s.host === ip);
        return lines.length > 0 && lines.every((s) => s.backup);
    });
}

export const webTierRedundancy = stackPolicy<{ haproxyConfigPath: string }>(
    {
        name: "redundancy-web-tier",
        description:
            "The web tier survives losing a server or a zone: at least two web instances, in at least two availability zones; with hot spares (active-passive), a spare outside the serving servers' zone.",
        severity: "high",
        gap: gaps.spof,
        remediationSteps:
            "Set `webCount` to 2 or more (`pulumi config set webCount 2`); the program alternates web servers between two availability zones, so with `webMode: active-passive` web-2, the first spare, is in the other zone than web-1.",
        config: haproxyConfigPath,
    },
    (stack, ctx) => {
        const web = tier(stack, "web");
        if (web.length === 0) {
            ctx.report(undefined, "The stack has no web server: no instance tagged Role=web.");
        } else if (web.length === 1) {
            ctx.report(web[0], `${web[0].name} is the only web server: when it fails, the site is down.`);
        } else {
            ctx.judge(() => {
                const inZones = zones(stack, web);
                if (inZones.size >= 2) return;
                // HAProxy sends a backup server traffic once no other is up: a spare counts as a server here, and one
                // outside the zone is all it takes (the zone check above), so active-passive passes as active-active does.
                const spares = webSpares(stack, web, ctx.config.haproxyConfigPath);
                const active = web.filter((w) => !spares.includes(w));
                const problem =
                    spares.length > 0
                        ? `${list(active.map((x) => x.name))} and ${spares.length === 1 ? "its spare" : "their spares"} ${list(spares.map((x) => x.name))} all run in ${[...inZones][0]}: one zone outage takes the site down; a spare belongs in another zone.`
                        : `${list(web.map((x) => x.name))} all run in ${[...inZones][0]}: one zone outage takes the site down.`;
                for (const w of web) ctx.report(w, problem);
            });
        }
    },
);

export const webSpareZone = stackPolicy<{ haproxyConfigPath: string }>(
    {
        name: "redundancy-web-spare-zone",
        description:
            "With hot spares (active-passive), a spare does not share the zone that holds every serving web server: that zone's outage takes the spare with them.",
        severity: "low",
        gap: gaps.spof,
        remediationSteps:
            "Keep the spares in the other zone: the program alternates zones (web-1 in a, web-2 in b, web-3 in a ...), so with `webActiveCount: 1` an even `webCount` of 2 leaves no spare in web-1's zone; or serve from both zones (`webActiveCount: 2`).",
        config: haproxyConfigPath,
    },
    (stack, ctx) => {
        ctx.judge(() => {
            const web = tier(stack, "web");
            const spares = webSpares(stack, web, ctx.config.haproxyConfigPath);
            const active = web.filter((w) => !spares.includes(w));
            if (spares.length === 0 || active.length === 0) return;
            const activeZones = zones(stack, active);
            if (activeZones.size !== 1) return;
            const [zone] = activeZones;
            const others = spares.filter((s) => need(stack.zoneOf(s)) !== zone).map((s) => s.name);
            for (const spare of spares.filter((s) => need(stack.zoneOf(s)) === zone)) {
                ctx.report(
                    spare,
                    `${spare.name} is a spare in ${zone}, the zone of the serving ${list(active.map((a) => a.name))}: an outage of ${zone} takes it too` +
                        (others.length > 0 ? `; ${list(others)} in another zone take over.` : ", and no spare is left to take over."),
                );
            }
        });
    },
);

export const redundancyPolicies = [loadBalancerRedundancy, databaseWriteFailover, webTierRedundancy, webSpareZone];
