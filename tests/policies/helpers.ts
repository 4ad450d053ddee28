/**
 * Synthetic stacks for the policy tests, evaluated exactly as the offline
 * checker evaluates the plan: properties behind @pulumi/policy's own
 * unknown-checking proxy, unknown values written as the engine's sentinels.
 */
import { Policy, PolicyResource } from "@pulumi/policy";
import { stringify } from "yaml";
import { types } from "../../policies/lib/resources";
import { resolvePolicyConfig } from "../../tools/policy-check/config";
import { evaluate, Evaluation } from "../../tools/policy-check/evaluate";
import { policyResources, StackResource } from "../../tools/policy-check/resources";
import { OfflinePlan } from "../../tools/preview/plan";

/** The sentinels the engine sends for values unknown during a preview (the proxy throws on reading them). */
const sentinels = require("@pulumi/policy/proxy") as Record<string, string>;
export const UNKNOWN = sentinels.unknownStringValue;
export const UNKNOWN_BOOL = sentinels.unknownBooleanValue;
export const UNKNOWN_NUMBER = sentinels.unknownNumberValue;
export const UNKNOWN_ARRAY = sentinels.unknownArrayValue;
export const UNKNOWN_OBJECT = sentinels.unknownObjectValue;

export { types };

export interface Spec {
    type: string;
    name: string;
    props?: Record<string, unknown>;
    protect?: boolean;
    ignoreChanges?: string[];
    deleteBeforeReplace?: boolean;
    /** Names of the resources it depends on without a property saying so (dependsOn). */
    dependsOn?: string[];
    /** Property → names of the resources its value comes from (what the engine sends when the value is unknown). */
    deps?: Record<string, string[]>;
}

export const urnOf = (s: Pick<Spec, "type" | "name">) => `urn:pulumi:test::foobar::${s.type}::${s.name}`;

export function build(specs: Spec[]): PolicyResource[] {
    const urn = (name: string) => {
        const s = specs.find((x) => x.name === name);
        if (!s) throw new Error(`no resource ${name} in the synthetic stack`);
        return urnOf(s);
    };
    const raw: StackResource[] = specs.map((s) => ({
        type: s.type,
        urn: urnOf(s),
        name: s.name,
        props: s.props ?? {},
        options: { protect: s.protect ?? false, ignoreChanges: s.ignoreChanges ?? [], deleteBeforeReplace: s.deleteBeforeReplace },
        dependencies: [...new Set([...(s.dependsOn ?? []), ...Object.values(s.deps ?? {}).flat()])].map(urn),
        propertyDependencies: Object.fromEntries(Object.entries(s.deps ?? {}).map(([p, names]) => [p, names.map(urn)])),
    }));
    return policyResources(raw);
}

export interface Outcome extends Evaluation {
    /** `name: message` per violation, in evaluation order. */
    found: string[];
    /** Names of the resources with violations. */
    flagged: string[];
    /** Names of the resources an exemption waived. */
    waived: string[];
}

const nameOf = (urn: string) => urn.split("::").pop() ?? urn;

/** Evaluates one or more policies over a synthetic stack with an optional policy config. */
export async function check(
    policy: Policy | Policy[],
    specs: Spec[] | PolicyResource[],
    config: Record<string, unknown> = {},
): Promise<Outcome> {
    const list = Array.isArray(policy) ? policy : [policy];
    const resources = (specs as unknown[]).every((s) => typeof (s as PolicyResource).isType === "function")
        ? (specs as PolicyResource[])
        : build(specs as Spec[]);
    const doc = Array.isArray(policy) ? config : Object.keys(config).length > 0 ? { [list[0].name]: config } : {};
    const result = await evaluate(
        list,
        resources,
        resolvePolicyConfig(doc, list),
        "urn:pulumi:test::foobar::pulumi:pulumi:Stack::foobar-test",
    );
    return {
        ...result,
        found: result.violations.map((v) => `${nameOf(v.urn)}: ${v.message}`),
        flagged: result.violations.map((v) => nameOf(v.urn)),
        waived: result.exempted.map((e) => nameOf(e.urn)),
    };
}

/** Neither a violation nor a policy that could not run: the judgment was left open. */
export function expectNoVerdict(r: Outcome): void {
    expect({ violations: r.violations, notes: r.notes }).toEqual({ violations: [], notes: [] });
}

export function cloudConfig(args: { packages?: string[]; files?: Record<string, string> }): string {
    const doc = {
        package_update: true,
        packages: args.packages ?? [],
        write_files: Object.entries(args.files ?? {}).map(([path, content]) => ({ path, content, permissions: "0644" })),
    };
    return "#cloud-config\n" + stringify(doc);
}

