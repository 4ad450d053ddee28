// The GitHub Actions workflows cannot run here (no GitHub, no cloud), so they
// are parsed, linted with actionlint and cross-checked against what they call:
// the npm scripts in package.json, the scripts in .github/scripts, the inputs
// of the actions they use, and what the issue asks of each workflow.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { hostedJobLimitMinutes } from "../../../tools/deploy/rolloutBound";
import {
    LoadedWorkflow,
    REPO_ROOT,
    allSteps,
    jobOf,
    lintModule,
    loadWorkflow,
    loadWorkflows,
    must,
    parseWorkflow,
    runStep,
    runStepContaining,
    stepsUsing,
    triggers,
    workflowFiles,
} from "../helpers";

jest.setTimeout(120_000);

const packageJson = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, "package.json"), "utf8")) as {
    scripts?: Record<string, string>;
};
const scripts = packageJson.scripts ?? {};

/**
 * Inputs of the action majors the workflows pin, from each action's
 * action.yml at that major (actionlint's bundled table stops at older majors,
 * so it does not check these). An input not listed here is a typo or belongs
 * to another major.
 */
const ACTION_INPUTS: Record<string, string[]> = {
    "actions/checkout@v7": [
        "repository",
        "ref",
        "token",
        "ssh-key",
        "ssh-known-hosts",
        "ssh-strict",
        "ssh-user",
        "persist-credentials",
        "path",
        "clean",
        "filter",
        "sparse-checkout",
        "sparse-checkout-cone-mode",
        "fetch-depth",
        "fetch-tags",
        "show-progress",
        "lfs",
        "submodules",
        "set-safe-directory",
        "github-server-url",
        "allow-unsafe-pr-checkout",
    ],
    "actions/setup-node@v7": [
        "node-version",
        "node-version-file",
        "architecture",
        "check-latest",
        "registry-url",
        "scope",
        "token",
        "cache",
        "package-manager-cache",
        "cache-dependency-path",
        "mirror",
        "mirror-token",
    ],
    "aws-actions/configure-aws-credentials@v6": [
        "aws-region",
        "aws-profile",
        "overwrite-aws-profile",
        "role-to-assume",
        "aws-access-key-id",
        "aws-secret-access-key",
        "aws-session-token",
        "web-identity-token-file",
        "role-chaining",
        "audience",
        "http-proxy",
        "no-proxy",
        "mask-aws-account-id",
        "role-duration-seconds",
        "role-external-id",
        "role-session-name",
        "role-skip-session-tagging",
        "transitive-tag-keys",
        "inline-session-policy",
        "managed-session-policies",
        "output-credentials",
        "output-env-credentials",
        "unset-current-credentials",
        "disable-retry",
        "retry-max-attempts",
        "special-characters-workaround",
        "use-existing-credentials",
        "allowed-account-ids",
        "force-skip-oidc",
        "action-timeout-s",
        "custom-tags",
        "sts-endpoint",
    ],
    "pulumi/actions@v7": [
        "command",
        "stack-name",
        "pulumi-version",
        "pulumi-version-file",
        "work-dir",
        "comment-on-pr",
        "comment-on-pr-number",
        "comment-on-summary",
        "github-token",
        "cloud-url",
        "secrets-provider",
        "parallel",
        "message",
        "config-map",
        "expect-no-changes",
        "diff",
        "replace",
        "exclude",
        "exclude-dependents",
        "target",
        "target-dependents",
        "policyPacks",
        "policyPackConfigs",
        "refresh",
        "upsert",
        "remove",
        "edit-pr-comment",
        "color",
        "exclude-protected",
        "plan",
        "suppress-outputs",
        "suppress-progress",
        "always-include-summary",
        "continue-on-error",
        "log-verbosity",
        "log-flow",
        "debug",
    ],
};

/** `npm run <name>` / `npm run-script <name>` / `npm test` etc. in a shell script. */
function npmScriptsIn(script: string): string[] {
    const names: string[] = [];
    const runRe = /\bnpm\s+(?:run|run-script|rum|urn)((?:\s+--?[A-Za-z][\w-]*(?:=\S+)?)*)\s+([A-Za-z0-9][\w:.-]*)/g;
    for (const m of script.matchAll(runRe)) names.push(must(m[2], "script name"));
    const lifecycle = /\bnpm\s+(test|t|tst|start|stop|restart)\b/g;
    for (const m of script.matchAll(lifecycle)) {
        const name = must(m[1], "lifecycle script");
        names.push(name.startsWith("t") ? "test" : name);
    }
    return names;
}

