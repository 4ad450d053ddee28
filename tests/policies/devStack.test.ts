/**
 * The pack over the real program: the `dev` stack (the whiteboard as drawn)
 * yields exactly the gaps the seeds list, each from the resource that has it,
 * and each config knob closes exactly its gap.
 */
import { packName, policies } from "../../policies/pack";
import { gaps } from "../../policies/lib/policy";
import { defaultPolicyConfig } from "../../tools/policy-check/check";
import { resolvePolicyConfig } from "../../tools/policy-check/config";
import { evaluate, Evaluation } from "../../tools/policy-check/evaluate";
import { policyResources, stackResources } from "../../tools/policy-check/resources";
import { planProgram } from "../../tools/preview/plan";
import { devStackFile } from "../helpers";
import { asFirstPreview } from "./helpers";

/**
 * Every violation of `dev`, and the gap of the seeds ("issues with this
 * infrastructure") it represents. The README holds the same table.
 */
const devFindings: [policy: string, resource: string, gap: string][] = [
    ["redundancy-load-balancer", "lb-1", gaps.spof], // "If the load balancer fails, the entire site becomes inaccessible"
    ["redundancy-database-write-failover", "db-primary", gaps.spof], // "Primary Database: if Primary fails, no writes possible"
    ["firewall-no-world-ingress", "db-sg", gaps.firewall], // "No firewall: servers exposed directly to internet attacks"
    ["firewall-no-world-ingress", "web-sg", gaps.firewall],
    ["firewall-web-from-load-balancer-only", "web-sg", gaps.firewall],
    ["firewall-database-from-web-only", "db-sg", gaps.firewall],
    ["firewall-no-public-ip", "db-primary", gaps.firewall],
    ["firewall-no-public-ip", "db-replica-1", gaps.firewall],
    ["firewall-no-public-ip", "web-1", gaps.firewall],
    ["firewall-no-public-ip", "web-2", gaps.firewall],
    ["https-tls-termination", "lb-1", gaps.https], // "No HTTPS: data travels unencrypted"
    ["https-tls-termination", "lb-sg", gaps.https],
    ["https-redirect", "lb-1", gaps.https],
    // Not a seed gap, but the same single load balancer: a change that replaces it (delete-first, its address is fixed) is an outage.
    ["rollout-replacement-keeps-a-server", "lb-1", gaps.hardening],
    ...["db-primary", "db-replica-1", "lb-1", "web-1", "web-2"].flatMap((i): [string, string, string][] => [
        ["monitoring-detailed", i, gaps.monitoring], // "Can't detect when servers fail"
        ["monitoring-status-check-alarm", i, gaps.monitoring], // "No alerts when issues occur"
    ]),
    // "No monitoring": nothing sees a stopped service, nothing alerts on it, nobody is told.
    ["monitoring-scraper-coverage", "foobar-dev", gaps.monitoring],
    ["monitoring-alert-rules", "foobar-dev", gaps.monitoring],
    ["monitoring-alert-receiver", "foobar-dev", gaps.monitoring],
];

/** Stack-level monitoring findings need every instance's user-data: in a first preview the database's is unknown. */
const needsEveryUserData = ["monitoring-scraper-coverage", "monitoring-alert-rules", "monitoring-alert-receiver"];

const variants = {
    dev: {},
    firewall: { firewall: "strict" },
    https: { https: "self-signed" },
    monitoring: { monitoring: "true", alarmEmail: "ops@foobar.com" },
    monitoringWithoutEmail: { monitoring: "true" },
    closed: { firewall: "strict", https: "self-signed", monitoring: "true", alarmEmail: "ops@foobar.com" },
    // SSH open to the world needs saying so (allowSshFromAnywhere); the policy still flags it.
    // A Galera cluster in place of the primary/replica pair (replicaCount is refused with it).
    galera: { database: "galera", replicaCount: "" },
    regressed: { webCount: "1", dbDeletionProtection: "false", adminCidr: "0.0.0.0/0", allowSshFromAnywhere: "true" },
};
type Variant = keyof typeof variants;

const results = {} as Record<Variant | "devFirstPreview" | "closedFirstPreview", Evaluation>;
const key = (v: { policy: string; urn: string }) => `${v.policy} ${v.urn.split("::").pop()}`;
const found = (e: Evaluation) => e.violations.map(key).sort();
const policyOf = (name: string) => policies.find((p) => p.name === name)!;

beforeAll(async () => {
    for (const [name, overrides] of Object.entries(variants)) {
        // One plan at a time: the Pulumi runtime is process-global.
        const plan = await planProgram(devStackFile(overrides));
        const resources = stackResources(plan);
        const stackUrn = resources[0].urn;
        results[name as Variant] = await evaluate(policies, policyResources(resources), defaultPolicyConfig(), stackUrn);
        if (name === "dev" || name === "closed") {
            const preview = policyResources(asFirstPreview(plan, resources));
            results[`${name}FirstPreview` as "devFirstPreview"] = await evaluate(policies, preview, defaultPolicyConfig(), stackUrn);
        }
    }
}, 120000);