export const haproxyTls = [
    "frontend www",
    "    bind :80",
    "    bind :443 ssl crt /etc/haproxy/certs/site.pem alpn h2,http/1.1",
    "    http-request redirect scheme https code 301 unless { ssl_fc }",
    "    default_backend web",
    "backend web",
    "    server web-1 10.0.128.10:80 check",
].join("\n");

export const haproxyPlain = [
    "frontend www",
    "    bind :80",
    "    default_backend web",
    "backend web",
    "    server web-1 10.0.128.10:80 check",
].join("\n");

// Building blocks of synthetic stacks.
export const subnet = (name: string, az: string, cidrBlock: string, props: Record<string, unknown> = {}): Spec => ({
    type: types.subnet,
    name,
    props: { id: `subnet-${name}`, availabilityZone: az, cidrBlock, ...props },
});

export const instance = (name: string, role: string, props: Record<string, unknown> = {}, extra: Partial<Spec> = {}): Spec => ({
    type: types.instance,
    name,
    props: {
        id: `i-${name}`,
        tags: { Role: role, Name: name },
        monitoring: true,
        metadataOptions: { httpTokens: "required", httpEndpoint: "enabled" },
        rootBlockDevice: { encrypted: true },
        ...props,
    },
    ...extra,
});

export type Rule = {
    protocol?: string;
    fromPort: number;
    toPort?: number;
    cidrBlocks?: string[];
    ipv6CidrBlocks?: string[];
    securityGroups?: string[];
    self?: boolean;
};

export const rule = (r: Rule) => ({ protocol: "tcp", toPort: r.fromPort, ...r });

export const securityGroup = (name: string, role: string, ingress: unknown, extra: Partial<Spec> = {}): Spec => ({
    type: types.securityGroup,
    name,
    ...extra,
    props: { id: `sg-${name}`, tags: { Role: role }, ingress, ...extra.props },
});

export const world = { cidrBlocks: ["0.0.0.0/0"], ipv6CidrBlocks: ["::/0"] };

/**
 * The plan as a first `pulumi preview` sends it: nothing exists yet, so every
 * output (ids, ARNs, generated passwords) is unknown, and so is every value
 * built from one (references, the database user-data that names its
 * volume); the engine says instead which resources each property depends on.
 */
export function asFirstPreview(plan: OfflinePlan, resources: StackResource[]): StackResource[] {
    const inputs = new Map(plan.resources.map((r) => [r.urn, r.inputs]));
    // An output equal to one of the resource's own inputs (an SSM parameter's id is its name) is known already.
    const outputs = resources.flatMap((r) => {
        const own = inputs.get(r.urn) ?? {};
        return Object.entries(r.props)
            .filter(([k, v]) => !(k in own) && typeof v === "string" && v.length >= 6 && !Object.values(own).includes(v))
            .map(([, v]) => ({ urn: r.urn, value: v as string }));
    });
    // ebsDevicePath drops the hyphen of the volume id.
    const derives = (s: string, v: string) => s.includes(v) || s.includes(v.replace("-", ""));
    const hide = (value: unknown, found: Set<string>): unknown => {
        if (typeof value === "string") {
            const from = outputs.filter((o) => derives(value, o.value));
            from.forEach((o) => found.add(o.urn));
            return from.length > 0 ? UNKNOWN : value;
        }
        if (Array.isArray(value)) return value.map((v) => hide(v, found));
        if (value !== null && typeof value === "object")
            return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, hide(v, found)]));
        return value;
    };
    return resources.map((r) => {
        const own = inputs.get(r.urn) ?? {};
        const propertyDependencies: Record<string, string[]> = {};
        const props: Record<string, unknown> = {};
        for (const [key, value] of Object.entries(r.props)) {
            if (!(key in own)) {
                props[key] = UNKNOWN;
                continue;
            }
            const found = new Set<string>();
            props[key] = hide(value, found);
            found.delete(r.urn);
            if (found.size > 0) propertyDependencies[key] = [...found];
        }
        // dependsOn stays a dependency; the hidden values add theirs.
        const dependencies = [...new Set([...r.dependencies, ...Object.values(propertyDependencies).flat()])];
        return { ...r, props, propertyDependencies, dependencies };
    });
}

export function planResourceNames(plan: OfflinePlan, type: string): string[] {
    return plan.resources.filter((r) => r.type === type).map((r) => r.name);
}
