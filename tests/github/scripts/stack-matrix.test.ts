// The per-stack jobs take their matrix from the stack files Pulumi reads. These tests run the workflows' own steps (the `run:` text taken from
// the workflow files) here, with $GITHUB_OUTPUT as on a runner, and compare
// the result with the stack files found independently.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { policies } from "../../../policies/pack";
import { loadPolicyConfig } from "../../../tools/policy-check/config";
import { REPO_ROOT, StackEntry, jobOf, loadWorkflow, must, runStep, stackFilesIn, stackMatrixModule, stepById } from "../helpers";

const prWorkflow = loadWorkflow("pull-request.yml");
const deployWorkflow = loadWorkflow("deploy.yml");
/** The `run:` of the matrix step of the pull-request workflow. */
const matrixStep = must(stepById(jobOf(prWorkflow, "stacks"), "matrix").run, "matrix step run");
/** The `run:` of the deploy workflow's stack resolution. */
const resolveStep = must(stepById(jobOf(deployWorkflow, "up"), "stack").run, "resolve step run");

function matrixOf(outputs: Record<string, string>): StackEntry[] {
    const m = JSON.parse(must(outputs.matrix, "matrix output")) as { include: StackEntry[] };
    return m.include;
}

describe("stack matrix of this repository", () => {
    test("the matrix step lists exactly the stack files present", () => {
        const r = runStep(matrixStep, { cwd: REPO_ROOT });
        expect(r.stderr).toBe("");
        expect(r.status).toBe(0);
        const expected = stackFilesIn(REPO_ROOT);
        expect(expected).toContain("dev");
        const include = matrixOf(r.outputs);
        expect(include.map((e) => e.stack)).toEqual(expected);
        expect(JSON.parse(must(r.outputs.stacks, "stacks output"))).toEqual(expected);
        expect(r.outputs.count).toBe(String(expected.length));
        // the same derivation as the module the test can call directly
        expect(include).toEqual(stackMatrixModule().stackEntries(REPO_ROOT));
    });

    test("every stack gets a policy config file that exists", () => {
        for (const e of stackMatrixModule().stackEntries(REPO_ROOT)) {
            expect([e.stack, fs.existsSync(path.join(REPO_ROOT, e.policyConfig))]).toEqual([e.stack, true]);
            const own = `policies/config/${e.stack}.json`;
            expect(e.policyConfig).toBe(fs.existsSync(path.join(REPO_ROOT, own)) ? own : "policies/config/dev.json");
        }
    });

    test("prod's PR check and deploy gate are mandatory: every policy of the pack, from prod's own config", () => {
        const prod = must(
            stackMatrixModule()
                .stackEntries(REPO_ROOT)
                .find((e) => e.stack === "prod"),
            "prod entry",
        );
        expect(prod.policyConfig).toBe("policies/config/prod.json");
        const levels = Object.values(loadPolicyConfig(path.join(REPO_ROOT, prod.policyConfig), policies)).map((p) => p.enforcementLevel);
        expect(levels).toHaveLength(policies.length);
        expect(new Set(levels)).toEqual(new Set(["mandatory"]));
    });

    test("the matrix output is one line (a valid $GITHUB_OUTPUT value)", () => {
        const r = runStep(matrixStep, { cwd: REPO_ROOT });
        expect(r.outputs.matrix).not.toContain("\n");
        expect(r.stdout.split("\n").filter((l) => l.startsWith("matrix=")).length).toBe(1);
    });
});

