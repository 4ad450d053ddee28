/** The offline preview, as a user runs it. */
import * as fs from "fs";
import * as path from "path";
import { planStack } from "../../../tools/preview/plan";
import { run, tempDir } from "../../helpers";

const root = path.join(__dirname, "..", "..", "..");
const preview = (...args: string[]) =>
    run("npx", ["ts-node", "--transpile-only", path.join(root, "tools/preview/cli.ts"), ...args], { cwd: root });

test("--json: component resources with their children, user-data decoded, outputs", () => {
    const result = preview("--stack", "dev", "--json");
    expect(result.status).toBe(0);
    const plan = JSON.parse(result.stdout);
    const urnOf = (type: string) => plan.resources.find((r: { type: string }) => r.type === type).urn;
    for (const [component, child] of [
        ["foobar:loadBalancer:LoadBalancer", "lb-1"],
        ["foobar:webTier:WebTier", "web-2"],
        ["foobar:database:Database", "db-replica-1"],
    ]) {
        const instance = plan.resources.find((r: { name: string }) => r.name === child);
        expect(instance).toMatchObject({ type: "aws:ec2/instance:Instance", parent: urnOf(component) });
        expect(instance.inputs.userData).toMatch(/^#cloud-config\n/);
        expect(Object.keys(instance)).toEqual(["urn", "type", "name", "parent", "inputs"]);
    }
    // SecureStrings are masked; the one String parameter, the HAProxy configuration, is shown.
    for (const p of plan.resources.filter((r: { type: string }) => r.type === "aws:ssm/parameter:Parameter"))
        expect(p.inputs.value).toEqual(p.inputs.type === "SecureString" ? "[secret]" : expect.stringMatching(/^# Rendered by the foobar/));
    expect(plan.outputs).toHaveProperty("url");
}, 60000);

test("the tree output shows types, names, key inputs and decoded user-data", () => {
    const result = preview("--stack", "dev");
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/[├└]─ foobar:webTier:WebTier\s+web\s+create/);
    expect(result.stdout).toMatch(/instanceType: t3\.small/);
    expect(result.stdout).toMatch(/\|\s+backend web/);
    expect(result.stdout).toMatch(/Resources:\n\s+\+ \d+ to create/);
}, 60000);

test.each([
    [["--stack", "nosuch"], /no stack file Pulumi\.nosuch\.yaml; stacks in this project: .*dev/],
    [[], /--stack is required/],
    [["--stack", "dev", "--frobnicate"], /Unknown option '--frobnicate'/],
])(
    "%j exits 2 with a message naming the fix",
    (args, message) => {
        const result = preview(...args);
        expect(result.status).toBe(2);
        expect(result.output).toMatch(message);
    },
    60000,
);

describe("any stack file a user adds", () => {
    const dir = tempDir("stacks");
    for (const f of ["Pulumi.yaml"]) fs.copyFileSync(path.join(root, f), path.join(dir, f));
    fs.symlinkSync(path.join(root, "index.ts"), path.join(dir, "index.ts"));
    const stack = (name: string, config: Record<string, string | number>) =>
        fs.writeFileSync(
            path.join(dir, `Pulumi.${name}.yaml`),
            `config:\n${Object.entries(config)
                .map(([k, v]) => `  ${k}: ${v}\n`)
                .join("")}`,
        );

    test("plans with its own counts", async () => {
        stack("staging", {
            "aws:region": "us-east-2",
            "foobar:amiRelease": "20250316-2053",
            "foobar:webCount": 4,
            "foobar:replicaCount": 2,
        });
        const plan = await planStack("staging", dir);
        const roles = plan.resources
            .filter((r) => r.type === "aws:ec2/instance:Instance")
            .map((r) => (r.inputs.tags as { Role: string }).Role);
        expect(roles.filter((r) => r === "web")).toHaveLength(4);
        expect(roles.filter((r) => r === "db")).toHaveLength(3);
        expect(plan.resources.find((r) => r.name === "lb-1")!.inputs.userData).toMatch(/AWS_DEFAULT_REGION="us-east-2"/);
    });

    test("a bad value fails before any resource is registered, naming the key", async () => {
        stack("broken", { "aws:region": "us-east-2", "foobar:amiRelease": "20250316-2053", "foobar:replicaCount": 9 });
        await expect(planStack("broken", dir)).rejects.toThrow(/replicaCount="9": must be a whole number from 0 to 5/);
    });
});
