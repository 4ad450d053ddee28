/**
 * Reading the stack as a graph: which tier a resource belongs to, which
 * resource a reference points at, where an instance runs.
 *
 * A reference (a security group id in an ingress rule, an instance id in an
 * alarm) is matched by the target's id or ARN when both are known. During a
 * first preview the id is unknown; the engine still says which resources
 * each property depends on (`propertyDependencies`), so the possible targets
 * come from there. When neither tells, the answer is `unknown`.
 */
import { PolicyResource, PolicyResourceOptions } from "@pulumi/policy";
// Type only: the tag values the program writes (roles.ts at the root); nothing outside the pack is loaded at run time.
import type { TierRole } from "../../roles";
import { known, Known, knownList, knownString, unknown } from "./unknowns";

export const types = {
    instance: "aws:ec2/instance:Instance",
    launchTemplate: "aws:ec2/launchTemplate:LaunchTemplate",
    securityGroup: "aws:ec2/securityGroup:SecurityGroup",
    securityGroupRule: "aws:ec2/securityGroupRule:SecurityGroupRule",
    ingressRule: "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
    subnet: "aws:ec2/subnet:Subnet",
    eip: "aws:ec2/eip:Eip",
    eipAssociation: "aws:ec2/eipAssociation:EipAssociation",
    volume: "aws:ebs/volume:Volume",
    ssmParameter: "aws:ssm/parameter:Parameter",
    metricAlarm: "aws:cloudwatch/metricAlarm:MetricAlarm",
    topic: "aws:sns/topic:Topic",
    topicSubscription: "aws:sns/topicSubscription:TopicSubscription",
    kmsKey: "aws:kms/key:Key",
    kmsAlias: "aws:kms/alias:Alias",
    route53Record: "aws:route53/record:Record",
    instanceProfile: "aws:iam/instanceProfile:InstanceProfile",
    iamRole: "aws:iam/role:Role",
    rolePolicy: "aws:iam/rolePolicy:RolePolicy",
    rdsInstance: "aws:rds/instance:Instance",
    managedLoadBalancers: ["aws:lb/loadBalancer:LoadBalancer", "aws:alb/loadBalancer:LoadBalancer", "aws:elb/loadBalancer:LoadBalancer"],
} as const;

/** What both resource and stack validations know of a resource. */
export interface Res {
    urn: string;
    name: string;
    type: string;
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- as @pulumi/policy's PolicyResource.props
    props: Record<string, any>;
    opts: PolicyResourceOptions;
    /** Stack validations only: the resources each property's value comes from. */
    propertyDependencies?: PolicyResource["propertyDependencies"];
}

/** The tier a resource belongs to, from its `Role` tag (lb, web, db, ...). */
export function roleOf(r: Res): Known<string | undefined> {
    return knownString(() => r.props.tags?.Role);
}

/** Whether a resource's `Role` tag is known to be `role`. */
export function hasRole(r: Res, role: TierRole): boolean {
    return roleOf(r) === role;
}

export function ipv4ToInt(ip: string): number | undefined {
    const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip);
    if (!m || m.slice(1).some((o) => Number(o) > 255)) return undefined;
    return m.slice(1).reduce((acc, o) => acc * 256 + Number(o), 0);
}

export function cidrContains(cidr: string, ip: string): boolean {
    const [base, bits] = cidr.split("/");
    const b = ipv4ToInt(base);
    const a = ipv4ToInt(ip);
    const prefix = Number(bits);
    if (b === undefined || a === undefined || !Number.isInteger(prefix) || prefix < 0 || prefix > 32) return false;
    const size = 2 ** (32 - prefix);
    return Math.floor(a / size) === Math.floor(b / size);
}

/** Every known string anywhere in a value (behind the policy runtime's proxy, unknown parts skipped). */
function knownStrings(value: unknown, out: Set<string>): Set<string> {
    if (typeof value === "string") out.add(value);
    else if (value !== null && typeof value === "object") {
        for (const key of Object.keys(value)) {
            const child = known(() => (value as Record<string, unknown>)[key]);
            if (child !== unknown) knownStrings(child, out);
        }
    }
    return out;
}

export class StackGraph {
    private readonly sgCache = new Map<string, Known<PolicyResource[]>>();
    private edges?: Map<string, Set<string>>;

    constructor(readonly resources: readonly PolicyResource[]) {}

    /**
     * Whether `from` depends on `to`, directly or through other resources:
     * by the engine's dependencies (dependsOn and property dependencies) or
     * by a property holding the other's id or ARN, which is how a value
     * flows once it is known.
     */
    dependsOn(from: PolicyResource, to: PolicyResource): boolean {
        if (!this.edges) {
            const byRef = new Map<string, string>();
            for (const r of this.resources) {
                for (const key of ["id", "arn"]) {
                    const ref = knownString(() => r.props[key]);
                    if (typeof ref === "string" && ref.length > 0) byRef.set(ref, r.urn);
                }
            }
            this.edges = new Map(
                this.resources.map((r) => {
                    const next = new Set([...r.dependencies, ...Object.values(r.propertyDependencies).flat()].map((d) => d.urn));
                    for (const s of knownStrings(r.props, new Set())) {
                        const target = byRef.get(s);
                        if (target && target !== r.urn) next.add(target);
                    }
                    return [r.urn, next];
                }),
            );
        }
        const seen = new Set<string>();
        const queue = [from.urn];
        while (queue.length > 0) {
            const urn = queue.pop()!;
            for (const next of this.edges.get(urn) ?? []) {
                if (next === to.urn) return true;
                if (!seen.has(next)) {
                    seen.add(next);
                    queue.push(next);
                }
            }
        }
        return false;
    }

