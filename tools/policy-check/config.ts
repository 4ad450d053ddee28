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
import { parseDocument } from "yaml";
import { didYouMean } from "../../config";
import { UsageError } from "../stackFile";

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

function level(value: unknown, where: string): EnforcementLevel {
    if (typeof value !== "string" || !(enforcementLevels as readonly string[]).includes(value)) {
        throw new UsageError(`${where}: enforcement level ${JSON.stringify(value)} is not one of ${enforcementLevels.join(", ")}`);
    }
    return value as EnforcementLevel;
}

/** The level `all` sets: a level, or an object with only `enforcementLevel`, as Pulumi reads it (analyzer/config.go). */
function allLevel(value: unknown, source: string): EnforcementLevel | undefined {
    if (value === undefined || typeof value === "string") return value === undefined ? undefined : level(value, `${source}: all`);
    const { enforcementLevel, ...settings } = (value !== null && typeof value === "object" && !Array.isArray(value) ? value : {}) as Record<
        string,
        unknown
    >;
    if (enforcementLevel === undefined || Object.keys(settings).length > 0) {
        throw new UsageError(
            `${source}: all must be an enforcement level or {"enforcementLevel": ...} (settings belong to each policy), not ${JSON.stringify(value)}`,
        );
    }
    return level(enforcementLevel, `${source}: all.enforcementLevel`);
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
            throw new UsageError(
                `${source}: "${key}" is not a policy of this pack; ${didYouMean(key, names)}Fix the name or remove the entry. Policies: ${names.join(", ")}`,
            );
        }
    }
    const all = allLevel(entries.all, source);
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
    // Pulumi reads an empty file as no configuration.
    if (text.trim() === "") return resolvePolicyConfig({}, policies, file);
    let doc: unknown;
    try {
        doc = JSON.parse(text);
    } catch (err) {
        throw new UsageError(`policy config ${file} is not valid JSON: ${(err as Error).message}`);
    }
    // JSON.parse keeps the last of two equal keys without a word; JSON is YAML 1.2, whose parser reports them.
    const duplicate = parseDocument(text, { uniqueKeys: true }).errors.find((e) => e.code === "DUPLICATE_KEY");
    if (duplicate) {
        const key = /^"(?:[^"\\]|\\.)*"/.exec(text.slice(duplicate.pos[0]))?.[0] ?? "a key";
        const at = duplicate.linePos?.[0];
        throw new UsageError(
            `policy config ${file}: ${key} is given twice${at ? ` (again at line ${at.line})` : ""}, and Pulumi would silently keep the last; give it once`,
        );
    }
    return resolvePolicyConfig(doc, policies, file);
}