function runScripts(w: LoadedWorkflow): string[] {
    return allSteps(w)
        .map(({ step }) => step.run)
        .filter((r): r is string => typeof r === "string");
}

const workflows = loadWorkflows();

describe("workflow files", () => {
    test("the pull-request and deploy workflows exist", () => {
        expect(workflowFiles()).toEqual(expect.arrayContaining([".github/workflows/pull-request.yml", ".github/workflows/deploy.yml"]));
    });

    test.each(workflowFiles())("%s parses as strict YAML with triggers and jobs", (file) => {
        const text = fs.readFileSync(path.join(REPO_ROOT, file), "utf8");
        const wf = parseWorkflow(text, file);
        expect(triggers(wf).length).toBeGreaterThan(0);
        expect(Object.keys(wf.jobs ?? {}).length).toBeGreaterThan(0);
    });
});

describe("actionlint", () => {
    test.each(workflowFiles())("%s has no actionlint finding", async (file) => {
        const text = fs.readFileSync(path.join(REPO_ROOT, file), "utf8");
        const findings = await lintModule().lintWorkflow(text, file);
        const report = findings.map((f) => `${f.file}:${f.line}:${f.column}: ${f.message} [${f.kind}]`);
        expect(report).toEqual([]);
    });

    test("the linter reports errors in a broken workflow (so a clean result means something)", async () => {
        const broken = [
            "on:",
            "  pull_request:",
            "permissions:",
            "  id-tokn: write",
            "jobs:",
            "  a:",
            "    runs-on: ubuntu-latest",
            "    needs: missing-job",
            "    steps:",
            '      - run: echo "${{ github.event.pull_request.title }}"',
            "      - run: echo ${{ matrix.stack }}",
            "      - uses: actions/checkout@v4",
            "        with:",
            "          persist-credential: false",
            "",
        ].join("\n");
        const findings = await lintModule().lintWorkflow(broken, ".github/workflows/broken.yml");
        const kinds = findings.map((f) => f.kind);
        expect(kinds).toEqual(expect.arrayContaining(["permissions", "job-needs", "expression", "action"]));
        expect(findings.some((f) => /potentially untrusted/.test(f.message))).toBe(true);
        expect(findings.some((f) => /"stack" is not defined/.test(f.message))).toBe(true);
    });

    test("the lint command (node .github/scripts/lint-workflows.js) fails on a broken workflow", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lint-broken-"));
        try {
            const wfDir = path.join(dir, ".github", "workflows");
            fs.mkdirSync(wfDir, { recursive: true });
            fs.writeFileSync(path.join(wfDir, "bad.yml"), "on: push\njobs:\n  a:\n    steps: []\n");
            const script = path.join(REPO_ROOT, ".github", "scripts", "lint-workflows.js");
            const bad = runStep(`node ${JSON.stringify(script)}`, {
                cwd: dir,
                env: { NODE_PATH: process.env.NODE_PATH ?? "" },
            });
            expect(bad.status).toBe(1);
            expect(bad.stdout).toMatch(/\.github\/workflows\/bad\.yml:\d+:\d+: .*runs-on/);
            const good = runStep(`node ${JSON.stringify(script)}`, {
                cwd: REPO_ROOT,
                env: { NODE_PATH: process.env.NODE_PATH ?? "" },
            });
            expect(good.stdout).toMatch(/no findings/);
            expect(good.status).toBe(0);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});

describe("cross-checks against what the workflows call", () => {
    test.each(workflows.map((w) => [w.file, w] as const))("%s: every npm script it runs exists in package.json", (_file, w) => {
        const named = runScripts(w).flatMap(npmScriptsIn);
        const missing = [...new Set(named)].filter((n) => !(n in scripts));
        expect(missing).toEqual([]);
    });

    test("the npm scripts the workflows rely on are named (the parser sees them)", () => {
        const named = new Set(workflows.flatMap((w) => runScripts(w).flatMap(npmScriptsIn)));
        for (const n of ["test", "build", "policy:check", "preview:offline"]) expect(named).toContain(n);
    });

    test("every run script is valid bash, and shellcheck-clean where shellcheck is installed", () => {
        // actionlint runs shellcheck only as a separate binary, which its WebAssembly build cannot.
        const shellcheck = spawnSync("shellcheck", ["--version"], { encoding: "utf8" }).status === 0;
        for (const w of workflows) {
            for (const { job, step } of allSteps(w)) {
                if (typeof step.run !== "string") continue;
                const where = [w.file, job, step.name ?? step.run];
                const script = step.run.replace(/\$\{\{[^}]*\}\}/g, "EXPR");
                const syntax = spawnSync("bash", ["-n"], { input: script, encoding: "utf8" });
                expect([...where, syntax.status, syntax.stderr]).toEqual([...where, 0, ""]);
                if (shellcheck) {
                    const sc = spawnSync("shellcheck", ["-s", "bash", "-"], { input: script, encoding: "utf8" });
                    expect([...where, sc.status, sc.stdout]).toEqual([...where, 0, ""]);
                }
            }
        }
    });

    test("`npm ci` has a lockfile to install from", () => {
        const usesCi = workflows.some((w) => runScripts(w).some((r) => /\bnpm\s+ci\b/.test(r)));
        expect(usesCi).toBe(true);
        expect(fs.existsSync(path.join(REPO_ROOT, "package-lock.json"))).toBe(true);
    });

    test("every script file a workflow runs with node exists", () => {
        const files = workflows.flatMap((w) =>
            runScripts(w).flatMap((r) => [...r.matchAll(/\bnode\s+((?:\.\/)?[\w./-]+\.[cm]?js)\b/g)].map((m) => must(m[1], "script path"))),
        );
        expect(files.length).toBeGreaterThan(0);
        for (const f of files) expect(fs.existsSync(path.join(REPO_ROOT, f))).toBe(true);
    });

    test("actions are pinned to a major (or a commit), and only with inputs they define", () => {
        for (const w of workflows) {
            for (const { job, step } of allSteps(w)) {
                if (typeof step.uses !== "string" || step.uses.startsWith("./")) continue;
                const where = `${w.file} job ${job} uses ${step.uses}`;
                expect([where, /^[\w.-]+\/[\w./-]+@(v\d+|[0-9a-f]{40})$/.test(step.uses)]).toEqual([where, true]);
                const known = ACTION_INPUTS[step.uses];
                expect([where, known !== undefined]).toEqual([where, true]);
                const unknown = Object.keys(step.with ?? {}).filter((k) => !(known ?? []).includes(k));
                expect([where, unknown]).toEqual([where, []]);
            }
        }
    });

    test("the policy pack and the default policy config the cloud steps point at exist", () => {
        expect(fs.existsSync(path.join(REPO_ROOT, "policies", "PulumiPolicy.yaml"))).toBe(true);
        expect(fs.existsSync(path.join(REPO_ROOT, "policies", "config", "dev.json"))).toBe(true);
        for (const w of workflows) {
            for (const { step } of allSteps(w)) {
                if (step.uses?.startsWith("pulumi/actions@")) expect(step.with?.policyPacks).toBe("policies");
            }
        }
    });
});

describe("security posture", () => {
    test.each(workflows.map((w) => [w.file, w] as const))(
        "%s: no default permissions; each job asks for its own, never write-all",
        (_file, w) => {
            expect(w.workflow.permissions).toEqual({});
            for (const [id, job] of Object.entries(w.workflow.jobs)) {
                expect([id, typeof job.permissions]).toEqual([id, "object"]);
                expect(JSON.stringify(job.permissions)).not.toMatch(/write-all|read-all/);
            }
        },
    );

    test.each(workflows.map((w) => [w.file, w] as const))("%s: no long-lived AWS keys, no pull_request_target", (_file, w) => {
        expect(w.text).not.toMatch(/aws-access-key-id|aws-secret-access-key|AWS_SECRET_ACCESS_KEY|AWS_ACCESS_KEY_ID/);
        expect(triggers(w.workflow)).not.toContain("pull_request_target");
    });

    test("only jobs that assume the AWS role get an OIDC token, and they all do", () => {
        for (const w of workflows) {
            for (const [id, job] of Object.entries(w.workflow.jobs)) {
                const perms = job.permissions as Record<string, string>;
                const assumes = stepsUsing(job, "aws-actions/configure-aws-credentials");
                expect([w.file, id, perms["id-token"] === "write"]).toEqual([w.file, id, assumes.length > 0]);
                for (const s of assumes) {
                    expect(s.with?.["role-to-assume"]).toBe("${{ vars.AWS_ROLE_ARN }}");
                }
            }
        }
    });

    test("the Pulumi access token comes from a secret, and only where pulumi/actions runs", () => {
        for (const w of workflows) {
            for (const { step } of allSteps(w)) {
                if (step.uses?.startsWith("pulumi/actions@")) {
                    expect(step.env?.PULUMI_ACCESS_TOKEN).toBe("${{ secrets.PULUMI_ACCESS_TOKEN }}");
                }
            }
            for (const [id, job] of Object.entries(w.workflow.jobs)) {
                if (stepsUsing(job, "pulumi/actions").length > 0) continue;
                expect([w.file, id, JSON.stringify(job).includes("secrets.")]).toEqual([w.file, id, false]);
            }
        }
    });
});

describe("pull-request workflow", () => {
    const w = loadWorkflow("pull-request.yml");

    test("runs on every pull request", () => {
        expect(triggers(w.workflow)).toEqual(["pull_request"]);
        const on = w.workflow.on as Record<string, unknown>;
        expect(on.pull_request ?? null).toBeNull(); // no branch or path filter
    });

    test("run steps use bash with -eo pipefail (explicit shell: bash)", () => {
        expect(w.workflow.defaults?.run?.shell).toBe("bash");
    });

    test("the test job installs from the lockfile and runs the test command", () => {
        const runs = (jobOf(w, "test").steps ?? []).map((s) => s.run ?? "");
        const ci = runs.findIndex((r) => /^npm ci$/m.test(r));
        const t = runs.findIndex((r) => /^npm test$/m.test(r));
        expect(ci).toBeGreaterThanOrEqual(0);
        expect(t).toBeGreaterThan(ci);
    });

    test("the matrix job installs from the lockfile before it reads the stack files (with tools/stackFile.ts)", () => {
        const runs = (jobOf(w, "stacks").steps ?? []).map((s) => s.run ?? "");
        const ci = runs.findIndex((r) => /^npm ci$/m.test(r));
        expect(ci).toBeGreaterThanOrEqual(0);
        expect(runs.findIndex((r) => r.includes("stack-matrix.js"))).toBeGreaterThan(ci);
    });

    test("compliance runs per stack from the derived matrix, with no cloud credentials", () => {
        const job = jobOf(w, "compliance");
        expect(job.needs).toBe("stacks");
        expect(job.strategy?.matrix).toBe("${{ fromJSON(needs.stacks.outputs.matrix) }}");
        expect(job.strategy?.["fail-fast"]).toBe(false);
        expect(jobOf(w, "stacks").outputs?.matrix).toBe("${{ steps.matrix.outputs.matrix }}");
        expect(job.if).toBeUndefined(); // so it runs for forks too
        expect(JSON.stringify(job)).not.toMatch(/secrets\.|id-token|configure-aws-credentials/);
        const step = runStepContaining(job, "policy:check");
        expect(step.run).toMatch(/npm run --silent policy:check -- --stack "\$STACK"/);
        expect(step.run).toMatch(/GITHUB_STEP_SUMMARY/);
        expect(job.env?.STACK).toBe("${{ matrix.stack }}");
    });

    test("the cloud preview is gated to same-repository pull requests with credentials configured", () => {
        const job = jobOf(w, "preview");
        const cond = (job.if ?? "").replace(/\s+/g, " ");
        expect(cond).toContain("github.event.pull_request.head.repo.full_name == github.repository");
        expect(cond).toContain("vars.AWS_ROLE_ARN != ''");
        expect(job.permissions).toEqual({ contents: "read", "id-token": "write", "pull-requests": "write" });
        expect(job.strategy?.matrix).toBe("${{ fromJSON(needs.stacks.outputs.matrix) }}");
    });

    test("the preview goes through pulumi/actions with the policy pack, one PR comment per stack edited in place", () => {
        const pulumi = must(stepsUsing(jobOf(w, "preview"), "pulumi/actions")[0], "pulumi/actions step");
        expect(pulumi.with).toMatchObject({
            command: "preview",
            "comment-on-pr": true,
            "edit-pr-comment": true,
            policyPacks: "policies",
            policyPackConfigs: "${{ matrix.policyConfig }}",
        });
        expect(String(pulumi.with?.["stack-name"])).toContain("matrix.stack");
        // The credentials are configured before the preview runs.
        const steps = jobOf(w, "preview").steps ?? [];
        const aws = steps.findIndex((s) => s.uses?.startsWith("aws-actions/configure-aws-credentials@"));
        const ci = steps.findIndex((s) => s.run === "npm ci");
        expect(aws).toBeGreaterThan(ci);
        expect(steps.indexOf(pulumi)).toBeGreaterThan(aws);
    });

    test("previews of one stack in one pull request never overlap", () => {
        expect(jobOf(w, "preview").concurrency).toEqual({
            group: "pulumi-preview-${{ github.event.pull_request.number }}-${{ matrix.stack }}",
            "cancel-in-progress": true,
        });
    });
});

describe("deploy workflow", () => {
    const w = loadWorkflow("deploy.yml");
    const stacks = jobOf(w, "stacks");
    const job = jobOf(w, "up");
    const on = w.workflow.on as Record<string, { branches?: string[]; inputs?: Record<string, { default?: string }> }>;

    test("a push to main deploys; a manual trigger names one stack, with no default", () => {
        expect(triggers(w.workflow).sort()).toEqual(["push", "workflow_dispatch"]);
        expect(on.push?.branches).toEqual(["main"]);
        // A default of dev would put the whiteboard stack one click away.
        expect(on.workflow_dispatch?.inputs?.stack?.default).toBeUndefined();
    });

    test("only the stacks the mandatory-policy step resolves are deployed, each in its own environment, from main only", () => {
        expect(stacks.if).toContain("github.ref == 'refs/heads/main'");
        expect(stacks.if).toContain("vars.AWS_ROLE_ARN != ''");
        expect(stacks.outputs?.matrix).toBe("${{ steps.stacks.outputs.matrix }}");
        expect(stacks.outputs?.count).toBe("${{ steps.stacks.outputs.count }}");
        expect(job.needs).toBe("stacks");
        expect(job.if).toBe("needs.stacks.outputs.count != '0'"); // fromJSON of an empty matrix fails the run
        expect(job.strategy?.matrix).toBe("${{ fromJSON(needs.stacks.outputs.matrix) }}");
        expect(job.environment).toEqual({ name: "${{ matrix.stack }}" });
        expect(job.env?.STACK).toBe("${{ matrix.stack }}");
        // No other way to name a stack in the deploying job.
        expect(JSON.stringify(job)).not.toContain("inputs.");
    });

    test("two deployments of one stack never race", () => {
        expect(job.concurrency).toEqual({
            group: "pulumi-up-${{ matrix.stack }}",
            "cancel-in-progress": false,
        });
    });

    test("the stacks are resolved after `npm ci`, with the module every tool reads stacks with", () => {
        const runs = (stacks.steps ?? []).map((s) => s.run ?? "");
        const ci = runs.findIndex((r) => /^npm ci$/m.test(r));
        expect(ci).toBeGreaterThanOrEqual(0);
        expect(runs.findIndex((r) => r.includes("stack-matrix.js --deployable"))).toBeGreaterThan(ci);
    });

    test("pulumi up runs with the policy pack, after an offline compliance gate", () => {
        const steps = job.steps ?? [];
        const pulumi = must(stepsUsing(job, "pulumi/actions")[0], "pulumi/actions step");
        expect(pulumi.with).toMatchObject({
            command: "up",
            policyPacks: "policies",
            policyPackConfigs: "${{ matrix.policyConfig }}",
        });
        const gate = runStepContaining(job, "policy:check");
        expect(gate.run).toBe('npm run --silent policy:check -- --stack "$STACK" --config "$POLICY_CONFIG"');
        expect(job.env?.POLICY_CONFIG).toBe("${{ matrix.policyConfig }}");
        expect(steps.indexOf(gate)).toBeLessThan(steps.indexOf(pulumi));
        expect(job.permissions).toEqual({ contents: "read", "id-token": "write" });
    });

    test("pulumi up's limit and the credentials' duration follow the stack's rollout bound, within a hosted job's 6 hours", () => {
        const steps = job.steps ?? [];
        const bound = runStepContaining(job, "deploy:bound");
        expect(bound.id).toBe("bound");
        expect(bound.run).toBe('npm run --silent deploy:bound -- --stack "$STACK"');
        expect(scripts["deploy:bound"]).toBeDefined();
        const credentials = must(stepsUsing(job, "aws-actions/configure-aws-credentials")[0], "credentials step");
        const pulumi = must(stepsUsing(job, "pulumi/actions")[0], "pulumi/actions step");
        expect(credentials.with?.["role-duration-seconds"]).toBe("${{ steps.bound.outputs.credential-seconds }}");
        expect(pulumi["timeout-minutes"]).toBe("${{ fromJSON(steps.bound.outputs.minutes) }}");
        expect(steps.indexOf(bound)).toBeLessThan(steps.indexOf(credentials));
        expect(job["timeout-minutes"]).toBe(hostedJobLimitMinutes);
    });
});

describe("the Pulumi CLI version", () => {
    const lock = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, "package-lock.json"), "utf8")) as {
        packages: Record<string, { version?: string }>;
    };
    const sdk = must(lock.packages["node_modules/@pulumi/pulumi"]?.version, "@pulumi/pulumi in package-lock.json");

    test.each(workflows.map((w) => [w.file, w] as const))(
        "%s: every pulumi/actions step pins the CLI to the SDK's release in the lockfile",
        (_file, w) => {
            for (const { job, step } of allSteps(w)) {
                if (!step.uses?.startsWith("pulumi/actions@")) continue;
                // The CLI and the Node.js SDK are released together from pulumi/pulumi, under one version number.
                const pinned = String(step.with?.["pulumi-version"] ?? "").replace(
                    "${{ env.PULUMI_VERSION }}",
                    String(w.workflow.env?.PULUMI_VERSION),
                );
                expect([w.file, job, pinned]).toEqual([w.file, job, sdk]);
            }
        },
    );
});

