/**
 * The site's layout as plain values: subnets, instances and their private
 * addresses, all derived from the stack config.
 *
 * Addresses are fixed rather than left to DHCP so that the HAProxy backend, the
 * database grants and the private DNS records are known before any instance
 * exists, and so the local cloud boots the very same addresses the AWS stack uses.
 */
import { StackConfig, intToIp, parseCidr, recordLabels } from "./config";

/** Two AZs is the minimum the design needs; every tier spreads over them. */
export const azCount = 2;
/**
 * A Galera cluster spreads over three AZs where the region offers three, so that no zone holds a majority: the
 * third zone's subnets come from a secondary VPC block (`thirdZoneCidr`), as the first two zones fill the VPC's.
 */
export const galeraAzCount = 3;

export interface SubnetPlan {
    name: string;
    cidr: string;
    /** Index into the region's availability zones. */
    az: number;
    public: boolean;
}

/** `db-node`: a member of a Galera cluster (`database: galera`), where every node can take the writes. */
export type InstanceRole = "lb" | "web" | "db-primary" | "db-replica" | "db-node" | "monitoring";

export interface InstancePlan {
    name: string;
    role: InstanceRole;
    subnet: SubnetPlan;
    privateIp: string;
}

export interface TopologyPlan {
    vpcCidr: string;
    /** The VPC's IPv4 blocks: vpcCidr, then the third zone's secondary block when the plan uses a third zone. */
    cidrBlocks: string[];
    /** public-a, public-b, private-a, private-b; then public-c and private-c with a third zone. */
    subnets: SubnetPlan[];
    /** The AZs the database servers span: 3 for a Galera cluster in a region with three, else 2. */
    databaseZones: number;
    /** The load balancers, lb-1 first: one, or a pair in two AZs (lbCount). */
    lbs: InstancePlan[];
    web: InstancePlan[];
    /**
     * With `webMode: active-passive`, the web servers after the first `webActiveCount` (web-2 ... with one serving):
     * HAProxy backup servers, the first of them in the other zone than web-1. Empty with active-active.
     */
    webSpares: string[];
    /** The primary; with galera, db-1, the node that bootstraps the cluster and takes the writes first. */
    dbPrimary: InstancePlan;
    /** The read replicas; with galera, the other nodes (db-2 ...). */
    dbReplicas: InstancePlan[];
    /** The address blocks each tier's servers can get, whatever the counts. */
    grants: GrantBlocks;
    /** Prometheus and Alertmanager, when monitoring is on. */
    monitoring?: InstancePlan;
    /**
     * Where the app sends writes and reads: private DNS names, as RDS endpoints are used; with galera, the
     * HAProxy sidecar on each web server (`galeraSidecar`), which finds the nodes that serve.
     */
    endpoints: { writer: string; reader: string };
}

/**
 * Where each server sits within its subnet, as offsets from the subnet's base.
 * Every address is a function of the server's own name alone, never of how
 * many servers another tier (or its own) has: a fixed private address is
 * ForceNew on an EC2 instance, so an address that moved when `webCount`
 * changed would replace a database (or collide with it, InvalidIPAddress.InUse).
 *
 * The first web server and the first database server of each AZ keep the
 * addresses the first layout gave them (from +10, after the load balancer
 * where it shares the subnet), so existing stacks keep their instances. Every
 * further server goes to a block of its tier: the database grants name those
 * blocks, so a new web server or replica can log in without the database
 * servers' user-data changing.
 */
export const addressLayout = {
    /** First host address used in a subnet: AWS reserves the first four; the first layout started here. */
    firstHost: 10,
    /** Web servers after the first of each AZ: a /28 (16 addresses; webCount ≤ 20 needs at most 9 per AZ). */
    webBlock: { offset: 32, prefixBits: 28 },
    /**
     * The second load balancer, in the second AZ's public subnet: below the first layout's first host, so it is
     * free whatever the other tiers hold there (with `firewall: open`, web-2 and a database take +10 and +11).
     */
    secondLoadBalancer: 9,
    /** Replicas after the first (replica-1, in the second AZ): a /29 (replicaCount ≤ 5 needs at most 2 per AZ). */
    replicaBlock: { offset: 48, prefixBits: 29 },
    /**
     * Every Galera node, db-1 included: a /29 of its own (dbNodeCount ≤ 5 needs at most 3 per AZ; +56 to +58 fit a
     * /26, the smallest subnet). No Galera node takes an address a replication server has, and the reverse: switching
     * `database` creates the new servers before it deletes the old ones, and AWS refuses an address still in use
     * (InvalidIPAddress.InUse).
     */
    galeraBlock: { offset: 56, prefixBits: 29 },
} as const;

/** The address blocks (CIDR) a tier's servers can get: what the database grants name, and nothing else. */
export interface GrantBlocks {
    /** Where web servers can be: the app user's hosts. */
    web: string[];
    /** Where replicas can be: the replication user's hosts. */
    replicas: string[];
}

