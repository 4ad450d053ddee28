/** `npm run policy:check`: the report, the JSON, the exit codes, and the policy-config file it shares with `pulumi preview`. */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { StackValidationPolicy } from "@pulumi/policy";
import { policies } from "../../../policies/pack";
import { checkStack } from "../../../tools/policy-check/check";
import { evaluate } from "../../../tools/policy-check/evaluate";
import { loadPolicyConfig, resolvePolicyConfig } from "../../../tools/policy-check/config";
import { UsageError } from "../../../tools/stackFile";
import { devStackFile, tempDir } from "../../helpers";

const root = path.resolve(__dirname, "..", "..", "..");
// Each run starts ts-node and plans the stack: seconds each, more on a loaded machine.
jest.setTimeout(180000);

const dirs: string[] = [];
const configFile = (name: string, content: string) => {
    const dir = tempDir("policy-config");
    dirs.push(dir);
    const file = path.join(dir, name);
    fs.writeFileSync(file, content);
    return file;
};
afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

/** The script `npm run policy:check` runs (the first test goes through npm itself). */
function policyCheck(...args: string[]) {
    const r = spawnSync(process.execPath, ["-r", "ts-node/register/transpile-only", "tools/policy-check/cli.ts", ...args], {
        cwd: root,
        encoding: "utf8",
        timeout: 120000,
    });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr, output: `${r.stdout}${r.stderr}` };
}
const summary = (output: string) => output.split("\n").find((line) => /^\d+ violations? \(/.test(line));

describe("npm run policy:check", () => {
    test("dev: a report like pulumi preview's, every finding advisory, exit 0", () => {
        const r = spawnSync("npm", ["run", "--silent", "policy:check", "--", "--stack", "dev"], {
            cwd: root,
            encoding: "utf8",
            timeout: 120000,
        });
        expect(r.status).toBe(0);
        expect(r.stdout).toContain("Policies:\n    foobar-compliance@v0.1.0 (local: policies): advisory findings\n");
        expect(r.stdout).toContain(
            [
                "        - [advisory]  [severity: high]  redundancy-load-balancer  (aws:ec2/instance:Instance: lb-1)",
                "          The load balancer is not a single point of failure: at least two load-balancer instances in different availability zones, with a way to move traffic between them.",
                "          lb-1 is the only load balancer: when it fails, the whole site is down.",
            ].join("\n"),
        );
        expect(summary(r.stdout)).toBe("27 violations (0 mandatory, 27 advisory), 0 exempted");
    });

    test("--json: violations with policy, enforcement level, URN and message, and the exempted list", () => {
        const r = policyCheck("--stack", "dev", "--json");
        expect(r.status).toBe(0);
        const report = JSON.parse(r.stdout);
        expect(Object.keys(report)).toEqual(["violations", "exempted"]);
        expect(report.violations).toHaveLength(27);
        for (const v of report.violations) expect(Object.keys(v)).toEqual(["policy", "enforcementLevel", "urn", "message"]);
        expect(report.violations[0]).toEqual({
            policy: "redundancy-load-balancer",
            enforcementLevel: "advisory",
            urn: "urn:pulumi:dev::foobar::foobar:loadBalancer:LoadBalancer$aws:ec2/instance:Instance::lb-1",
            message: "lb-1 is the only load balancer: when it fails, the whole site is down.",
        });
        expect(report.exempted).toEqual([]);
    });

    test("with the all-mandatory config: exit 1", () => {
        const r = policyCheck("--stack", "dev", "--config", "policies/config/mandatory.json");
        expect(r.status).toBe(1);
        expect(r.output).toContain("foobar-compliance@v0.1.0 (local: policies): FAILED");
        expect(summary(r.output)).toBe("27 violations (27 mandatory, 0 advisory), 0 exempted");
    });

    test("exemptions from the config are listed, not counted; an exemption naming nothing is warned about", () => {
        const config = { "firewall-no-world-ingress": { enforcementLevel: "mandatory", exempt: ["web-sg", "db-sg", "old-sg"] } };
        const file = configFile("exempt.json", JSON.stringify(config));
        const human = policyCheck("--stack", "dev", "--config", file);
        expect(human.status).toBe(0);
        // In the program's order: the web tier is declared before the database.
        expect(human.output).toContain(
            "Exempted (by the exempt setting of the policy config):\n    - firewall-no-world-ingress  (aws:ec2/securityGroup:SecurityGroup: web-sg)\n",
        );
        expect(human.stderr).toContain('warning: firewall-no-world-ingress exempts "old-sg", which names no resource of stack dev');
        expect(summary(human.output)).toBe("25 violations (0 mandatory, 25 advisory), 2 exempted");
        const json = JSON.parse(policyCheck("--stack", "dev", "--config", file, "--json").stdout);
        expect(json.exempted.map((e: { policy: string; urn: string }) => `${e.policy} ${e.urn.split("::").pop()}`)).toEqual([
            "firewall-no-world-ingress web-sg",
            "firewall-no-world-ingress db-sg",
        ]);
    });

    test.each([
        [["--stack", "dev", "--verbose"], "Unknown option '--verbose'"],
        [["--json"], "--stack is required"],
        [["--stack", "nosuch"], "no stack file Pulumi.nosuch.yaml"],
        [["--stack", "dev", "--config", "a.json", "--config", "b.json"], "--config is given more than once; give it once"],
        // An unset variable in CI must not turn a mandatory gate advisory.
        [["--stack", "dev", "--config", ""], '--config "" names no file: give a policy config (e.g. policies/config/mandatory.json)'],
        [["--stack", "dev/x"], 'invalid stack name "dev/x": "/" at position 3 is not allowed; a stack name is 1 to 100 letters, digits'],
    ])("usage errors exit 2 with the message: %j", (args, message) => {
        const r = policyCheck(...args);
        expect(r.status).toBe(2);
        expect(r.stderr).toContain(`error: ${message}`);
    });

    test("a bad policy config exits 2 naming the fix", () => {
        const file = configFile("typo.json", JSON.stringify({ "firewall-no-world-ingres": "mandatory" }));
        const r = policyCheck("--stack", "dev", "--config", file);
        expect(r.status).toBe(2);
        expect(r.stderr).toContain(
            `error: ${file}: "firewall-no-world-ingres" is not a policy of this pack; did you mean "firewall-no-world-ingress"?`,
        );
    });
});

describe("program errors (exit 2 through runTool)", () => {
    test("an invalid stack config fails the check with the program's own message", async () => {
        await expect(checkStack(devStackFile({ firewall: "closed" }))).rejects.toThrow(
            'invalid config firewall="closed": must be one of strict, open',
        );
    });

    test("a policy that fails (other than on an unknown value) fails the check, naming the policy", async () => {
        const broken: StackValidationPolicy = {
            name: "broken",
            description: "always fails",
            validateStack: () => {
                throw new Error("boom");
            },
        };
        await expect(evaluate([broken], [], resolvePolicyConfig({}, [broken]))).rejects.toThrow("policy 'broken' failed: boom");
    });
});

describe("policy config files", () => {
    const resolve = (doc: unknown) => resolvePolicyConfig(doc, policies, "config.json");

    test("levels per policy, objects with settings, and `all`, as pulumi reads them", () => {
        const r = resolve({ all: "mandatory", "redundancy-web-tier": "advisory", "firewall-no-public-ip": { exempt: ["web-1"] } });
        expect(r["redundancy-web-tier"].enforcementLevel).toBe("advisory");
        expect(r["firewall-no-public-ip"]).toEqual({
            enforcementLevel: "mandatory",
            properties: { exempt: ["web-1"], privateRoles: ["web", "db"] },
        });
        expect(r["redundancy-load-balancer"]).toEqual({ enforcementLevel: "mandatory", properties: {} });
        expect(resolve({})["redundancy-load-balancer"].enforcementLevel).toBe("advisory");
    });

    test("`all` as an object with only enforcementLevel, and an empty file, as Pulumi reads them", () => {
        const levels = (r: ReturnType<typeof resolve>) => [...new Set(Object.values(r).map((p) => p.enforcementLevel))];
        expect(levels(resolve({ all: { enforcementLevel: "mandatory" } }))).toEqual(["mandatory"]);
        expect(levels(loadPolicyConfig(configFile("all.json", '{"all": {"enforcementLevel": "disabled"}}'), policies))).toEqual([
            "disabled",
        ]);
        expect(loadPolicyConfig(configFile("empty.json", "\n"), policies)).toEqual(resolve({}));
    });

    test.each([
        [
            '{"all": "advisory", "all": "mandatory"}',
            '"all" is given twice (again at line 1), and Pulumi would silently keep the last; give it once',
        ],
        [
            '{\n  "all": {\n    "enforcementLevel": "advisory",\n    "enforcementLevel": "mandatory"\n  }\n}',
            '"enforcementLevel" is given twice (again at line 4)',
        ],
    ])("a key given twice in %s is refused, not resolved to the last", (text, message) => {
        const file = configFile("duplicate.json", text);
        expect(() => loadPolicyConfig(file, policies)).toThrow(UsageError);
        expect(() => loadPolicyConfig(file, policies)).toThrow(`policy config ${file}: ${message}`);
    });

    test("a missing or malformed file is a usage error", () => {
        expect(() => loadPolicyConfig("policies/config/nope.json", policies)).toThrow(
            "cannot read policy config policies/config/nope.json",
        );
        const file = configFile("broken.json", "{ all: mandatory }");
        expect(() => loadPolicyConfig(file, policies)).toThrow(`policy config ${file} is not valid JSON`);
    });

    test.each([
        [[], "must be a JSON object of policy names"],
        [{ "no-such-policy": "advisory" }, '"no-such-policy" is not a policy of this pack; Fix the name'],
        [{ all: "strict" }, 'all: enforcement level "strict" is not one of advisory, mandatory, remediate, disabled'],
        [{ "https-redirect": { enforcementLevel: "warn" } }, 'https-redirect.enforcementLevel: enforcement level "warn" is not one of'],
        [
            { "https-redirect": { exempts: ["lb-1"] } },
            'https-redirect has no setting "exempts"; its settings: enforcementLevel, exempt, haproxyConfigPath',
        ],
        [{ "https-redirect": { exempt: "lb-1" } }, "https-redirect.exempt must be an array"],
        [
            { "firewall-database-from-web-only": { databasePorts: ["3306"] } },
            'firewall-database-from-web-only.databasePorts must be an array of integers ("3306" is not)',
        ],
        [{ "https-redirect": 3 }, "https-redirect must be an enforcement level or an object"],
        [{ all: { enforcementLevel: "mandatory", exempt: ["lb-1"] } }, 'all must be an enforcement level or {"enforcementLevel": ...}'],
        [{ all: {} }, 'all must be an enforcement level or {"enforcementLevel": ...}'],
        [{ all: { enforcementLevel: "strict" } }, 'all.enforcementLevel: enforcement level "strict" is not one of'],
    ])("rejects %j", (doc, message) => {
        expect(() => resolve(doc)).toThrow(UsageError);
        expect(() => resolve(doc)).toThrow(message);
    });
});
