/** The pack's shape: what `pulumi preview --policy-pack policies` loads, and the config files shipped with it. */
import * as fs from "fs";
import * as path from "path";
import { Policy } from "@pulumi/policy";
import { parse } from "yaml";
import { gaps } from "../../policies/lib/policy";
import { packName, policies } from "../../policies/pack";
import { loadPolicyConfig, resolvePolicyConfig } from "../../tools/policy-check/config";

const root = path.resolve(__dirname, "..", "..");
const configKeys = Object.keys((parse(fs.readFileSync(path.join(root, "Pulumi.yaml"), "utf8")) as { config: object }).config);

describe("the policies", () => {
    test("have unique kebab-case names", () => {
        const names = policies.map((p) => p.name);
        for (const name of names) expect(name).toMatch(/^[a-z0-9]+(-[a-z0-9]+)*$/);
        expect(new Set(names).size).toBe(names.length);
    });

    test("each is named after the module that defines it, and the pack has every module's policies", () => {
        const modules = fs
            .readdirSync(path.join(root, "policies"))
            .filter((f) => f.endsWith(".ts") && !["index.ts", "pack.ts"].includes(f))
            .map((f) => path.basename(f, ".ts"));
        const defined = modules.flatMap((module) => {
            const exported = Object.entries(require(path.join(root, "policies", module)) as Record<string, unknown>);
            const [[, list]] = exported.filter(([name]) => name === `${module}Policies`);
            return (list as Policy[]).map((p) => [module, p.name]);
        });
        for (const [module, name] of defined) expect(name.startsWith(`${module}-`)).toBe(true);
        expect(defined.map(([, name]) => name).sort()).toEqual(policies.map((p) => p.name).sort());
    });

    test.each(policies.map((p) => [p.name, p]))("%s: description, severity, gap tag, advisory by default, exempt setting", (_, p) => {
        expect(p.description.length).toBeGreaterThan(30);
        expect(["low", "medium", "high", "critical"]).toContain(p.severity);
        expect(Object.values(gaps)).toContain(p.tags?.[0]);
        expect(p.enforcementLevel).toBe("advisory");
        expect(p.configSchema?.properties.exempt).toMatchObject({ type: "array", items: { type: "string" }, default: [] });
        for (const s of Object.values(p.configSchema?.properties ?? {})) expect(s.default).toBeDefined();
    });

    test.each(policies.filter((p) => p.tags?.[0] !== gaps.hardening).map((p) => [p.name, p]))(
        "%s: its remediation names the stack config that closes the gap (or the exemption, when none does yet)",
        (_, p) => {
            const named = [...(p.remediationSteps ?? "").matchAll(/`([A-Za-z]+)\b[^`]*`/g)].map((m) => m[1]);
            expect(named.some((k) => configKeys.includes(k) || k === "exempt")).toBe(true);
        },
    );

    test("every gap of the seeds has policies", () => {
        const tagged = new Set(policies.map((p) => p.tags?.[0]));
        for (const gap of [gaps.spof, gaps.firewall, gaps.https, gaps.monitoring, gaps.hardening]) expect(tagged).toContain(gap);
    });
});

describe("the pack directory", () => {
    test("index.ts constructs the foobar-compliance pack from these policies, advisory by default", () => {
        const constructed: unknown[][] = [];
        jest.isolateModules(() => {
            jest.doMock("@pulumi/policy", () => ({
                ...jest.requireActual("@pulumi/policy"),
                PolicyPack: jest.fn((...args: unknown[]) => constructed.push(args)),
            }));
            require("../../policies/index");
        });
        expect(constructed).toHaveLength(1);
        const [name, args] = constructed[0] as [string, { policies: { name: string }[]; enforcementLevel: string }];
        expect([name, args.enforcementLevel]).toEqual([packName, "advisory"]);
        expect(args.policies.map((p) => p.name)).toEqual(policies.map((p) => p.name));
    });

    test("PulumiPolicy.yaml, and a package.json with the version the analyzer reads and no dependencies of its own", () => {
        expect(parse(fs.readFileSync(path.join(root, "policies", "PulumiPolicy.yaml"), "utf8"))).toMatchObject({ runtime: "nodejs" });
        const pkg = JSON.parse(fs.readFileSync(path.join(root, "policies", "package.json"), "utf8"));
        expect(pkg).toMatchObject({ version: expect.stringMatching(/^\d+\.\d+\.\d+$/), main: "index.ts" });
        expect(pkg.dependencies).toBeUndefined();
    });

    test.each([
        ["dev.json", "advisory"],
        ["mandatory.json", "mandatory"],
    ])("config/%s sets every policy %s with `all`", (file, level) => {
        const doc = JSON.parse(fs.readFileSync(path.join(root, "policies", "config", file), "utf8"));
        expect(doc).toEqual({ all: level });
        const resolved = loadPolicyConfig(path.join(root, "policies", "config", file), policies);
        expect(Object.keys(resolved).sort()).toEqual(policies.map((p) => p.name).sort());
        expect(new Set(Object.values(resolved).map((s) => s.enforcementLevel))).toEqual(new Set([level]));
    });
});

describe("README.md policy table", () => {
    const readme = fs.readFileSync(path.join(root, "README.md"), "utf8");
    const section = (heading: string) => readme.slice(readme.indexOf(heading)).split(/\n(?=#{2,3} )/)[0];
    const doc = section("### Policies and the gaps they flag") + section("### Configuration, enforcement and exemptions");

    test("its table has a row for every policy", () => {
        const rows = [...doc.matchAll(/^\| `([a-z0-9-]+)` \|/gm)].map((m) => m[1]);
        expect(rows).toEqual(policies.map((p) => p.name));
    });

    test("its example policy config is valid", () => {
        const example = /```json\n([\s\S]*?)```/.exec(doc)?.[1];
        expect(() => resolvePolicyConfig(JSON.parse(example ?? ""), policies)).not.toThrow();
    });
});
