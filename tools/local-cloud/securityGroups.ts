/**
 * The stack's security groups as nftables rules, derived from the program's offline plan
 * (tools/preview/plan.ts): nothing here names a tier, a port or an address of its own.
 *
 * Pure: `firewallPlan` reads the plan, `renderRuleset` turns it into the text `nft -f` loads
 * into the VPC namespace. Byte-stable for the same plan, so a diff shows a changed rule.
 *
 * Semantics follow AWS: a new connection from A to B passes when an egress rule of one of A's
 * groups allows it and an ingress rule of one of B's groups allows it; replies (and ICMP errors)
 * of allowed connections always pass (conntrack); everything else is dropped. A group source
 * means the private addresses of that group's members, `self` the group's own members. Only the
 * internet gateway's 1:1 mapping makes an instance reachable from outside the VPC.
 */
import { intToIp, ipToInt, parseCidr } from "../../config";
import type { OfflinePlan, PlannedResource } from "../preview/plan";
import { metadataAddress, metadataPortBase } from "./aws";

export type Protocol =
    | { kind: "all" }
    | { kind: "tcp" | "udp"; fromPort: number; toPort: number }
    | { kind: "icmp"; type: number; code: number }
    | { kind: "number"; number: number };

export interface Rule {
    direction: "ingress" | "egress";
    /** The group the rule belongs to (its plan name), for comments. */
    group: string;
    description: string;
    protocol: Protocol;
    /** IPv4 CIDRs or addresses of the other end; "0.0.0.0/0" stands for any. */
    peers: string[];
}

export interface FirewalledInstance {
    /** The instance's Name tag (the local container's name). */
    name: string;
    privateIp: string;
    /** The address the internet gateway maps to it, when the plan gives it a public one. */
    publicIp?: string;
    rules: Rule[];
}

/**
 * An Elastic IP no instance holds in the plan: the load-balancer pair's, which keepalived moves. Locally it maps to a
 * virtual address that keepalived moves between its holders by gratuitous ARP.
 */
export interface FloatingAddress {
    publicIp: string;
    /** The virtual address in the VPC the public one maps to. */
    privateIp: string;
    /** The instances that may hold it: they share one security group, whose ingress rules guard it. */
    holders: string[];
}

export interface FirewallPlan {
    instances: FirewalledInstance[];
    floating?: FloatingAddress;
    /** The plan has a NAT gateway: private instances reach public addresses through it. */
    natGateway?: boolean;
}

/**
 * The address the NAT gateway's connections come from (the router's end of the internet link), and the port
 * of the alert receiver a test runs at the router's VPC address (userdata/target.ts: the local target's webhook).
 */
export const natAddress = "192.0.2.1";
export const alertReceiverPort = 9095;

/** Public addresses handed out inside the project's namespaces: RFC 5737 documentation range, never routed anywhere. */
export const publicAddressBase = "198.51.100.10";

interface RawRule {
    direction: "ingress" | "egress";
    groupId: string;
    description: string;
    protocol: string;
    fromPort: number;
    toPort: number;
    cidrs: string[];
    sourceGroups: string[];
    self: boolean;
}

const str = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);
const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((s): s is string => typeof s === "string" && s !== "") : []);
const num = (v: unknown, fallback: number): number =>
    typeof v === "number" ? v : typeof v === "string" && v !== "" ? Number(v) : fallback;

