/**
 * Policy-pack config files, the same JSON `pulumi preview --policy-pack-config`
 * takes: per policy an enforcement level, or an object with
 * `enforcementLevel` and the policy's own settings; `all` sets every
 * policy's level. Checked against the pack's schemas, so a typo fails with a
 * message instead of silently checking nothing.
 */
import * as fs from "fs";
import { EnforcementLevel, Policies } from "@pulumi/policy";
import { PolicyConfigJSONSchema } from "@pulumi/policy/schema";
import { UsageError } from "../preview/stackConfig";

export const enforcementLevels: readonly EnforcementLevel[] = ["advisory", "mandatory", "remediate", "disabled"];

export interface PolicySettings {
    enforcementLevel: EnforcementLevel;
    /** What `args.getConfig()` returns: the settings without the level, schema defaults filled in. */
    properties: Record<string, unknown>;
}

export type ResolvedConfig = Record<string, PolicySettings>;

function typeError(value: unknown, schema: PolicyConfigJSONSchema): string | undefined {
    const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
    const ok: Record<string, (v: unknown) => boolean> = {
        array: Array.isArray,
        integer: Number.isInteger,
        number: (v) => typeof v === "number",
        string: (v) => typeof v === "string",
        boolean: (v) => typeof v === "boolean",
        object: (v) => v !== null && typeof v === "object" && !Array.isArray(v),
    };
    if (type && ok[type] && !ok[type](value)) return `must be ${type === "array" || type === "integer" ? "an" : "a"} ${type}`;
    if (type === "array" && schema.items && typeof schema.items === "object" && !Array.isArray(schema.items)) {
        const items = schema.items;
        const bad = (value as unknown[]).find((v) => typeError(v, items) !== undefined);
        if (bad !== undefined) return `must be an array of ${items.type}s (${JSON.stringify(bad)} is not)`;
    }
    return undefined;
}

/** Edit distance, to suggest the policy a typo meant. */
function distance(a: string, b: string): number {
    let row = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
        const next = [i];
        for (let j = 1; j <= b.length; j++) next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
        row = next;
    }
    return row[b.length];
}

function level(value: unknown, where: string): EnforcementLevel {
    if (typeof value !== "string" || !(enforcementLevels as readonly string[]).includes(value)) {
        throw new UsageError(`${where}: enforcement level ${JSON.stringify(value)} is not one of ${enforcementLevels.join(", ")}`);
    }
    return value as EnforcementLevel;
}

/** Validates a parsed config file and resolves every policy's level and settings. */
export function resolvePolicyConfig(doc: unknown, policies: Policies, source = "policy config"): ResolvedConfig {
    if (doc === null || typeof doc !== "object" || Array.isArray(doc)) {
        throw new UsageError(`${source}: must be a JSON object of policy names, e.g. {"redundancy-web-tier": "mandatory"}`);
    }
    const entries = doc as Record<string, unknown>;
    const names = policies.map((p) => p.name);
    for (const key of Object.keys(entries)) {
        if (key !== "all" && !names.includes(key)) {
            const near = names.filter((n) => distance(n, key) <= 3);
            const hint = near.length > 0 ? `did you mean "${near[0]}"? ` : "";
            throw new UsageError(
                `${source}: "${key}" is not a policy of this pack; ${hint}Fix the name or remove the entry. Policies: ${names.join(", ")}`,
            );
        }
    }
    const all = entries.all === undefined ? undefined : level(entries.all, `${source}: all`);
    const resolved: ResolvedConfig = {};
    for (const policy of policies) {
        const entry = entries[policy.name];
        const schema = policy.configSchema?.properties ?? {};
        const defaults = Object.fromEntries(
            Object.entries(schema)
                .filter(([, s]) => s.default !== undefined)
                .map(([k, s]) => [k, s.default]),
        );
        let properties: Record<string, unknown> = {};
        let own: EnforcementLevel | undefined;
        if (typeof entry === "string") {
            own = level(entry, `${source}: ${policy.name}`);
        } else if (entry !== undefined) {
            if (entry === null || typeof entry !== "object" || Array.isArray(entry)) {
                throw new UsageError(
                    `${source}: ${policy.name} must be an enforcement level or an object with "enforcementLevel" and settings`,
                );
            }
            const { enforcementLevel, ...settings } = entry as Record<string, unknown>;
            if (enforcementLevel !== undefined) own = level(enforcementLevel, `${source}: ${policy.name}.enforcementLevel`);
            for (const [key, value] of Object.entries(settings)) {
                const s = schema[key];
                if (!s) {
                    throw new UsageError(
                        `${source}: ${policy.name} has no setting "${key}"; its settings: enforcementLevel, ${Object.keys(schema).join(", ")}`,
                    );
                }
                const problem = typeError(value, s);
                if (problem) throw new UsageError(`${source}: ${policy.name}.${key} ${problem}`);
            }
            properties = { ...defaults, ...settings };
        }
        resolved[policy.name] = { enforcementLevel: own ?? all ?? policy.enforcementLevel ?? "advisory", properties };
    }
    return resolved;
}

export function loadPolicyConfig(file: string, policies: Policies): ResolvedConfig {
    let text: string;
    try {
        text = fs.readFileSync(file, "utf8");
    } catch (err) {
        throw new UsageError(`cannot read policy config ${file}: ${(err as Error).message}`);
    }
    let doc: unknown;
    try {
        doc = JSON.parse(text);
    } catch (err) {
        throw new UsageError(`policy config ${file} is not valid JSON: ${(err as Error).message}`);
    }
    return resolvePolicyConfig(doc, policies, file);
}
