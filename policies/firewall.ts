/**
 * The seeds' "no firewall": servers exposed directly to the internet. Each
 * tier should be reachable only from the tier in front of it, and nothing but
 * the load balancer from the internet.
 */
import { PolicyResource } from "@pulumi/policy";
import type { Role, TierRole } from "../roles";
import { coversPort, describePorts, groupsOpenedBy, IngressRule, ingressOf, isWorld, onlyPorts, Source } from "./lib/ingress";
import { gaps, list, resourcePolicy, stackPolicy } from "./lib/policy";
import { roleOf, StackGraph, types } from "./lib/resources";
import { known, knownBool, knownString, need, Undecidable, unknown } from "./lib/unknowns";

const ports = (description: string, defaults: number[]) => ({
    type: "array" as const,
    items: { type: "integer" as const },
    default: defaults,
    description,
});
const roles = (description: string, defaults: TierRole[]) => ({
    type: "array" as const,
    items: { type: "string" as const },
    default: defaults,
    description,
});

const closeWithStrict = "Set `firewall` to `strict` (`pulumi config set firewall strict`)";

/** Ingress rules grouped by the resource that declares them, so each resource gets one finding. */
function byDeclarer(stack: StackGraph): [PolicyResource, IngressRule[]][] {
    return stack.resources.map((r) => [r, ingressOf(r)] as [PolicyResource, IngressRule[]]).filter(([, rules]) => rules.length > 0);
}

const subsetOf = (have: Set<string>, allowed: readonly string[]) => have.size > 0 && [...have].every((r) => allowed.includes(r));

/** The tiers the given groups serve, as text: " (web tier)". */
function tiersText(stack: StackGraph, groups: PolicyResource[]): string {
    const tiers = [...new Set(groups.flatMap((g) => [...stack.rolesOf(g)]))];
    return tiers.length > 0 ? ` (${list(tiers)} tier)` : "";
}

function describeSource(stack: StackGraph, rule: IngressRule, s: Source): string {
    switch (s.kind) {
        case "cidr":
            return s.cidr;
        case "self":
            return "its own members";
        case "prefix-list":
            return `prefix list ${s.id === unknown ? "(unknown)" : s.id}`;
        case "group": {
            const targets = stack.targets(rule.declaredBy, s.prop, s.ref, stack.ofType(types.securityGroup));
            if (targets !== unknown && targets.length > 0) return `security group ${list(targets.map((t) => t.name))}`;
            return `security group ${s.ref === unknown ? "(unknown)" : s.ref} outside this stack`;
        }
        default:
            return "an unknown source";
    }
}

/**
 * Whether a source is a security group of the allowed tiers (or the group
 * itself, when `self` is allowed). Undecidable when an unknown reference may
 * point at both allowed and other groups.
 */
function sourceAllowed(stack: StackGraph, rule: IngressRule, s: Source, allowedRoles: readonly string[], allowSelf: boolean): boolean {
    if (s.kind === "self") return allowSelf;
    if (s.kind === "unknown") throw new Undecidable();
    // An address (/32) is allowed when it is an instance of an allowed tier: the monitoring instance scraping exporters.
    if (s.kind === "cidr")
        return stack.ofType(types.instance).some((i) => allowedRoles.includes(String(roleOf(i))) && addressOf(i) === s.cidr);
    if (s.kind !== "group") return false;
    const targets = need(stack.targets(rule.declaredBy, s.prop, s.ref, stack.ofType(types.securityGroup)));
    const ok = targets.map((t) => subsetOf(stack.rolesOf(t), allowedRoles));
    if (ok.length > 0 && ok.every(Boolean)) return true;
    if (s.ref === unknown && ok.some(Boolean)) throw new Undecidable();
    return false;
}

/** An instance's fixed private address as a /32, when known. */
function addressOf(instance: PolicyResource): string | undefined {
    const ip = knownString(() => instance.props.privateIp);
    return typeof ip === "string" ? `${ip}/32` : undefined;
}

/**
 * Findings about rules that open a `tier`'s groups on `covered` ports to
 * sources other than the allowed ones; one report per declaring resource.
 */
