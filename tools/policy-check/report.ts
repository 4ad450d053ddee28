/** The check's output: a report laid out like `pulumi preview`'s "Policies:" section, or JSON. */
import { CheckResult } from "./check";
import { Violation } from "./evaluate";

/** "(aws:ec2/instance:Instance: lb-1)", as pulumi names a resource in a policy violation. */
function resourceLabel(urn: string): string {
    const m = /::([^:]*(?::[^:]+)*?)::([^:]+)$/.exec(urn);
    if (!m) return "";
    const type = m[1].split("$").pop() ?? m[1];
    return `  (${type}: ${m[2]})`;
}

const levelOrder = (v: Violation) => (v.enforcementLevel === "mandatory" ? 0 : 1);

export function summaryLine(r: CheckResult): string {
    const mandatory = r.violations.filter((v) => v.enforcementLevel === "mandatory").length;
    const n = r.violations.length;
    return `${n} violation${n === 1 ? "" : "s"} (${mandatory} mandatory, ${n - mandatory} advisory), ${r.exempted.length} exempted`;
}

export function renderReport(r: CheckResult, order: string[]): string {
    const out = [`Policy check of stack ${r.stack}, offline: ${r.resourceCount} resources planned under Pulumi mocks, no cloud`, ""];
    const sorted = [...r.violations].sort(
        (a, b) => levelOrder(a) - levelOrder(b) || order.indexOf(a.policy) - order.indexOf(b.policy) || a.urn.localeCompare(b.urn),
    );
    out.push("Policies:");
    const status = sorted.some((v) => v.enforcementLevel === "mandatory") ? "FAILED" : sorted.length > 0 ? "advisory findings" : "passed";
    out.push(`    ${r.pack}@v${r.version} (local: policies): ${status}`);
    for (const v of sorted) {
        out.push(`        - [${v.enforcementLevel}]  [severity: ${v.severity ?? "none"}]  ${v.policy}${resourceLabel(v.urn)}`);
        for (const line of [v.description, ...v.message.split("\n")]) out.push(`          ${line}`);
    }
    if (r.exempted.length > 0) {
        out.push("", "Exempted (by the exempt setting of the policy config):");
        for (const e of r.exempted) out.push(`    - ${e.policy}${resourceLabel(e.urn)}`, `      ${e.message}`);
    }
    if (r.notes.length > 0) out.push("", "Notes:", ...r.notes.map((n) => `    - ${n}`));
    out.push("", summaryLine(r));
    return out.join("\n");
}

export function reportJson(r: CheckResult) {
    return {
        violations: r.violations.map(({ policy, enforcementLevel, urn, message }) => ({ policy, enforcementLevel, urn, message })),
        exempted: r.exempted.map(({ policy, urn, message }) => ({ policy, urn, message })),
    };
}