/** With galera, the app's endpoints: the sidecar's two listeners on each web server's loopback. */
export const galeraSidecar = { writer: "127.0.0.1", reader: "127.0.0.2" } as const;

/**
 * The site's layout for a stack. `regionZones` is how many availability zones the region offers the account
 * (`aws.getAvailabilityZones`; some accounts see two in a region that has three): only a Galera cluster uses a third.
 */
export function planTopology(config: StackConfig, regionZones: number): TopologyPlan {
    if (regionZones < azCount) {
        throw new Error(
            `region ${config.region} offers this account ${regionZones} availability zone(s); the site spreads over ${azCount}: ` +
                "choose another region (aws:region)",
        );
    }
    const { base, prefix } = parseCidr("vpcCidr", config.vpcCidr, 16, 24);
    const zoneName = (az: number) => String.fromCharCode(97 + az);
    // Four equal quarters: public and private subnets in each of two AZs.
    const subnetPrefix = prefix + 2;
    const subnetSize = 2 ** (32 - subnetPrefix);
    const subnets: SubnetPlan[] = ["public", "private"].flatMap((kind, k) =>
        Array.from({ length: azCount }, (_, az) => ({
            name: `${kind}-${zoneName(az)}`,
            cidr: `${intToIp(base + (k * azCount + az) * subnetSize)}/${subnetPrefix}`,
            az,
            public: kind === "public",
        })),
    );
    const galera = config.database === "galera";
    const thirdZoneCidr = galera && regionZones >= galeraAzCount ? config.thirdZoneCidr : undefined;
    if (thirdZoneCidr) {
        // Its two halves, public then private, as the primary block's quarters are.
        const block = parseCidr("thirdZoneCidr", thirdZoneCidr, 16, 25);
        const halfSize = 2 ** (32 - block.prefix - 1);
        subnets.push(
            ...["public", "private"].map((kind, k) => ({
                name: `${kind}-${zoneName(azCount)}`,
                cidr: `${intToIp(block.base + k * halfSize)}/${block.prefix + 1}`,
                az: azCount,
                public: kind === "public",
            })),
        );
    }
    const databaseZones = thirdZoneCidr ? galeraAzCount : azCount;
    // The whiteboard's "no firewall" puts every server on the internet. Other tiers than the database keep to two zones.
    const zoneSubnets = subnets.filter((s) => s.public === (config.firewall === "open"));
    const tierSubnets = zoneSubnets.filter((s) => s.az < azCount);
    const [lbSubnet, secondLbSubnet] = subnets.filter((s) => s.public);
    const subnetBase = (subnet: SubnetPlan) => parseCidr("subnet", subnet.cidr, 0, 32).base;
    /** The first layout's first address in a tier subnet: after the load balancer when it shares the subnet. */
    const first = (subnet: SubnetPlan) => addressLayout.firstHost + (subnet === lbSubnet ? 1 : 0);
    const at = (name: string, role: InstanceRole, subnet: SubnetPlan, offset: number): InstancePlan => ({
        name,
        role,
        subnet,
        privateIp: intToIp(subnetBase(subnet) + offset),
    });
    const { webBlock, replicaBlock, galeraBlock } = addressLayout;

    const lbs = [
        at("lb-1", "lb", lbSubnet, addressLayout.firstHost),
        ...(config.lbCount === 2 ? [at("lb-2", "lb", secondLbSubnet, addressLayout.secondLoadBalancer)] : []),
    ];
    // web-1 and web-2 take the first address of their AZ; the rest fill the web block, alternating AZs.
    const web = Array.from({ length: config.webCount }, (_, i) => {
        const subnet = tierSubnets[i % azCount];
        const k = Math.floor(i / azCount);
        return at(`web-${i + 1}`, "web", subnet, k === 0 ? first(subnet) : webBlock.offset + k - 1);
    });
    const dbPrimary = galera
        ? at("db-1", "db-node", tierSubnets[0], galeraBlock.offset)
        : at("db-primary", "db-primary", tierSubnets[0], first(tierSubnets[0]) + 1);
    // Replicas (Galera's further nodes, db-2 ...) start in the other AZ so the first one survives the primary's AZ;
    // it takes that AZ's database address. A node's address follows from its name, as a replica's does.
    // With a third zone, db-3 takes that zone's database address and every other node keeps its place, so a
    // cluster of five has two nodes in zones a and b and one in c: no zone holds a majority.
    const dbReplicas = Array.from({ length: galera ? config.dbNodeCount - 1 : config.replicaCount }, (_, i) => {
        if (databaseZones > azCount && i === 1) {
            const subnet = zoneSubnets.find((s) => s.az === azCount)!;
            return at("db-3", "db-node", subnet, galeraBlock.offset);
        }
        const subnet = tierSubnets[(i + 1) % azCount];
        const later = Math.floor((i - 1) / azCount);
        if (galera) return at(`db-${i + 2}`, "db-node", subnet, galeraBlock.offset + (i === 0 ? 0 : 1 + later));
        return at(`db-replica-${i + 1}`, "db-replica", subnet, i === 0 ? first(subnet) + 1 : replicaBlock.offset + later);
    });
    const block = (subnet: SubnetPlan, offset: number, prefixBits: number) => `${intToIp(subnetBase(subnet) + offset)}/${prefixBits}`;
    const grants: GrantBlocks = {
        web: tierSubnets.flatMap((s) => [block(s, first(s), 32), block(s, webBlock.offset, webBlock.prefixBits)]),
        replicas: [
            block(tierSubnets[1 % azCount], first(tierSubnets[1 % azCount]) + 1, 32),
            ...tierSubnets.map((s) => block(s, replicaBlock.offset, replicaBlock.prefixBits)),
        ],
    };
    // In the other AZ than the load balancer and the primary, so it outlives theirs and says so; right after that AZ's database address.
    const monitoring = config.monitoring ? at("monitoring-1", "monitoring", tierSubnets[1], first(tierSubnets[1]) + 2) : undefined;
    const zone = config.internalZone;
    return {
        vpcCidr: config.vpcCidr,
        cidrBlocks: [config.vpcCidr, ...(thirdZoneCidr ? [thirdZoneCidr] : [])],
        subnets,
        databaseZones,
        lbs,
        web,
        webSpares: config.webMode === "active-passive" ? web.slice(config.webActiveCount).map((w) => w.name) : [],
        dbPrimary,
        dbReplicas,
        grants,
        ...(monitoring ? { monitoring } : {}),
        endpoints: galera
            ? { ...galeraSidecar }
            : { writer: `${recordLabels.internalZone.writer}.${zone}`, reader: `${recordLabels.internalZone.reader}.${zone}` },
    };
}