function onlyFrom(
    stack: StackGraph,
    report: (r: PolicyResource, findings: string[]) => void,
    tier: TierRole,
    covered: (p: { protocol: string; from: number; to: number }) => boolean,
    allowedRoles: readonly Role[],
    allowSelf: boolean,
) {
    for (const [declaredBy, rules] of byDeclarer(stack)) {
        const findings = rules.flatMap((rule) => {
            const finding = known(() => {
                const opened = need(groupsOpenedBy(stack, rule));
                const p = need(rule.ports);
                if (!opened.some((g) => stack.rolesOf(g).has(tier)) || !covered(p)) return undefined;
                const bad = rule.sources.filter((s) => !sourceAllowed(stack, rule, s, allowedRoles, allowSelf));
                return bad.length > 0 ? `${describePorts(p)} from ${list(bad.map((s) => describeSource(stack, rule, s)))}` : undefined;
            });
            return typeof finding === "string" ? [finding] : [];
        });
        if (findings.length > 0) report(declaredBy, findings);
    }
}

export const noWorldIngress = stackPolicy<{ allowedPorts: number[]; publicRoles: TierRole[] }>(
    {
        name: "firewall-no-world-ingress",
        description: "Nothing is open to the internet (0.0.0.0/0 or ::/0) except HTTP and HTTPS to the load balancer.",
        severity: "critical",
        gap: gaps.firewall,
        remediationSteps: `${closeWithStrict}: web and database servers then move to private subnets and accept traffic only from the tier in front of them. A group that is meant to be public can be exempted by name (\`exempt: ["lb-sg"]\`).`,
        config: {
            allowedPorts: ports("TCP ports the public tiers may open to the internet.", [80, 443]),
            publicRoles: roles("Tiers (Role tag) that may take traffic from the internet.", ["lb"]),
        },
    },
    (stack, ctx) => {
        for (const [declaredBy, rules] of byDeclarer(stack)) {
            const findings = rules.flatMap((rule) => {
                const world = rule.sources.filter(isWorld);
                if (world.length === 0) return [];
                const finding = known(() => {
                    const p = need(rule.ports);
                    const opened = need(groupsOpenedBy(stack, rule));
                    const allowed =
                        opened.length > 0 &&
                        opened.every((g) => subsetOf(stack.rolesOf(g), ctx.config.publicRoles)) &&
                        onlyPorts(p, ctx.config.allowedPorts);
                    return allowed
                        ? undefined
                        : `${describePorts(p)}${tiersText(stack, opened)} to ${list(world.map((s) => describeSource(stack, rule, s)))}`;
                });
                return typeof finding === "string" ? [finding] : [];
            });
            if (findings.length > 0) {
                ctx.report(
                    declaredBy,
                    `${declaredBy.name} opens ${findings.join("; ")}: only the ${list(ctx.config.publicRoles)} tier may take traffic from the internet, on ports ${list(ctx.config.allowedPorts.map(String))}.`,
                );
            }
        }
    },
);

export const webFromLoadBalancerOnly = stackPolicy<{ adminPorts: number[] }>(
    {
        name: "firewall-web-from-load-balancer-only",
        description:
            "Web servers accept application traffic only from the load balancer's security group (and the monitoring instance's address, which scrapes their exporters).",
        severity: "high",
        gap: gaps.firewall,
        remediationSteps: `${closeWithStrict}: the web tier's group then allows HTTP only from the load balancer's group.`,
        config: { adminPorts: ports("Ports left to firewall-admin-ports-closed (SSH, RDP).", [22, 3389]) },
    },
    (stack, ctx) => {
        const app = (p: { protocol: string; from: number; to: number }) => !onlyPorts(p, ctx.config.adminPorts);
        onlyFrom(
            stack,
            (r, findings) =>
                ctx.report(r, `${r.name} lets ${findings.join("; ")} reach the web tier: only the load balancer's security group should.`),
            "web",
            app,
            ["lb", "monitoring"],
            false,
        );
    },
);