describe("stack matrix in a scratch repository", () => {
    let dir: string;
    const write = (file: string, text: string) => fs.writeFileSync(path.join(dir, file), text);

    beforeEach(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "stack-matrix-"));
        // The script reads stacks with tools/stackFile.ts from the repository (node follows the link), in the scratch directory.
        fs.symlinkSync(path.join(REPO_ROOT, ".github"), path.join(dir, ".github"));
        fs.mkdirSync(path.join(dir, "policies", "config"), { recursive: true });
        write("policies/config/dev.json", "{}\n");
        write("Pulumi.yaml", "name: scratch\nruntime: nodejs\n");
        write("Pulumi.dev.yaml", "config:\n  aws:region: eu-west-1\n");
    });

    afterEach(() => {
        fs.rmSync(dir, { recursive: true, force: true });
    });

    test("adding a stack file adds the stack to the matrix, no workflow edit needed", () => {
        const before = runStep(matrixStep, { cwd: dir });
        expect(before.status).toBe(0);
        expect(matrixOf(before.outputs).map((e) => e.stack)).toEqual(["dev"]);

        write("Pulumi.prod.yaml", 'config:\n  "aws:region": "us-west-2" # prod\n');
        write("Pulumi.staging-eu.yaml", "config:\n  scratch:instanceType: t3.micro\n");
        write("policies/config/prod.json", "{}\n");
        // not stack files
        write("Pulumi.dev.yaml.bak", "");
        fs.mkdirSync(path.join(dir, "Pulumi.dir.yaml"));

        const after = runStep(matrixStep, { cwd: dir });
        expect(after.stdout).not.toContain("::error");
        expect(after.status).toBe(0);
        expect(stackFilesIn(dir)).toEqual(["dev", "prod", "staging-eu"]);
        expect(matrixOf(after.outputs)).toEqual([
            { stack: "dev", file: "Pulumi.dev.yaml", policyConfig: "policies/config/dev.json", region: "eu-west-1" },
            { stack: "prod", file: "Pulumi.prod.yaml", policyConfig: "policies/config/prod.json", region: "us-west-2" },
            { stack: "staging-eu", file: "Pulumi.staging-eu.yaml", policyConfig: "policies/config/dev.json", region: "" },
        ]);
        expect(JSON.parse(must(after.outputs.stacks, "stacks output"))).toEqual(["dev", "prod", "staging-eu"]);
    });

    test("a project whose file is Pulumi.yml has Pulumi.<stack>.yml stacks", () => {
        fs.renameSync(path.join(dir, "Pulumi.yaml"), path.join(dir, "Pulumi.yml"));
        fs.renameSync(path.join(dir, "Pulumi.dev.yaml"), path.join(dir, "Pulumi.dev.yml"));
        const r = runStep(matrixStep, { cwd: dir });
        expect(r.status).toBe(0);
        expect(matrixOf(r.outputs)).toEqual([
            { stack: "dev", file: "Pulumi.dev.yml", policyConfig: "policies/config/dev.json", region: "eu-west-1" },
        ]);
        expect(matrixOf(r.outputs).map((e) => e.stack)).toEqual(stackFilesIn(dir, ".yml"));
    });

    test.each([
        // Pulumi reads Pulumi.<stack> with the project file's extension: beside Pulumi.yaml, a .yml is never read.
        ["Pulumi.qa.yml", "config:\n  aws:region: eu-west-1\n", "Pulumi.qa.yml is never read by Pulumi: .* rename it to Pulumi.qa.yaml"],
        [
            "Pulumi.qa.yaml",
            "config:\n  aws:regoin: eu-west-1\n",
            'Pulumi.qa.yaml: aws:regoin is not a setting of the aws provider.*did you mean "aws:region"',
        ],
        ["Pulumi.qa.yaml", "confg:\n  aws:region: eu-west-1\n", 'Pulumi.qa.yaml: "confg" is not a stack-file key; did you mean "config"'],
    ])("%s that Pulumi would ignore or misread fails the job with an annotation on the file", (file, text, message) => {
        write(file, text);
        const r = runStep(matrixStep, { cwd: dir });
        expect(r.status).toBe(1);
        expect(r.stdout).toMatch(new RegExp(`^::error file=${file.replace(/\./g, "\\.")}::${message}`, "m"));
        expect(r.outputs.matrix).toBeUndefined();
    });

    test("no stack file at all fails the matrix job with an error annotation", () => {
        fs.rmSync(path.join(dir, "Pulumi.dev.yaml"));
        const r = runStep(matrixStep, { cwd: dir });
        expect(r.status).toBe(1);
        expect(r.stdout).toContain("::error::");
        expect(r.outputs.matrix).toBeUndefined();
    });

    test("the deploy job resolves a dispatched stack only when its stack file exists", () => {
        write("Pulumi.prod.yaml", "config:\n  aws:region: us-west-2\n");
        write("policies/config/prod.json", "{}\n");

        const prod = runStep(resolveStep, { cwd: dir, env: { STACK: "prod" } });
        expect(prod.status).toBe(0);
        expect(prod.outputs).toEqual({
            stack: "prod",
            "policy-config": "policies/config/prod.json",
            region: "us-west-2",
        });

        for (const [bad, message] of [
            ["qa", "::error::no stack file Pulumi.qa.yaml; stacks in this project: dev, prod"],
            ["prod ", '::error::invalid stack name "prod ": " " at position 4 is not allowed; a stack name is 1 to 100 letters'],
            ["../prod", '::error::invalid stack name "../prod": "/" at position 2 is not allowed'],
            ["", '::error::invalid stack name "": it is empty'],
        ]) {
            const r = runStep(resolveStep, { cwd: dir, env: { STACK: bad } });
            expect([bad, r.status]).toEqual([bad, 1]);
            expect(r.stdout).toContain(message);
            expect(r.outputs).toEqual({});
        }
    });
});