/** Every rule the plan registers, inline on a group or standalone, in plan order. */
function rawRules(resources: PlannedResource[]): RawRule[] {
    const rules: RawRule[] = [];
    for (const r of resources) {
        const i = r.inputs;
        switch (r.type) {
            case "aws:ec2/securityGroup:SecurityGroup":
                for (const direction of ["ingress", "egress"] as const) {
                    for (const rule of (i[direction] as Record<string, unknown>[] | undefined) ?? []) {
                        rules.push({
                            direction,
                            groupId: String(r.outputs.id),
                            description: str(rule.description) ?? "",
                            protocol: String(rule.protocol),
                            fromPort: num(rule.fromPort, 0),
                            toPort: num(rule.toPort, 0),
                            cidrs: strings(rule.cidrBlocks),
                            sourceGroups: strings(rule.securityGroups),
                            self: rule.self === true,
                        });
                    }
                }
                break;
            case "aws:ec2/securityGroupRule:SecurityGroupRule":
                rules.push({
                    direction: i.type === "egress" ? "egress" : "ingress",
                    groupId: String(i.securityGroupId),
                    description: str(i.description) ?? "",
                    protocol: String(i.protocol),
                    fromPort: num(i.fromPort, 0),
                    toPort: num(i.toPort, 0),
                    cidrs: strings(i.cidrBlocks),
                    sourceGroups: strings([i.sourceSecurityGroupId]),
                    self: i.self === true,
                });
                break;
            case "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule":
            case "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule":
                rules.push({
                    direction: r.type.includes("Ingress") ? "ingress" : "egress",
                    groupId: String(i.securityGroupId),
                    description: str(i.description) ?? "",
                    protocol: String(i.ipProtocol),
                    fromPort: num(i.fromPort, -1),
                    toPort: num(i.toPort, -1),
                    cidrs: strings([i.cidrIpv4]),
                    sourceGroups: strings([i.referencedSecurityGroupId]),
                    self: false,
                });
                break;
        }
    }
    return rules;
}

/** AWS's protocol names and numbers; undefined for IPv6-only ones (the local VPC is IPv4). */
export function parseProtocol(protocol: string, fromPort: number, toPort: number): Protocol | undefined {
    const p = protocol.toLowerCase();
    if (p === "-1" || p === "all") return { kind: "all" };
    if (p === "tcp" || p === "6") return { kind: "tcp", fromPort, toPort };
    if (p === "udp" || p === "17") return { kind: "udp", fromPort, toPort };
    if (p === "icmp" || p === "1") return { kind: "icmp", type: fromPort, code: toPort };
    if (p === "icmpv6" || p === "58") return undefined;
    if (/^\d+$/.test(p) && Number(p) <= 255) return { kind: "number", number: Number(p) };
    throw new Error(
        `security group rule with protocol ${JSON.stringify(protocol)}: AWS takes tcp, udp, icmp, icmpv6, -1 or a protocol number`,
    );
}

/**
 * The load-balancer pair's virtual address in the local cloud, in the first load balancer's subnet: below every
 * layout's first host (topology.ts addressLayout), so no instance has it.
 */
export function virtualAddress(lbSubnetCidr: string): string {
    return intToIp(parseCidr("subnet", lbSubnetCidr, 0, 32).base + 8);
}

/**
 * Reads the instances, their groups' rules and their public addresses out of an offline plan. An Elastic IP no
 * instance holds is the load-balancer pair's: it floats between the instances tagged `Role: lb`, at the virtual address.
 */
