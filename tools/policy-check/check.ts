/** The offline compliance check: plan a stack under mocks, evaluate the pack over the plan. */
import * as fs from "fs";
import * as path from "path";
import { Policies } from "@pulumi/policy";
import { packName, policies as packPolicies } from "../../policies/pack";
import { planProgram } from "../preview/plan";
import { projectRoot, StackFile } from "../stackFile";
import { ResolvedConfig, resolvePolicyConfig } from "./config";
import { evaluate, Evaluation } from "./evaluate";
import { policyResources, stackResources } from "./resources";

export interface CheckResult extends Evaluation {
    pack: string;
    version: string;
    stack: string;
    stackUrn: string;
    resourceCount: number;
    /** Exemptions that name no resource of the stack (a typo, or a resource since renamed). */
    unusedExemptions: { policy: string; entry: string }[];
}

export function packVersion(): string {
    return (JSON.parse(fs.readFileSync(path.join(projectRoot, "policies", "package.json"), "utf8")) as { version: string }).version;
}

/** Every policy at its default level, no settings: what `pulumi preview --policy-pack policies` uses without a config file. */
export function defaultPolicyConfig(policies: Policies = packPolicies): ResolvedConfig {
    return resolvePolicyConfig({}, policies);
}

export async function checkStack(
    file: StackFile,
    config: ResolvedConfig = defaultPolicyConfig(),
    policies: Policies = packPolicies,
    root = projectRoot,
): Promise<CheckResult> {
    const plan = await planProgram(file, root);
    const resources = policyResources(stackResources(plan));
    const stackUrn = resources.find((r) => r.type === "pulumi:pulumi:Stack")?.urn ?? "";
    const evaluation = await evaluate(policies, resources, config, stackUrn);
    const known = new Set(resources.flatMap((r) => [r.name, r.urn]));
    const unusedExemptions = Object.entries(config).flatMap(([policy, s]) =>
        ((s.properties.exempt as string[] | undefined) ?? []).filter((entry) => !known.has(entry)).map((entry) => ({ policy, entry })),
    );
    return {
        ...evaluation,
        pack: packName,
        version: packVersion(),
        stack: file.stack,
        stackUrn,
        resourceCount: resources.length,
        unusedExemptions,
    };
}
