/**
 * What `pulumi up` would do to a running stack: two offline plans (the old
 * stack file and the new) compared per URN, with the engine's rules for the
 * options the program sets and the provider's ForceNew inputs that matter
 * here. A replaced resource gets a new id, so every resource whose inputs
 * hold that id changes too (an instance's readiness gate, its alarm, the
 * Elastic IP), as it would on AWS; the mocks' ids alone would hide that.
 */
import { OfflinePlan, PlannedResource } from "../tools/preview/plan";

export type Change = "create" | "update" | "replace" | "delete";

export interface ResourceChange {
    name: string;
    type: string;
    change: Change;
    /** Inputs whose value changes (for a replacement, the ones that force it). */
    keys: string[];
    /** For a replacement: the old resource is deleted before the new one is created. */
    deleteBeforeReplace?: boolean;
}

/** Inputs the provider cannot change in place (terraform-provider-aws schemas: ForceNew), for the types this program uses. */
const forceNew: Record<string, string[]> = {
    "aws:ec2/instance:Instance": ["ami", "subnetId", "privateIp", "keyName", "associatePublicIpAddress", "availabilityZone"],
    "aws:ebs/volume:Volume": ["availabilityZone"],
    "aws:ec2/volumeAttachment:VolumeAttachment": ["instanceId", "volumeId", "deviceName"],
    "aws:ssm/parameter:Parameter": ["name"],
    "aws:route53/record:Record": ["name", "type", "zoneId"],
    // pulumi-command: triggers are replaceOnChanges (provider/pkg/provider/common/inputs.go).
    "command:local:Command": ["triggers"],
};

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** Does `value` hold any of `ids` (exactly, or inside a string)? */
function mentions(value: unknown, ids: string[]): boolean {
    if (typeof value === "string") return ids.some((id) => value === id || value.includes(id));
    if (Array.isArray(value)) return value.some((v) => mentions(v, ids));
    if (value !== null && typeof value === "object") return Object.values(value).some((v) => mentions(v, ids));
    return false;
}

function replaces(r: PlannedResource, keys: string[]): string[] {
    const ignored = r.options.ignoreChanges;
    const effective = keys.filter((k) => !ignored.includes(k));
    const forcing = [...(forceNew[r.type] ?? []), ...r.options.replaceOnChanges];
    if (r.type === "aws:ec2/instance:Instance" && r.inputs.userDataReplaceOnChange === true) forcing.push("userData", "userDataBase64");
    return effective.filter((k) => forcing.includes(k));
}

export function diffPlans(before: OfflinePlan, after: OfflinePlan): ResourceChange[] {
    const old = new Map(before.resources.map((r) => [r.urn, r]));
    const changes = new Map<string, ResourceChange>();
    const changedKeys = new Map<string, Set<string>>();
    for (const r of after.resources) {
        const o = old.get(r.urn);
        if (!o) {
            changes.set(r.urn, { name: r.name, type: r.type, change: "create", keys: [] });
            continue;
        }
        const keys = [...new Set([...Object.keys(o.inputs), ...Object.keys(r.inputs)])].filter((k) => !same(o.inputs[k], r.inputs[k]));
        changedKeys.set(r.urn, new Set(keys));
    }
    // Replacements propagate: a new id changes every input that holds the old one.
    for (let again = true; again;) {
        again = false;
        const replacedIds = after.resources
            .filter((r) => changes.get(r.urn)?.change === "replace")
            .flatMap((r) => [r.outputs.id, r.outputs.arn].filter((v): v is string => typeof v === "string" && v.length > 0));
        for (const r of after.resources) {
            const keys = changedKeys.get(r.urn);
            if (!keys) continue;
            for (const [k, v] of Object.entries(r.inputs)) if (!keys.has(k) && mentions(v, replacedIds)) keys.add(k);
            const effective = [...keys].filter((k) => !r.options.ignoreChanges.includes(k)).sort();
            if (effective.length === 0) continue;
            const forcing = replaces(r, effective);
            const change: ResourceChange =
                forcing.length > 0
                    ? {
                          name: r.name,
                          type: r.type,
                          change: "replace",
                          keys: forcing.sort(),
                          deleteBeforeReplace: r.options.deleteBeforeReplace,
                      }
                    : { name: r.name, type: r.type, change: "update", keys: effective };
            if (!same(changes.get(r.urn), change)) {
                changes.set(r.urn, change);
                again = true;
            }
        }
    }
    const current = new Set(after.resources.map((r) => r.urn));
    for (const o of before.resources) {
        if (!current.has(o.urn)) changes.set(o.urn, { name: o.name, type: o.type, change: "delete", keys: [] });
    }
    return [...changes.values()].filter((c) => c.type !== "pulumi:pulumi:Stack").sort((a, b) => a.name.localeCompare(b.name));
}

/** One line per change, e.g. `replace web-1 (userData; delete first)`. */
export function describeChanges(changes: ResourceChange[]): string[] {
    return changes.map((c) => {
        const detail = [c.keys.join(", "), c.deleteBeforeReplace ? "delete first" : ""].filter(Boolean).join("; ");
        return `${c.change} ${c.name}${detail ? ` (${detail})` : ""}`;
    });
}

/**
 * The order in which `pulumi up` deletes what the new program no longer declares: the engine deletes a resource
 * before the resources it depends on (its inputs hold their id or ARN, it lists them in dependsOn, or it is their
 * child), running the deletions that do not depend on one another in parallel (pulumi/pulumi v3.248.0
 * `deployment_executor.go`, `performPostSteps`: the delete steps in reverse dependency order). Waves of names:
 * each wave starts once the one before it is done.
 */
export function deletionWaves(before: OfflinePlan, after: OfflinePlan): string[][] {
    const current = new Set(after.resources.map((r) => r.urn));
    let left = before.resources.filter((r) => !current.has(r.urn) && r.type !== "pulumi:pulumi:Stack");
    const dependsOn = (r: PlannedResource, d: PlannedResource) => {
        const ids = [d.outputs.id, d.outputs.arn].filter((v): v is string => typeof v === "string" && v.length > 0);
        return r !== d && (mentions(r.inputs, ids) || r.options.dependsOn.includes(d.urn) || r.parent === d.urn);
    };
    const waves: string[][] = [];
    while (left.length > 0) {
        // Nothing still standing depends on these: they go now.
        const wave = left.filter((d) => !left.some((r) => dependsOn(r, d)));
        if (wave.length === 0) throw new Error(`a dependency cycle among ${left.map((r) => r.name).join(", ")}`);
        waves.push(wave.map((r) => r.name).sort());
        left = left.filter((r) => !wave.includes(r));
    }
    return waves;
}