/**
 * The region's availability zones proper, for `aws.getAvailabilityZones`: with Local Zones or Wavelength Zones
 * opted in, the list would hold them too, and `us-west-2-lax-1a` sorts before `us-west-2a`. Whatever their state:
 * with `state: available`, a zone that turned `impaired` would drop out of the list, the zones after it would
 * shift, and a deploy during that outage would plan to replace subnets (a subnet's zone forces a new one).
 */
export const regionZoneFilters = { filters: [{ name: "opt-in-status", values: ["opt-in-not-required"] }] };

/**
 * What a Galera cluster loses in a region that offers this account fewer than three zones, for `pulumi up` to say.
 */
export function galeraZoneWarning(config: StackConfig, plan: TopologyPlan, regionZones: number): string | undefined {
    if (config.database !== "galera" || plan.databaseZones >= galeraAzCount) return undefined;
    const nodes = [plan.dbPrimary, ...plan.dbReplicas];
    const inZoneA = nodes.filter((n) => n.subnet.az === 0).map((n) => n.name);
    const why =
        regionZones < galeraAzCount
            ? `region ${config.region} offers this account ${regionZones} availability zones`
            : "thirdZoneCidr is none";
    return (
        `${why}, so the Galera nodes alternate over two: ` +
        `losing zone a (${inZoneA.join(", ")}: a majority) stops writes until a person makes the survivors the cluster ` +
        "(pc.bootstrap, README: The database); losing zone b does not"
    );
}

/**
 * The order the web servers are created and replaced in, one at a time, each behind the one before it: the plan's,
 * or with active-passive the spares first, so a serving server is replaced only once a spare is ready to take over.
 */
export function webRolloutOrder(plan: Pick<TopologyPlan, "web" | "webSpares">): InstancePlan[] {
    const spare = (w: InstancePlan) => plan.webSpares.includes(w.name);
    return [...plan.web.filter(spare), ...plan.web.filter((w) => !spare(w))];
}

/** Every instance of the plan, load balancers first, the monitoring instance last. */
export function allInstances(plan: TopologyPlan): InstancePlan[] {
    return [...plan.lbs, ...plan.web, plan.dbPrimary, ...plan.dbReplicas, ...(plan.monitoring ? [plan.monitoring] : [])];
}

/**
 * The addresses behind each private DNS name: the reader is every replica, or the primary when there is none.
 * None with galera: its endpoints are the sidecar's loopback addresses.
 */
export function endpointAddresses(plan: TopologyPlan): Record<string, string[]> {
    if (plan.dbPrimary.role === "db-node") return {};
    const replicas = plan.dbReplicas.map((r) => r.privateIp);
    return {
        [plan.endpoints.writer]: [plan.dbPrimary.privateIp],
        [plan.endpoints.reader]: replicas.length > 0 ? replicas : [plan.dbPrimary.privateIp],
    };
}
