/**
 * How this pack's policies are declared: shared metadata, configuration with
 * defaults and per-resource exemptions, and judgments that drop themselves
 * instead of guessing when a value is unknown during a preview.
 */
import {
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
} from "@pulumi/policy";
import { PolicyConfigJSONSchema } from "@pulumi/policy/schema";
import { Res, StackGraph } from "./resources";
import { isUndecidable } from "./unknowns";

/** The gaps the whiteboard designs list under "issues with this infrastructure", plus hardening beyond them. */
export const gaps = {
    spof: "single-point-of-failure",
    firewall: "no-firewall",
    https: "no-https",
    monitoring: "no-monitoring",
    hardening: "hardening",
} as const;
export type Gap = (typeof gaps)[keyof typeof gaps];

export interface PolicyMeta {
    /** kebab-case, unique in the pack. */
    name: string;
    /** What compliance looks like, in one sentence. */
    description: string;
    severity: Severity;
    gap: Gap;
    /** What to change, naming the stack config that closes the gap. */
    remediationSteps: string;
    /** Settings of this policy beyond `exempt`, as JSON schema with defaults. */
    config?: Record<string, PolicyConfigJSONSchema>;
}

export const exemptSchema: PolicyConfigJSONSchema = {
    type: "array",
    items: { type: "string" },
    default: [],
    description: "Resources this policy skips, by name (e.g. lb-sg) or URN. `npm run policy:check` lists what each exemption waived.",
};

/**
 * The offline checker adds this to the validation args to learn which
 * findings an exemption waived; the Pulumi engine has no such channel, so
 * under `pulumi preview` an exempt resource is simply not reported.
 */
export interface ExemptionSink {
    reportExemption?(urn: string, message: string): void;
}

/** A resource a finding is about; `undefined` means the stack as a whole. */
export type Target = Pick<Res, "urn" | "name"> | undefined;

export type PolicyConfig<C> = C & { exempt: string[] };

export interface Context<C> {
    config: PolicyConfig<C>;
    /** Reports a finding, unless its resource is exempt. */
    report(target: Target, message: string): void;
    /** Runs one judgment: its findings count only if it needed no value unknown during the preview. */
    judge(fn: () => void): void;
}

function configOf<C>(meta: PolicyMeta, args: { getConfig<T extends object>(): T }): PolicyConfig<C> {
    const schema: Record<string, PolicyConfigJSONSchema> = { exempt: exemptSchema, ...meta.config };
    // `getConfig()` is {} for a policy the config file does not name: defaults come from the schema.
    const defaults = Object.fromEntries(Object.entries(schema).map(([key, s]) => [key, s.default]));
    return { ...defaults, ...args.getConfig<object>() } as PolicyConfig<C>;
}

function context<C>(
    meta: PolicyMeta,
    args: (StackValidationArgs | ResourceValidationArgs) & ExemptionSink,
    reportViolation: ReportViolation,
): Context<C> {
    const config = configOf<C>(meta, args);
    const emit = (target: Target, message: string) => {
        if (target && (config.exempt.includes(target.name) || config.exempt.includes(target.urn))) {
            args.reportExemption?.(target.urn, message);
        } else {
            reportViolation(message, target?.urn);
        }
    };
    let pending: [Target, string][] | undefined;
    const report = (target: Target, message: string) => (pending ? pending.push([target, message]) : emit(target, message));
    return {
        config,
        report,
        judge(fn) {
            const outer = pending;
            const found: [Target, string][] = [];
            pending = found;
            try {
                fn();
            } catch (err) {
                if (isUndecidable(err)) return;
                throw err;
            } finally {
                pending = outer;
            }
            for (const [target, message] of found) report(target, message);
        },
    };
}

function metadata(meta: PolicyMeta) {
    return {
        name: meta.name,
        description: meta.description,
        severity: meta.severity,
        remediationSteps: meta.remediationSteps,
        tags: [meta.gap],
        enforcementLevel: "advisory" as const,
        configSchema: { properties: { exempt: exemptSchema, ...meta.config } },
    };
}

/**
 * A policy over the whole stack. Written over `args.resources` rather than the
 * `*OfType` helpers, which skip the callback when no resource of the type
 * exists: "no load balancer at all" must fail, not pass.
 */
export function stackPolicy<C = object>(meta: PolicyMeta, check: (stack: StackGraph, ctx: Context<C>) => void): StackValidationPolicy {
    return {
        ...metadata(meta),
        validateStack: (args: StackValidationArgs, reportViolation: ReportViolation) => {
            const ctx = context<C>(meta, args, reportViolation);
            ctx.judge(() => check(new StackGraph(args.resources as PolicyResource[]), ctx));
        },
    };
}

/** A policy over single resources of the given types, judged as the engine registers them. */
export function resourcePolicy<C = object>(
    meta: PolicyMeta,
    resourceTypes: readonly string[],
    check: (r: Res, ctx: Context<C>) => void,
): ResourceValidationPolicy {
    return {
        ...metadata(meta),
        validateResource: (args: ResourceValidationArgs, reportViolation: ReportViolation) => {
            if (!resourceTypes.includes(args.type)) return;
            const ctx = context<C>(meta, args, reportViolation);
            ctx.judge(() => check(args, ctx));
        },
    };
}

/** "a, b and c" (or "a, b or c") */
export function list(items: string[], conjunction = "and"): string {
    return items.length <= 1 ? (items[0] ?? "") : `${items.slice(0, -1).join(", ")} ${conjunction} ${items[items.length - 1]}`;
}
