/**
 * An upper bound of how long `pulumi up` can take on a stack, from its offline plan: the longest chain of
 * steps the engine runs one after another (each resource waits for its dependencies), each weighed by the
 * longest it may take. The deploy job's limits (the `pulumi up` step's timeout, the credentials' duration)
 * follow it, so a long rollout is never cut off half-way, which would leave Pulumi's state with pending
 * operations and a web server or load balancer deleted but not replaced.
 */
import { OfflinePlan, PlannedResource } from "../preview/plan";

/**
 * What a step may take at most, by type. Gates: their TIMEOUT_SECONDS. Instances: a delete-first replacement,
 * the provider's default delete (20 min) and create (10 min) timeouts (https://www.pulumi.com/registry/packages/aws/api-docs/ec2/instance/,
 * "Timeouts"; terraform-provider-aws ec2_instance.go). A NAT gateway: its create timeout, 10 min
 * (https://registry.terraform.io/providers/hashicorp/aws/latest/docs/resources/nat_gateway#timeouts).
 */
export function stepBoundSeconds(r: PlannedResource): number {
    if (r.type === "command:local:Command") {
        const timeout = Number((r.inputs.environment as Record<string, unknown> | undefined)?.TIMEOUT_SECONDS);
        if (!Number.isInteger(timeout) || timeout <= 0) throw new Error(`${r.name}: a gate without a TIMEOUT_SECONDS`);
        return timeout;
    }
    if (r.type === "aws:ec2/instance:Instance") return (20 + 10) * 60;
    if (r.type === "aws:ec2/natGateway:NatGateway") return 10 * 60;
    return 0;
}

/** Everything else on the chain (API calls of seconds each) and the job's own steps before `pulumi up` (install, checks). */
export const marginSeconds = 20 * 60;

/** GitHub-hosted runners end a job after 6 hours (https://docs.github.com/en/actions/reference/limits). */
export const hostedJobLimitMinutes = 360;

export interface RolloutBound {
    /** The chain's bound plus the margin: what `pulumi up` may take. */
    seconds: number;
    /** The same in whole minutes, rounded up: the `pulumi up` step's `timeout-minutes`. */
    minutes: number;
    /** The longest chain, first step first, with each step's bound. */
    chain: { name: string; seconds: number }[];
}

export function rolloutBound(plan: OfflinePlan): RolloutBound {
    const byUrn = new Map(plan.resources.map((r) => [r.urn, r]));
    const longest = new Map<string, { seconds: number; chain: { name: string; seconds: number }[] }>();
    const visit = (r: PlannedResource, path: Set<string>): { seconds: number; chain: { name: string; seconds: number }[] } => {
        const known = longest.get(r.urn);
        if (known) return known;
        if (path.has(r.urn)) throw new Error(`a dependency cycle through ${r.name}`);
        path.add(r.urn);
        let before = { seconds: 0, chain: [] as { name: string; seconds: number }[] };
        for (const urn of r.dependencies) {
            const dep = byUrn.get(urn);
            if (!dep) continue;
            const found = visit(dep, path);
            if (found.seconds > before.seconds) before = found;
        }
        path.delete(r.urn);
        const own = stepBoundSeconds(r);
        const result = { seconds: before.seconds + own, chain: own > 0 ? [...before.chain, { name: r.name, seconds: own }] : before.chain };
        longest.set(r.urn, result);
        return result;
    };
    let worst = { seconds: 0, chain: [] as { name: string; seconds: number }[] };
    for (const r of plan.resources) {
        const found = visit(r, new Set());
        if (found.seconds > worst.seconds) worst = found;
    }
    const seconds = worst.seconds + marginSeconds;
    return { seconds, minutes: Math.ceil(seconds / 60), chain: worst.chain };
}
