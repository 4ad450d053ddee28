/**
 * Runs the pack's policy objects over a set of resources the way the
 * analyzer (@pulumi/policy's server.js) does: resource policies once per
 * resource, stack policies once over all of them, with the configured
 * enforcement level; `remediate` reports as `mandatory`, `disabled` skips.
 * A policy that reads an unknown value becomes a note, as the analyzer turns
 * it into an advisory "can't run during preview"; any other error is thrown.
 */
import { EnforcementLevel, Policies, PolicyResource, ResourceValidationArgs, Severity, StackValidationArgs } from "@pulumi/policy";
import { ExemptionSink } from "../../policies/lib/policy";
import { isUndecidable } from "../../policies/lib/unknowns";
import { ResolvedConfig } from "./config";

export interface Violation {
    policy: string;
    enforcementLevel: "advisory" | "mandatory";
    severity?: Severity;
    description: string;
    /** The stack's URN when the violation is about the stack as a whole. */
    urn: string;
    message: string;
}

export interface Exemption {
    policy: string;
    urn: string;
    message: string;
}

export interface Evaluation {
    violations: Violation[];
    exempted: Exemption[];
    /** Policies that could not run (a value unknown during preview). */
    notes: string[];
}

class NotApplicable extends Error {}
const notApplicable = (reason?: string): never => {
    throw new NotApplicable(reason);
};

const isTypeOf = (type: string, cls: unknown) => (cls as { __pulumiType?: string } | undefined)?.__pulumiType === type;

export async function evaluate(
    policies: Policies,
    resources: PolicyResource[],
    config: ResolvedConfig,
    stackUrn = "",
): Promise<Evaluation> {
    const result: Evaluation = { violations: [], exempted: [], notes: [] };
    const stackTags: ReadonlyMap<string, string> = new Map();
    for (const policy of policies) {
        const settings = config[policy.name] ?? { enforcementLevel: policy.enforcementLevel ?? "advisory", properties: {} };
        const configured: EnforcementLevel = settings.enforcementLevel;
        if (configured === "disabled") continue;
        const enforcementLevel = configured === "advisory" ? "advisory" : "mandatory";
        const common = {
            getConfig: <T extends object>() => ({ ...settings.properties }) as T,
            notApplicable,
            stackTags,
            reportExemption: (urn: string, message: string) => result.exempted.push({ policy: policy.name, urn, message }),
        } satisfies ExemptionSink & Record<string, unknown>;
        const run = async (about: string, fn: () => unknown) => {
            try {
                await fn();
            } catch (err) {
                if (err instanceof NotApplicable) return;
                if (isUndecidable(err)) {
                    result.notes.push(`can't run policy '${policy.name}' during preview${about}: ${(err as Error).message}`);
                    return;
                }
                throw new Error(`policy '${policy.name}' failed${about}: ${err instanceof Error ? err.message : String(err)}`);
            }
        };
        const report = (fallbackUrn: string) => (message: string, urn?: string) =>
            result.violations.push({
                policy: policy.name,
                enforcementLevel,
                severity: policy.severity,
                description: policy.description,
                urn: urn ?? fallbackUrn,
                message,
            });

        if ("validateStack" in policy && typeof policy.validateStack === "function") {
            const args: StackValidationArgs & ExemptionSink = { ...common, resources };
            await run("", () => policy.validateStack(args, report(stackUrn)));
        }
        if ("validateResource" in policy && policy.validateResource) {
            const validations = Array.isArray(policy.validateResource) ? policy.validateResource : [policy.validateResource];
            for (const r of resources) {
                const args: ResourceValidationArgs & ExemptionSink = {
                    ...common,
                    type: r.type,
                    props: r.props,
                    urn: r.urn,
                    name: r.name,
                    opts: r.opts,
                    isType: (cls) => isTypeOf(r.type, cls),
                    asType: ((cls: unknown) => (isTypeOf(r.type, cls) ? r.props : undefined)) as ResourceValidationArgs["asType"],
                };
                // As in the analyzer, a resource validation always reports against its own resource.
                for (const validate of validations) await run(` on ${r.name}`, () => validate(args, (message) => report(r.urn)(message)));
            }
        }
    }
    return result;
}
