/**
 * The site's layout as plain values: subnets, instances and their private
 * addresses, all derived from the stack config.
 *
 * Addresses are fixed rather than left to DHCP so that the HAProxy backend, the
 * database grants and the private DNS records are known before any instance
 * exists, and so the local cloud boots the very same addresses the AWS stack uses.
 */
import { StackConfig, intToIp, parseCidr } from "./config";

/** Two AZs is the minimum the design needs; every tier spreads over them. */
export const azCount = 2;

export interface SubnetPlan {
    name: string;
    cidr: string;
    /** Index into the region's availability zones. */
    az: number;
    public: boolean;
}

export type InstanceRole = "lb" | "web" | "db-primary" | "db-replica" | "monitoring";

export interface InstancePlan {
    name: string;
    role: InstanceRole;
    subnet: SubnetPlan;
    privateIp: string;
}

export interface TopologyPlan {
    vpcCidr: string;
    subnets: SubnetPlan[];
    lb: InstancePlan;
    web: InstancePlan[];
    dbPrimary: InstancePlan;
    dbReplicas: InstancePlan[];
    /** Prometheus and Alertmanager, when monitoring is on. */
    monitoring?: InstancePlan;
    /** Private DNS names the app and the replicas use, as RDS endpoints are used. */
    endpoints: { writer: string; reader: string };
}

/** First host address used in a subnet: AWS reserves the first four. */
const firstHost = 10;

export function planTopology(config: StackConfig): TopologyPlan {
    const { base, prefix } = parseCidr("vpcCidr", config.vpcCidr, 16, 24);
    // Four equal quarters: public and private subnets in each of two AZs.
    const subnetPrefix = prefix + 2;
    const subnetSize = 2 ** (32 - subnetPrefix);
    const subnets: SubnetPlan[] = ["public", "private"].flatMap((kind, k) =>
        Array.from({ length: azCount }, (_, az) => ({
            name: `${kind}-${String.fromCharCode(97 + az)}`,
            cidr: `${intToIp(base + (k * azCount + az) * subnetSize)}/${subnetPrefix}`,
            az,
            public: kind === "public",
        })),
    );
    // The whiteboard's "no firewall" puts every server on the internet.
    const tierSubnets = subnets.filter((s) => s.public === (config.firewall === "open"));
    const nextHost = new Map<string, number>();
    const place = (name: string, role: InstanceRole, subnet: SubnetPlan): InstancePlan => {
        const offset = nextHost.get(subnet.name) ?? firstHost;
        nextHost.set(subnet.name, offset + 1);
        const subnetBase = parseCidr("subnet", subnet.cidr, 0, 32).base;
        return { name, role, subnet, privateIp: intToIp(subnetBase + offset) };
    };

    const lb = place("lb-1", "lb", subnets[0]);
    const web = Array.from({ length: config.webCount }, (_, i) => place(`web-${i + 1}`, "web", tierSubnets[i % azCount]));
    const dbPrimary = place("db-primary", "db-primary", tierSubnets[0]);
    // Replicas start in the other AZ so the first one survives the primary's AZ.
    const dbReplicas = Array.from({ length: config.replicaCount }, (_, i) =>
        place(`db-replica-${i + 1}`, "db-replica", tierSubnets[(i + 1) % azCount]),
    );
    // In the other AZ than the load balancer and the primary, so it outlives theirs and says so; private like the tiers.
    const monitoring = config.monitoring ? place("monitoring-1", "monitoring", tierSubnets[1]) : undefined;
    const zone = config.internalZone;
    return {
        vpcCidr: config.vpcCidr,
        subnets,
        lb,
        web,
        dbPrimary,
        dbReplicas,
        ...(monitoring ? { monitoring } : {}),
        endpoints: { writer: `db-writer.${zone}`, reader: `db-reader.${zone}` },
    };
}

/** Every instance of the plan, load balancer first, the monitoring instance last. */
export function allInstances(plan: TopologyPlan): InstancePlan[] {
    return [plan.lb, ...plan.web, plan.dbPrimary, ...plan.dbReplicas, ...(plan.monitoring ? [plan.monitoring] : [])];
}

/** The addresses behind each private DNS name: the reader is every replica, or the primary when there is none. */
export function endpointAddresses(plan: TopologyPlan): Record<string, string[]> {
    const replicas = plan.dbReplicas.map((r) => r.privateIp);
    return {
        [plan.endpoints.writer]: [plan.dbPrimary.privateIp],
        [plan.endpoints.reader]: replicas.length > 0 ? replicas : [plan.dbPrimary.privateIp],
    };
}