describe("the dev stack (the whiteboard as drawn)", () => {
    test("yields exactly the expected violations, each from the resource that has the gap", () => {
        expect(found(results.dev)).toEqual(devFindings.map(([p, r]) => `${p} ${r}`).sort());
        expect(results.dev.notes).toEqual([]);
        expect(results.dev.exempted).toEqual([]);
    });

    test("each violation's policy is tagged with the seed gap it represents, and every gap of the seeds is reported", () => {
        for (const [policy, , gap] of devFindings) expect([policy, policyOf(policy).tags]).toEqual([policy, [gap]]);
        expect(new Set(devFindings.map(([, , gap]) => gap))).toEqual(
            new Set([gaps.spof, gaps.firewall, gaps.https, gaps.monitoring, gaps.hardening]),
        );
    });

    test("every violation is advisory by default, so the check passes", () => {
        expect(results.dev.violations.every((v) => v.enforcementLevel === "advisory")).toBe(true);
    });

    test("with every policy mandatory, every violation is", async () => {
        const plan = await planProgram(devStackFile());
        const mandatory = resolvePolicyConfig({ all: "mandatory" }, policies);
        const r = await evaluate(policies, policyResources(stackResources(plan)), mandatory);
        expect(r.violations.map((v) => v.enforcementLevel)).toEqual(devFindings.map(() => "mandatory"));
    });
});

describe("each config knob closes exactly its gap", () => {
    const without = (prefix: string) => found(results.dev).filter((f) => !f.startsWith(prefix));

    test("firewall: strict closes every firewall finding", () => expect(found(results.firewall)).toEqual(without("firewall-")));
    test("https: self-signed closes every HTTPS finding", () => expect(found(results.https)).toEqual(without("https-")));
    test("monitoring: true with alarmEmail closes every monitoring finding", () =>
        expect(found(results.monitoring)).toEqual(without("monitoring-")));

    test("monitoring without alarmEmail: a preview plans the alerts to the stand-in (pulumi up refuses the stack), so no gap shows", () => {
        // Alarms nobody receives cannot reach AWS any more; tests/policies/monitoring.test.ts holds the policy to that case.
        expect(found(results.monitoringWithoutEmail)).toEqual(without("monitoring-"));
    });

    test("database: galera closes the write-failover finding, and changes nothing else but the database servers' names", () => {
        const outsideDb = (e: Evaluation) => found(e).filter((f) => !/ db-(primary|replica-\d|\d)$/.test(f));
        expect(found(results.galera).filter((f) => f.startsWith("redundancy-database-write-failover"))).toEqual([]);
        expect(outsideDb(results.galera)).toEqual(
            outsideDb(results.dev).filter((f) => !f.startsWith("redundancy-database-write-failover")),
        );
        // The nodes carry the whiteboard's other database gaps, as the primary and replica did.
        expect(found(results.galera)).toEqual(expect.arrayContaining(["firewall-no-public-ip db-3", "monitoring-detailed db-3"]));
    });

    test("all closed, only the two single points of failure no config builds yet remain", () => {
        expect(found(results.closed)).toEqual([
            "redundancy-database-write-failover db-primary",
            "redundancy-load-balancer lb-1",
            "rollout-replacement-keeps-a-server lb-1",
        ]);
    });

    test("regressions are caught: one web server, unprotected databases, SSH open to the world", () => {
        const added = found(results.regressed).filter((f) => !found(results.dev).includes(f));
        expect(added).toEqual(
            [
                "redundancy-web-tier web-1",
                "rollout-replacement-keeps-a-server web-1",
                "hygiene-database-protection db-primary",
                "hygiene-database-protection db-primary-data",
                "hygiene-database-protection db-replica-1",
                "hygiene-database-protection db-replica-1-data",
                "firewall-admin-ports-closed db-sg",
                "firewall-admin-ports-closed lb-sg",
                "firewall-admin-ports-closed web-sg",
                "firewall-no-world-ingress lb-sg",
            ].sort(),
        );
    });
});

describe("a first preview, where nothing exists yet and every id is unknown", () => {
    test("dev: the same verdicts, except those that need the database's user-data, which names a volume not yet created", () => {
        expect(results.devFirstPreview.notes).toEqual([]);
        expect(found(results.devFirstPreview)).toEqual(
            found(results.dev).filter(
                (f) => f !== "redundancy-database-write-failover db-primary" && !needsEveryUserData.includes(f.split(" ")[0]),
            ),
        );
    });

    test("closed: references resolve through dependencies, so nothing is flagged falsely", () => {
        expect(results.closedFirstPreview.notes).toEqual([]);
        expect(found(results.closedFirstPreview)).toEqual(["redundancy-load-balancer lb-1", "rollout-replacement-keeps-a-server lb-1"]);
    });
});

test("the pack is the one the report names", () => {
    expect(packName).toBe("foobar-compliance");
});