export const databaseFromWebOnly = stackPolicy<{ databasePorts: number[] }>(
    {
        name: "firewall-database-from-web-only",
        description: "The database port is open only to the web tier and to the database servers' replication peers.",
        severity: "critical",
        gap: gaps.firewall,
        remediationSteps: `${closeWithStrict}: the database group then allows MySQL only from the web tier's group and from itself (replication).`,
        config: { databasePorts: ports("The database's ports (MySQL/MariaDB: 3306).", [3306]) },
    },
    (stack, ctx) => {
        const db = (p: { protocol: string; from: number; to: number }) => ctx.config.databasePorts.some((port) => coversPort(p, port));
        onlyFrom(
            stack,
            (r, findings) =>
                ctx.report(
                    r,
                    `${r.name} lets ${findings.join("; ")} reach the database: only the web tier and the replication peers should.`,
                ),
            "db",
            db,
            ["web", "db"],
            true,
        );
    },
);

export const noPublicIp = stackPolicy<{ privateRoles: TierRole[] }>(
    {
        name: "firewall-no-public-ip",
        description: "Web and database servers have no public IP address: they are reached only through the load balancer.",
        severity: "high",
        gap: gaps.firewall,
        remediationSteps: `${closeWithStrict}: web and database servers then run in private subnets without public addresses, reaching the internet through a NAT gateway.`,
        config: { privateRoles: roles("Tiers (Role tag) that must not be directly reachable.", ["web", "db"]) },
    },
    (stack, ctx) => {
        const eips = stack.ofType(types.eip, types.eipAssociation);
        for (const role of ctx.config.privateRoles) {
            for (const instance of stack.instancesWithRole(role)) {
                ctx.judge(() => {
                    const reasons: string[] = [];
                    const associate = need(knownBool(() => instance.props.associatePublicIpAddress));
                    if (associate === true) reasons.push("associatePublicIpAddress is true");
                    for (const eip of eips) {
                        const prop = eip.type === types.eip ? "instance" : "instanceId";
                        if (
                            stack.pointsAt(
                                eip,
                                prop,
                                knownString(() => eip.props[prop]),
                                instance,
                            )
                        )
                            reasons.push(`Elastic IP ${eip.name} is attached to it`);
                    }
                    if (associate === undefined) {
                        const subnet = need(stack.subnetOf(instance));
                        if (subnet && need(knownBool(() => subnet.props.mapPublicIpOnLaunch)) === true) {
                            reasons.push(`its subnet ${subnet.name} gives every instance a public IP`);
                        }
                    }
                    if (reasons.length > 0) {
                        ctx.report(instance, `${instance.name} (${role} tier) is reachable from the internet: ${reasons.join("; ")}.`);
                    }
                });
            }
        }
    },
);

export const adminPortsClosed = resourcePolicy<{ adminPorts: number[] }>(
    {
        name: "firewall-admin-ports-closed",
        description: "Administration ports (SSH, RDP) are never open to the internet.",
        severity: "critical",
        gap: gaps.firewall,
        remediationSteps:
            "Set `adminCidr` to your administration network (`pulumi config set adminCidr 198.51.100.0/24`): SSH then opens only to it. Leave it unset to keep SSH closed; Session Manager needs no open port.",
        config: { adminPorts: ports("Ports that must never be open to the internet.", [22, 3389]) },
    },
    [types.securityGroup, types.securityGroupRule, types.ingressRule],
    (r, ctx) => {
        const findings = ingressOf(r).flatMap((rule) => {
            const world = rule.sources.filter(isWorld);
            const p = rule.ports;
            if (world.length === 0 || p === unknown) return [];
            const open = ctx.config.adminPorts.filter((port) => coversPort(p, port));
            return open.length > 0
                ? [`${list(open.map(String))} (${describePorts(p)}) to ${list(world.map((s) => (s.kind === "cidr" ? s.cidr : "")))}`]
                : [];
        });
        if (findings.length > 0)
            ctx.report(
                r,
                `${r.name} opens administration ports to the internet: ${findings.join("; ")}. Only the admin network should reach them.`,
            );
    },
);

export const firewallPolicies = [noWorldIngress, webFromLoadBalancerOnly, databaseFromWebOnly, noPublicIp, adminPortsClosed];