describe("lint in the pull-request workflow", () => {
    test("a job installs from the lockfile, then runs `npm run lint` (eslint and prettier --check)", () => {
        const w = loadWorkflow("pull-request.yml");
        const jobs = Object.values(w.workflow.jobs).filter((j) =>
            (j.steps ?? []).some((s) => /^npm run (-s |--silent )?lint$/m.test(s.run ?? "")),
        );
        expect(jobs.length).toBe(1);
        const runs = (jobs[0]?.steps ?? []).map((s) => s.run ?? "");
        const ci = runs.findIndex((r) => /^npm ci$/m.test(r));
        expect(ci).toBeGreaterThanOrEqual(0);
        expect(runs.findIndex((r) => /lint$/m.test(r))).toBeGreaterThan(ci);
        expect(scripts.lint).toMatch(/eslint .*prettier --check/);
    });
});

describe("job summary of the compliance step (run here with a stand-in npm)", () => {
    const job = jobOf(loadWorkflow("pull-request.yml"), "compliance");
    const script = must(runStepContaining(job, "policy:check").run, "policy:check step run");

    function withFakeNpm(exitCode: number) {
        const bin = fs.mkdtempSync(path.join(os.tmpdir(), "fake-npm-"));
        fs.writeFileSync(path.join(bin, "npm"), `#!/bin/sh\necho "REPORT for: $*"\necho "warning line on stderr" >&2\nexit ${exitCode}\n`, {
            mode: 0o755,
        });
        try {
            return runStep(script, {
                cwd: REPO_ROOT,
                pathPrefix: bin,
                env: { STACK: "dev", POLICY_CONFIG: "policies/config/dev.json" },
            });
        } finally {
            fs.rmSync(bin, { recursive: true, force: true });
        }
    }

    test.each([0, 1, 2])("policy:check exit %i is the step result, and the report is in the summary", (code) => {
        const r = withFakeNpm(code);
        expect(r.status).toBe(code);
        expect(r.summary).toContain("Policy report: `dev` with `policies/config/dev.json`");
        expect(r.summary).toContain("REPORT for: run --silent policy:check -- --stack dev --config policies/config/dev.json");
        expect(r.summary).toContain("warning line on stderr");
        // the code block is closed even when the check fails
        expect((r.summary.match(/^```$/gm) ?? []).length).toBe(2);
        expect(r.stdout).toContain("REPORT for:"); // also in the log
    });
});
