/** Prints an offline plan the way a user reads `pulumi preview`: a resource tree, key inputs, decoded user-data. */
import { OfflinePlan, PlannedResource } from "./plan";

const hiddenInputs = new Set(["tags", "tagsAll", "__defaults", "userData", "assumeRolePolicy", "policy", "value", "result"]);

function summarize(value: unknown): string | undefined {
    if (value === undefined || value === null || value === "") return undefined;
    if (typeof value !== "object") return String(value);
    const text = JSON.stringify(value);
    return text.length <= 100 ? text : undefined;
}

function ruleLine(rule: Record<string, unknown>): string {
    const ports = rule.fromPort === rule.toPort ? `${rule.fromPort}` : `${rule.fromPort}-${rule.toPort}`;
    const sources = [
        ...((rule.cidrBlocks as string[]) ?? []),
        ...((rule.ipv6CidrBlocks as string[]) ?? []),
        ...((rule.securityGroups as string[]) ?? []).map((g) => `sg:${g}`),
        ...(rule.self ? ["self"] : []),
    ];
    return `${rule.protocol}/${ports} ${sources.join(", ")}${rule.description ? `  (${rule.description})` : ""}`;
}

function details(r: PlannedResource): string[] {
    const lines: string[] = [];
    for (const [key, value] of Object.entries(r.inputs).sort(([a], [b]) => a.localeCompare(b))) {
        if (hiddenInputs.has(key)) continue;
        if ((key === "ingress" || key === "egress") && Array.isArray(value)) {
            lines.push(`${key}:`, ...value.map((rule) => `  ${ruleLine(rule as Record<string, unknown>)}`));
            continue;
        }
        const text = summarize(value);
        if (text !== undefined) lines.push(`${key}: ${text}`);
    }
    if (isPlainParameter(r.type, r.inputs)) {
        // Not a secret: the HAProxy configuration the load balancer installs, which a reviewer should see change.
        const text = String(r.inputs.value);
        lines.push(
            `value: (${Buffer.byteLength(text)} bytes)`,
            ...text
                .trimEnd()
                .split("\n")
                .map((l) => `  | ${l}`),
        );
    } else if (r.type.startsWith("aws:ssm/parameter") || r.type.startsWith("random:") || r.type.startsWith("tls:index/privateKey")) {
        lines.push("value: [secret]");
    }
    if (r.options.protect) lines.push("protect: true");
    if (r.options.ignoreChanges.length > 0) lines.push(`ignoreChanges: ${r.options.ignoreChanges.join(", ")}`);
    if (typeof r.inputs.userData === "string") {
        lines.push(
            `userData: (${Buffer.byteLength(r.inputs.userData)} bytes, decoded)`,
            ...r.inputs.userData
                .trimEnd()
                .split("\n")
                .map((l) => `  | ${l}`),
        );
    }
    return lines;
}

export function renderPlan(plan: OfflinePlan): string {
    const children = new Map<string | undefined, PlannedResource[]>();
    for (const r of plan.resources) {
        const key = r.type === "pulumi:pulumi:Stack" ? undefined : r.parent;
        children.set(key, [...(children.get(key) ?? []), r]);
    }
    for (const list of children.values()) list.sort((a, b) => a.type.localeCompare(b.type) || a.name.localeCompare(b.name));

    const out = [`Previewing update (${plan.stack}) offline: Pulumi mocks stand in for AWS, nothing is created`, ""];
    out.push(`     ${"Type".padEnd(62)} ${"Name".padEnd(36)} Plan`);
    const walk = (r: PlannedResource, prefix: string, last: boolean, depth: number) => {
        const branch = depth === 0 ? "" : `${prefix}${last ? "└─ " : "├─ "}`;
        out.push(` +   ${(branch + r.type).padEnd(62)} ${r.name.padEnd(36)} create`);
        const childPrefix = depth === 0 ? "" : `${prefix}${last ? "   " : "│  "}`;
        for (const line of details(r)) out.push(`     ${childPrefix}${depth === 0 ? "" : "   "}    ${line}`);
        const kids = children.get(r.urn) ?? [];
        kids.forEach((k, i) => walk(k, childPrefix, i === kids.length - 1, depth + 1));
    };
    for (const root of children.get(undefined) ?? []) walk(root, "", true, 0);

    out.push("", "Outputs:");
    for (const [k, v] of Object.entries(plan.outputs)) out.push(`    ${k}: ${JSON.stringify(v)}`);
    out.push("", "Resources:", `    + ${plan.resources.length} to create`);
    return out.join("\n");
}

/** The `--json` shape: resources with user-data decoded in `inputs`, and the stack outputs. */
export function planJson(plan: OfflinePlan) {
    return {
        resources: plan.resources.map(({ urn, type, name, parent, inputs }) => ({
            urn,
            type,
            name,
            parent,
            inputs: maskSecrets(type, inputs),
        })),
        outputs: plan.outputs,
    };
}

/** A String SSM parameter holds no secret; SecureStrings (and anything else) do. */
function isPlainParameter(type: string, inputs: Record<string, unknown>): boolean {
    return type.startsWith("aws:ssm/parameter") && inputs.type === "String" && typeof inputs.value === "string";
}

/** Secret values (mocked) are never printed, even offline. */
function maskSecrets(type: string, inputs: Record<string, unknown>): Record<string, unknown> {
    if (type.startsWith("aws:ssm/parameter") && !isPlainParameter(type, inputs)) return { ...inputs, value: "[secret]" };
    return inputs;
}
