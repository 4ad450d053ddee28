/**
 * The offline plan's resources as the analyzer receives them from the
 * engine, then as policies see them (`PolicyResource`: properties behind the
 * same unknown-checking proxy, options, parent and dependencies linked).
 *
 * A stack policy sees a resource's outputs, not only its inputs: the plan
 * records both (outputs are what the mocks returned: ids, ARNs, generated values).
 */
import { PolicyResource, unknownCheckingProxy } from "@pulumi/policy";
import { OfflinePlan } from "../preview/plan";

/** One resource as the engine sends it to the analyzer (pulumirpc.AnalyzerResource). */
export interface StackResource {
    type: string;
    urn: string;
    name: string;
    props: Record<string, unknown>;
    options: { protect: boolean; ignoreChanges: string[]; deleteBeforeReplace?: boolean };
    parent?: string;
    dependencies: string[];
    /** URNs each property's value comes from. */
    propertyDependencies: Record<string, string[]>;
}

/** The plan as the analyzer's stack request: every value known, as after `pulumi up`; dependencies as far as the plan records them (dependsOn). */
export function stackResources(plan: OfflinePlan): StackResource[] {
    return plan.resources.map((r) => ({
        type: r.type,
        urn: r.urn,
        name: r.name,
        props: { ...r.outputs, ...r.inputs },
        options: r.options,
        parent: r.type === "pulumi:pulumi:Stack" ? undefined : r.parent,
        dependencies: r.options.dependsOn,
        propertyDependencies: {},
    }));
}

const isTypeOf = (type: string, cls: unknown) => (cls as { __pulumiType?: string } | undefined)?.__pulumiType === type;

/** What @pulumi/policy's analyzer builds from a stack request. */
export function policyResources(resources: StackResource[]): PolicyResource[] {
    const byUrn = new Map<string, PolicyResource>();
    const built = resources.map((r) => {
        const props = unknownCheckingProxy(r.props) as Record<string, unknown>;
        const resource: PolicyResource = {
            type: r.type,
            urn: r.urn,
            name: r.name,
            props,
            opts: {
                protect: r.options.protect,
                ignoreChanges: r.options.ignoreChanges,
                deleteBeforeReplace: r.options.deleteBeforeReplace,
                aliases: [],
                customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
                additionalSecretOutputs: [],
                ...(r.parent ? { parent: r.parent } : {}),
            },
            dependencies: [],
            propertyDependencies: {},
            isType: (cls) => isTypeOf(r.type, cls),
            asType: ((cls: unknown) => (isTypeOf(r.type, cls) ? props : undefined)) as PolicyResource["asType"],
        };
        byUrn.set(r.urn, resource);
        return resource;
    });
    const link = (urns: string[]) => urns.map((u) => byUrn.get(u)).filter((x): x is PolicyResource => x !== undefined);
    resources.forEach((r, k) => {
        const resource = built[k];
        const parent = r.parent ? byUrn.get(r.parent) : undefined;
        if (parent) resource.parent = parent;
        resource.dependencies = link(r.dependencies);
        resource.propertyDependencies = Object.fromEntries(
            Object.entries(r.propertyDependencies).map(([prop, urns]) => [prop, link(urns)]),
        );
    });
    return built;
}