export function firewallPlan(plan: OfflinePlan): FirewallPlan {
    const resources = plan.resources;
    const groupNames = new Map(
        resources.filter((r) => r.type === "aws:ec2/securityGroup:SecurityGroup").map((r) => [String(r.outputs.id), r.name] as const),
    );
    const instances = resources.filter((r) => r.type === "aws:ec2/instance:Instance");
    const withEip = new Set(resources.filter((r) => r.type === "aws:ec2/eip:Eip").map((r) => str(r.inputs.instance)));
    const membersOf = (groupId: string) =>
        instances.filter((r) => strings(r.inputs.vpcSecurityGroupIds).includes(groupId)).map((r) => String(r.inputs.privateIp));
    const rules = rawRules(resources);
    let nextPublic = ipToInt(publicAddressBase);

    // The NAT gateway's address is held by the gateway, not by an instance.
    const natAddresses = new Set(
        resources.filter((r) => r.type === "aws:ec2/natGateway:NatGateway").map((r) => str(r.inputs.allocationId)),
    );
    const unheld = resources.filter((r) => r.type === "aws:ec2/eip:Eip" && !str(r.inputs.instance) && !natAddresses.has(str(r.outputs.id)));
    if (unheld.length > 1) {
        throw new Error(
            `the plan has ${unheld.length} Elastic IPs no instance holds (${unheld.map((r) => r.name).join(", ")}); the local cloud maps one, the load-balancer pair's`,
        );
    }
    const nameOf = (r: PlannedResource) => str((r.inputs.tags as Record<string, unknown> | undefined)?.Name) ?? r.name;
    // By name, lb-1 first: the virtual address is in lb-1's subnet whatever order the program registers them in.
    const holders = instances
        .filter((r) => (r.inputs.tags as Record<string, unknown> | undefined)?.Role === "lb")
        .sort((a, b) => nameOf(a).localeCompare(nameOf(b), "en", { numeric: true }));
    const holderSubnet = resources.find(
        (r) => r.type === "aws:ec2/subnet:Subnet" && holders.length > 0 && r.outputs.id === holders[0].inputs.subnetId,
    );
    if (unheld.length === 1 && (holders.length < 2 || !str(holderSubnet?.inputs.cidrBlock))) {
        throw new Error(
            `the plan's Elastic IP ${unheld[0].name} is held by no instance, and the plan has no load-balancer pair to move it`,
        );
    }
    const floating =
        unheld.length === 1
            ? { privateIp: virtualAddress(String(holderSubnet!.inputs.cidrBlock)), holders: holders.map(nameOf) }
            : undefined;
    const firewalled = instances.map((r) => {
        const name = nameOf(r);
        const privateIp = str(r.inputs.privateIp);
        if (!privateIp) throw new Error(`instance ${name} has no fixed private address in the plan; the local cloud needs one`);
        const groups = strings(r.inputs.vpcSecurityGroupIds);
        for (const g of groups)
            if (!groupNames.has(g)) throw new Error(`instance ${name} uses security group ${g}, which the plan does not register`);
        const isPublic = r.inputs.associatePublicIpAddress === true || withEip.has(str(r.outputs.id));
        return {
            name,
            privateIp,
            ...(isPublic ? { publicIp: intToIp(nextPublic++) } : {}),
            rules: groups.flatMap((groupId) =>
                rules
                    .filter((rule) => rule.groupId === groupId)
                    .flatMap((rule): Rule[] => {
                        const protocol = parseProtocol(rule.protocol, rule.fromPort, rule.toPort);
                        if (!protocol) return [];
                        const peers = [...rule.cidrs, ...rule.sourceGroups.flatMap(membersOf), ...(rule.self ? membersOf(groupId) : [])];
                        return peers.length === 0
                            ? []
                            : [
                                  {
                                      direction: rule.direction,
                                      group: groupNames.get(groupId)!,
                                      description: rule.description,
                                      protocol,
                                      peers,
                                  },
                              ];
                    }),
            ),
        };
    });
    if (floating) {
        const ingressOf = (name: string) =>
            JSON.stringify(firewalled.find((i) => i.name === name)?.rules.filter((r) => r.direction === "ingress"));
        const differ = floating.holders.filter((h) => ingressOf(h) !== ingressOf(floating.holders[0]));
        if (differ.length > 0) {
            throw new Error(
                `the holders of the floating address (${floating.holders.join(", ")}) must share their ingress rules (one security group)`,
            );
        }
    }
    return {
        ...(resources.some((r) => r.type === "aws:ec2/natGateway:NatGateway") ? { natGateway: true } : {}),
        instances: firewalled,
        ...(floating ? { floating: { ...floating, publicIp: intToIp(nextPublic++) } } : {}),
    };
}

/** Names of the interfaces the ruleset filters on, owned by network.ts. */
export interface RulesetNetwork {
    /** The VPC bridge. */
    bridge: string;
    /** The VPC namespace's link to the internet namespace. */
    gateway: string;
    /** Bridge port (VPC end of the veth) of each instance. */
    portOf: (instance: string) => string;
}

/** The nftables table both families use; it lives in the VPC namespace, out of every instance's reach. */
export const tableName = "security-groups";

function l4(protocol: Protocol): string {
    const ports = (from: number, to: number) => (from === to ? `${from}` : `${from}-${to}`);
    switch (protocol.kind) {
        case "all":
            return "";
        case "tcp":
        case "udp":
            return `${protocol.kind} dport ${ports(protocol.fromPort, protocol.toPort)}`;
        case "icmp":
            if (protocol.type < 0) return "meta l4proto icmp";
            return `icmp type ${protocol.type}${protocol.code >= 0 ? ` icmp code ${protocol.code}` : ""}`;
        case "number":
            return `meta l4proto ${protocol.number}`;
    }
}