    ofType(...wanted: readonly string[]): PolicyResource[] {
        return this.resources.filter((r) => wanted.includes(r.type));
    }

    /** Instances whose Role tag is known to be `role`. */
    instancesWithRole(role: TierRole): PolicyResource[] {
        return this.ofType(types.instance).filter((r) => hasRole(r, role));
    }

    /**
     * The resources among `candidates` that `from.props[prop]` (or the
     * element `ref` within it) may point at: the ones with that id or ARN;
     * when the reference is unknown (or names no id the stack shows), the
     * ones the property depends on; `unknown` when nothing tells.
     */
    targets(from: Res, prop: string, ref: Known<string | undefined>, candidates: readonly PolicyResource[]): Known<PolicyResource[]> {
        if (ref === undefined) return [];
        if (ref !== unknown) {
            const exact = candidates.filter((c) => knownString(() => c.props.id) === ref || knownString(() => c.props.arn) === ref);
            if (exact.length > 0) return exact;
        }
        const deps = (from.propertyDependencies ?? {})[prop] ?? [];
        const possible = candidates.filter((c) => deps.some((d) => d.urn === c.urn));
        if (possible.length > 0) return possible;
        // A known reference to nothing in the stack points outside it.
        return ref === unknown ? unknown : [];
    }

    /**
     * Whether a reference points at `target`. An unknown reference does only
     * when its property depends on the target: values flow along dependencies.
     */
    pointsAt(from: Res, prop: string, ref: Known<string | undefined>, target: PolicyResource): boolean {
        const found = this.targets(from, prop, ref, [target]);
        return found !== unknown && found.length > 0;
    }

    /** The availability zone an instance runs in: its own, its subnet's, or the subnet whose CIDR holds its private IP. */
    zoneOf(instance: PolicyResource): Known<string> {
        const own = knownString(() => instance.props.availabilityZone);
        if (typeof own === "string") return own;
        const subnet = this.subnetOf(instance);
        if (subnet !== unknown && subnet !== undefined) {
            const zone = knownString(() => subnet.props.availabilityZone ?? subnet.props.availabilityZoneId);
            if (typeof zone === "string") return zone;
        }
        return unknown;
    }

    subnetOf(instance: PolicyResource): Known<PolicyResource | undefined> {
        const subnets = this.ofType(types.subnet);
        const found = this.targets(
            instance,
            "subnetId",
            knownString(() => instance.props.subnetId),
            subnets,
        );
        if (found !== unknown && found.length === 1) return found[0];
        const ip = knownString(() => instance.props.privateIp);
        if (typeof ip === "string") {
            const holding = subnets.filter((s) => {
                const cidr = knownString(() => s.props.cidrBlock);
                return typeof cidr === "string" && cidrContains(cidr, ip);
            });
            if (holding.length === 1) return holding[0];
        }
        return found !== unknown && found.length === 0 ? undefined : unknown;
    }

    /** The security groups in this stack attached to an instance. */
    securityGroupsOf(instance: PolicyResource): Known<PolicyResource[]> {
        const cached = this.sgCache.get(instance.urn);
        if (cached !== undefined) return cached;
        const groups = this.ofType(types.securityGroup);
        const refs = knownList<string>(() => instance.props.vpcSecurityGroupIds);
        let result: Known<PolicyResource[]> = unknown;
        if (refs !== unknown) {
            const found = refs.map((ref) => this.targets(instance, "vpcSecurityGroupIds", ref, groups));
            // A group outside the stack may open anything: then the instance's groups are not all known.
            const complete = found.every((f) => f !== unknown && f.length > 0);
            result = complete ? [...new Set((found as PolicyResource[][]).flat())] : unknown;
        }
        this.sgCache.set(instance.urn, result);
        return result;
    }

    /**
     * The tiers a security group serves: its own Role tag plus the roles of
     * the instances it is attached to, so a group tagged `lb` but attached to
     * a web server counts as both.
     */
    rolesOf(group: PolicyResource): Set<string> {
        const roles = new Set<string>();
        const own = roleOf(group);
        if (typeof own === "string") roles.add(own);
        for (const instance of this.ofType(types.instance)) {
            const attached = this.securityGroupsOf(instance);
            const role = roleOf(instance);
            if (attached !== unknown && typeof role === "string" && attached.some((g) => g.urn === group.urn)) roles.add(role);
        }
        return roles;
    }
}
