/**
 * Ingress rules, wherever they are declared: inline on a security group, or
 * as standalone `ec2.SecurityGroupRule` / `vpc.SecurityGroupIngressRule`
 * resources that add to a group. Each becomes one shape: where it is
 * declared, which groups it opens, which ports, from which sources.
 */
import { PolicyResource } from "@pulumi/policy";
import { isAnywhere } from "../../anywhere";
import { Res, StackGraph, types } from "./resources";
import { known, Known, knownBool, knownList, knownString, unknown } from "./unknowns";

export type Source =
    | { kind: "cidr"; cidr: string }
    /** Another security group; `prop` is the property whose dependencies name it when the id is unknown. */
    | { kind: "group"; ref: Known<string>; prop: string }
    | { kind: "self" }
    | { kind: "prefix-list"; id: Known<string> }
    | { kind: "unknown" };

export interface Ports {
    protocol: string;
    from: number;
    to: number;
}

export interface IngressRule {
    /** The resource that declares the rule: the group itself or a standalone rule. */
    declaredBy: Res;
    /** For standalone rules, the reference to the group they open, and its property. */
    groupRef?: { ref: Known<string | undefined>; prop: string };
    ports: Known<Ports>;
    sources: Source[];
}

const allProtocols = ["-1", "all"];

/** A source too wide to be one network (0.0.0.0/0, but also 0.0.0.0/1 and 128.0.0.0/1): see anywhere.ts. */
export function isWorld(s: Source): boolean {
    return s.kind === "cidr" && isAnywhere(s.cidr);
}

export function coversPort(p: Ports, port: number, protocol = "tcp"): boolean {
    if (allProtocols.includes(p.protocol)) return true;
    const numbers: Record<string, string> = { tcp: "6", udp: "17" };
    if (p.protocol !== protocol && p.protocol !== numbers[protocol]) return false;
    return p.from <= port && port <= p.to;
}

/** True when every port the rule opens is in `allowed` (over TCP). */
export function onlyPorts(p: Ports, allowed: readonly number[]): boolean {
    if (p.protocol !== "tcp" && p.protocol !== "6") return false;
    for (let port = p.from; port <= p.to; port++) if (!allowed.includes(port)) return false;
    return true;
}

export function describePorts(p: Ports): string {
    if (allProtocols.includes(p.protocol)) return "all traffic";
    if (p.protocol === "icmp" || p.protocol === "1") return "icmp";
    return `${p.protocol}/${p.from === p.to ? p.from : `${p.from}-${p.to}`}`;
}

function ports(read: () => { protocol: unknown; from: unknown; to: unknown }): Known<Ports> {
    const p = known(read);
    if (p === unknown) return unknown;
    const protocol = String(p.protocol ?? "").toLowerCase();
    if (allProtocols.includes(protocol)) return { protocol, from: 0, to: 65535 };
    return { protocol, from: Number(p.from ?? 0), to: Number(p.to ?? p.from ?? 0) };
}

function cidrs(read: () => string[] | undefined): Source[] {
    const list = knownList(read);
    if (list === unknown) return [{ kind: "unknown" }];
    return list.map((c) => (typeof c === "string" ? { kind: "cidr", cidr: c } : { kind: "unknown" }));
}

function groups(read: () => string[] | undefined, prop: string): Source[] {
    const list = knownList(read);
    if (list === unknown) return [{ kind: "group", ref: unknown, prop }];
    return list.map((ref) => ({ kind: "group", ref, prop }) as Source);
}

function prefixLists(read: () => string[] | undefined): Source[] {
    const list = knownList(read);
    if (list === unknown) return [{ kind: "unknown" }];
    return list.map((id) => ({ kind: "prefix-list", id }) as Source);
}

function self(read: () => unknown): Source[] {
    const s = knownBool(read);
    return s === true ? [{ kind: "self" }] : s === unknown ? [{ kind: "unknown" }] : [];
}

/** The ingress rules one resource declares (none for other types). */
export function ingressOf(r: Res): IngressRule[] {
    const p = r.props;
    switch (r.type) {
        case types.securityGroup: {
            // eslint-disable-next-line @typescript-eslint/no-explicit-any -- provider inputs, read field by field below
            const rules = knownList<Record<string, any>>(() => p.ingress);
            if (rules === unknown) return [{ declaredBy: r, ports: unknown, sources: [{ kind: "unknown" }] }];
            return rules.map((rule) =>
                rule === unknown
                    ? { declaredBy: r, ports: unknown, sources: [{ kind: "unknown" }] }
                    : {
                          declaredBy: r,
                          ports: ports(() => ({ protocol: rule.protocol, from: rule.fromPort, to: rule.toPort })),
                          sources: [
                              ...cidrs(() => rule.cidrBlocks),
                              ...cidrs(() => rule.ipv6CidrBlocks),
                              ...groups(() => rule.securityGroups, "ingress"),
                              ...self(() => rule.self),
                              ...prefixLists(() => rule.prefixListIds),
                          ],
                      },
            );
        }
        case types.securityGroupRule: {
            const kind = knownString(() => p.type);
            if (kind === "egress") return [];
            const source = knownString(() => p.sourceSecurityGroupId);
            return [
                {
                    declaredBy: r,
                    groupRef: { ref: knownString(() => p.securityGroupId), prop: "securityGroupId" },
                    ports: kind === unknown ? unknown : ports(() => ({ protocol: p.protocol, from: p.fromPort, to: p.toPort })),
                    sources: [
                        ...cidrs(() => p.cidrBlocks),
                        ...cidrs(() => p.ipv6CidrBlocks),
                        ...(source === undefined ? [] : [{ kind: "group", ref: source, prop: "sourceSecurityGroupId" } as Source]),
                        ...self(() => p.self),
                    ],
                },
            ];
        }
        case types.ingressRule: {
            const one = (read: () => unknown): Source[] => {
                const v = knownString(read);
                return v === undefined ? [] : v === unknown ? [{ kind: "unknown" }] : [{ kind: "cidr", cidr: v }];
            };
            const source = knownString(() => p.referencedSecurityGroupId);
            return [
                {
                    declaredBy: r,
                    groupRef: { ref: knownString(() => p.securityGroupId), prop: "securityGroupId" },
                    ports: ports(() => ({ protocol: p.ipProtocol, from: p.fromPort, to: p.toPort })),
                    sources: [
                        ...one(() => p.cidrIpv4),
                        ...one(() => p.cidrIpv6),
                        ...(source === undefined ? [] : [{ kind: "group", ref: source, prop: "referencedSecurityGroupId" } as Source]),
                    ],
                },
            ];
        }
        default:
            return [];
    }
}

/** The groups a rule opens: the group itself, or the one a standalone rule points at. */
export function groupsOpenedBy(stack: StackGraph, rule: IngressRule): Known<PolicyResource[]> {
    if (!rule.groupRef) {
        const own = stack.resources.find((r) => r.urn === rule.declaredBy.urn);
        return own ? [own] : [];
    }
    return stack.targets(rule.declaredBy, rule.groupRef.prop, rule.groupRef.ref, stack.ofType(types.securityGroup));
}

/** Every ingress rule in the stack. */
export function allIngress(stack: StackGraph): IngressRule[] {
    return stack.resources.flatMap((r) => ingressOf(r));
}