function ruleLines(rule: Rule, verdict: "accept" | "return"): string[] {
    const field = rule.direction === "ingress" ? "saddr" : "daddr";
    const comment = `comment "${`${rule.group}: ${rule.description}`.replace(/["\\]/g, "'").slice(0, 120)}"`;
    return rule.peers.map((peer) =>
        [peer === "0.0.0.0/0" ? "" : `ip ${field} ${peer}`, l4(rule.protocol), verdict, comment].filter(Boolean).join(" "),
    );
}

const chain = (kind: "ingress" | "egress", instance: string) => `${kind}-${instance}`;
const set = (items: string[]) => (items.length === 1 ? items[0] : `{ ${items.join(", ")} }`);

/** The whole ruleset: replaces an earlier one atomically when loaded with `nft -f`. */
export function renderRuleset(fw: FirewallPlan, net: RulesetNetwork, stack: string): string {
    const t = "\t";
    const instances = fw.instances;
    const publicInstances = instances.filter((i) => i.publicIp !== undefined);
    const hairpinSources = publicInstances.length === 0 ? [] : fw.natGateway ? ["0.0.0.0/0"] : publicInstances.map((i) => i.privateIp);
    // Every 1:1 mapping of the internet gateway: the instances' public addresses, and the floating one (to its virtual address).
    const publics = [
        ...publicInstances.map((i) => ({ publicIp: i.publicIp!, privateIp: i.privateIp })),
        ...(fw.floating ? [{ publicIp: fw.floating.publicIp, privateIp: fw.floating.privateIp }] : []),
    ];
    // The virtual address is guarded by its holders' group (they share one: firewallPlan checks it).
    const chainOwners = [
        ...instances.map((i) => ({ address: i.privateIp, name: i.name })),
        ...(fw.floating ? [{ address: fw.floating.privateIp, name: fw.floating.holders[0] }] : []),
    ];
    const vmap = (kind: "ingress" | "egress") => `{ ${chainOwners.map((o) => `${o.address} : jump ${chain(kind, o.name)}`).join(", ")} }`;
    const ownAddresses = (i: FirewalledInstance) =>
        fw.floating?.holders.includes(i.name) ? set([i.privateIp, fw.floating.privateIp]) : i.privateIp;
    const lines: string[] = [
        `# The security groups of stack ${stack}, generated from the program's plan by tools/local-cloud/securityGroups.ts.`,
        "# Loaded into the VPC namespace; instances cannot see or change it.",
        `add table inet ${tableName}`,
        `delete table inet ${tableName}`,
        `add table bridge ${tableName}`,
        `delete table bridge ${tableName}`,
        "",
        `table inet ${tableName} {`,
        // The internet gateway answers only for public addresses and maps each 1:1 to its instance.
        `${t}chain gateway-in {`,
        `${t}${t}type filter hook prerouting priority mangle; policy accept;`,
        // Replies to what instances (or the NAT gateway for them) opened toward the internet.
        `${t}${t}ct state established,related accept`,
        publics.length > 0
            ? `${t}${t}iifname "${net.gateway}" ip daddr != ${set(publics.map((i) => i.publicIp))} drop`
            : `${t}${t}iifname "${net.gateway}" drop`,
        `${t}}`,
        `${t}chain gateway-dnat {`,
        `${t}${t}type nat hook prerouting priority dstnat; policy accept;`,
        ...publics.map((i) => `${t}${t}iifname "${net.gateway}" ip daddr ${i.publicIp} dnat ip to ${i.privateIp}`),
        // Hairpin: an instance reaching a public address goes out and back in, as on AWS through the internet gateway
        // (public instances from their own address, private ones through the NAT gateway, when the plan has one).
        ...hairpinSources.flatMap((source) =>
            publics.map((i) => `${t}${t}iifname "${net.bridge}" ip saddr ${source} ip daddr ${i.publicIp} dnat ip to ${i.privateIp}`),
        ),
        `${t}}`,
        `${t}chain gateway-snat {`,
        `${t}${t}type nat hook postrouting priority srcnat; policy accept;`,
        ...publics.map((i) => `${t}${t}oifname "${net.gateway}" ip saddr ${i.privateIp} snat ip to ${i.publicIp}`),
        ...publics.map(
            (i) =>
                `${t}${t}iifname "${net.bridge}" oifname "${net.bridge}" ct status dnat ip saddr ${i.privateIp} snat ip to ${i.publicIp}`,
        ),
        ...(fw.natGateway && publicInstances.length > 0
            ? [`${t}${t}iifname "${net.bridge}" oifname "${net.bridge}" ct status dnat snat ip to ${natAddress}`]
            : []),
        // Instances without a public address reach the internet (the AWS APIs' endpoints) through the NAT gateway.
        ...(fw.natGateway
            ? [
                  publics.length > 0
                      ? `${t}${t}oifname "${net.gateway}" ip saddr != ${set(publics.map((i) => i.privateIp))} snat ip to ${natAddress}`
                      : `${t}${t}oifname "${net.gateway}" snat ip to ${natAddress}`,
              ]
            : []),
        `${t}}`,
        `${t}chain forward {`,
        `${t}${t}type filter hook forward priority filter; policy drop;`,
        `${t}${t}ct state established,related accept`,
        // Without a NAT gateway only instances with a public address reach the internet.
        ...(fw.natGateway
            ? []
            : [
                  publics.length > 0
                      ? `${t}${t}oifname "${net.gateway}" ip saddr != ${set(publics.map((i) => i.privateIp))} drop`
                      : `${t}${t}oifname "${net.gateway}" drop`,
              ]),
        ...(instances.length > 0 ? [`${t}${t}ip saddr vmap ${vmap("egress")}`, `${t}${t}ip daddr vmap ${vmap("ingress")}`] : []),
        // Neither end is an instance, or the source's egress allowed a destination outside the VPC.
        `${t}${t}oifname "${net.gateway}" accept`,
        `${t}}`,
        // The VPC namespace itself (the router's address) is a client with no group: instances' ingress rules apply.
        `${t}chain output {`,
        `${t}${t}type filter hook output priority filter; policy accept;`,
        `${t}${t}ct state established,related accept`,
        ...(instances.length > 0 ? [`${t}${t}oifname "${net.bridge}" ip daddr vmap ${vmap("ingress")}`] : []),
        `${t}}`,
        `${t}chain input {`,
        `${t}${t}type filter hook input priority filter; policy drop;`,
        `${t}${t}ct state established,related accept`,
        `${t}${t}iifname "lo" accept`,
        `${t}${t}iifname "${net.bridge}" tcp dport ${alertReceiverPort} accept comment "alerts to the local receiver"`,
        // Security groups do not filter the VPC resolver (AmazonProvidedDNS), which answers at the VPC's +2 address.
        `${t}${t}iifname "${net.bridge}" meta l4proto { tcp, udp } th dport 53 accept comment "the VPC resolver"`,
        // Nor the instance metadata service (aws.ts: each instance's requests reach its own emulator here).
        `${t}${t}iifname "${net.bridge}" ip daddr ${metadataAddress} tcp dport >= ${metadataPortBase} accept comment "the instance metadata service"`,
        `${t}}`,
        ...instances.flatMap((i) => [
            `${t}chain ${chain("egress", i.name)} {`,
            ...i.rules.filter((r) => r.direction === "egress").flatMap((r) => ruleLines(r, "return").map((l) => `${t}${t}${l}`)),
            `${t}${t}drop`,
            `${t}}`,
            `${t}chain ${chain("ingress", i.name)} {`,
            ...i.rules.filter((r) => r.direction === "ingress").flatMap((r) => ruleLines(r, "accept").map((l) => `${t}${t}${l}`)),
            `${t}${t}drop`,
            `${t}}`,
        ]),
        "}",
        "",
        // AWS's source/destination check: an instance sends only from its own address, and cannot take another's.
        `table bridge ${tableName} {`,
        `${t}chain source-check {`,
        `${t}${t}type filter hook prerouting priority filter; policy accept;`,
        ...instances.flatMap((i) => [
            `${t}${t}iifname "${net.portOf(i.name)}" ether type ip ip saddr != ${ownAddresses(i)} drop`,
            `${t}${t}iifname "${net.portOf(i.name)}" ether type arp arp saddr ip != ${ownAddresses(i)} drop`,
        ]),
        `${t}}`,
        "}",
        "",
    ];
    return lines.join("\n");
}
