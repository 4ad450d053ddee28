// Shared by tests/github/**/*.test.ts: loading the GitHub Actions workflows and
// the scripts in .github/scripts that the workflows themselves run.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseDocument } from "yaml";

export const REPO_ROOT = path.resolve(__dirname, "..", "..");
export const WORKFLOWS_DIR = path.join(REPO_ROOT, ".github", "workflows");
export const SCRIPTS_DIR = path.join(REPO_ROOT, ".github", "scripts");

export interface Step {
    id?: string;
    name?: string;
    uses?: string;
    run?: string;
    shell?: string;
    with?: Record<string, unknown>;
    env?: Record<string, unknown>;
    if?: string;
    "timeout-minutes"?: number | string;
}

export interface Job {
    name?: string;
    needs?: string | string[];
    if?: string;
    "runs-on"?: unknown;
    "timeout-minutes"?: number | string;
    permissions?: unknown;
    environment?: unknown;
    concurrency?: unknown;
    strategy?: { matrix?: unknown; "fail-fast"?: boolean };
    outputs?: Record<string, string>;
    env?: Record<string, unknown>;
    defaults?: { run?: { shell?: string } };
    steps?: Step[];
}

export interface Workflow {
    name?: string;
    on: unknown;
    permissions?: unknown;
    concurrency?: unknown;
    env?: Record<string, unknown>;
    defaults?: { run?: { shell?: string } };
    jobs: Record<string, Job>;
}

export interface LoadedWorkflow {
    /** Path relative to the repository root, with forward slashes. */
    file: string;
    text: string;
    workflow: Workflow;
}

/** Workflow files in .github/workflows, sorted. */
export function workflowFiles(): string[] {
    if (!fs.existsSync(WORKFLOWS_DIR)) return [];
    return fs
        .readdirSync(WORKFLOWS_DIR)
        .filter((f) => /\.ya?ml$/.test(f))
        .sort()
        .map((f) => `.github/workflows/${f}`);
}

/** Parse a workflow strictly: any YAML error or warning throws. */
export function parseWorkflow(text: string, file: string): Workflow {
    const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
    const problems = [...doc.errors, ...doc.warnings];
    if (problems.length > 0) {
        throw new Error(`${file}: ${problems.map((p) => p.message).join("\n")}`);
    }
    const value = doc.toJS() as Workflow;
    if (value === null || typeof value !== "object") throw new Error(`${file}: not a mapping`);
    return value;
}

export function loadWorkflows(): LoadedWorkflow[] {
    return workflowFiles().map((file) => {
        const text = fs.readFileSync(path.join(REPO_ROOT, file), "utf8");
        return { file, text, workflow: parseWorkflow(text, file) };
    });
}

export function loadWorkflow(name: string): LoadedWorkflow {
    const found = loadWorkflows().find((w) => path.basename(w.file) === name);
    if (!found) throw new Error(`no workflow .github/workflows/${name}`);
    return found;
}

/** Every step of every job, with where it is. */
export function allSteps(w: LoadedWorkflow): { job: string; step: Step }[] {
    return Object.entries(w.workflow.jobs ?? {}).flatMap(([job, def]) => (def.steps ?? []).map((step) => ({ job, step })));
}

/** The steps of `job` that use `action` (owner/name, any ref). */
export function stepsUsing(job: Job, action: string): Step[] {
    return (job.steps ?? []).filter((s) => typeof s.uses === "string" && s.uses.split("@")[0] === action);
}

/** Keys of the `on:` trigger map (or the single event / list of events). */
export function triggers(w: Workflow): string[] {
    const on = w.on;
    if (typeof on === "string") return [on];
    if (Array.isArray(on)) return on.map(String);
    return Object.keys((on ?? {}) as object);
}

// ---------------------------------------------------------------------------
// The scripts in .github/scripts, typed.

export interface StackEntry {
    stack: string;
    file: string;
    policyConfig: string;
    region: string;
}

export interface StackMatrixModule {
    DEFAULT_POLICY_CONFIG: string;
    policyConfigFor(root: string, stack: string): string;
    stackEntries(root: string): StackEntry[];
    stackMatrix(root: string): { include: StackEntry[] };
}

export interface LintFinding {
    file: string;
    line: number;
    column: number;
    message: string;
    kind: string;
}

export interface LintModule {
    lintWorkflow(text: string, file: string): Promise<LintFinding[]>;
}

export function stackMatrixModule(): StackMatrixModule {
    return require(path.join(SCRIPTS_DIR, "stack-matrix.js")) as StackMatrixModule;
}

export function lintModule(): LintModule {
    return require(path.join(SCRIPTS_DIR, "lint-workflows.js")) as LintModule;
}

// ---------------------------------------------------------------------------
// Running a workflow's `run:` step here, the way a GitHub-hosted runner does
// with `shell: bash` (bash --noprofile --norc -eo pipefail).

export interface StepRun {
    status: number;
    stdout: string;
    stderr: string;
    /** key=value lines the step appended to $GITHUB_OUTPUT. */
    outputs: Record<string, string>;
    /** What the step appended to $GITHUB_STEP_SUMMARY. */
    summary: string;
}

export function runStep(script: string, opts: { cwd: string; env?: Record<string, string>; pathPrefix?: string }): StepRun {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "gha-step-"));
    try {
        const scriptFile = path.join(tmp, "step.sh");
        const outputFile = path.join(tmp, "output");
        const summaryFile = path.join(tmp, "summary");
        fs.writeFileSync(scriptFile, script);
        fs.writeFileSync(outputFile, "");
        fs.writeFileSync(summaryFile, "");
        const env: Record<string, string> = {
            PATH: (opts.pathPrefix ? `${opts.pathPrefix}${path.delimiter}` : "") + (process.env.PATH ?? ""),
            HOME: process.env.HOME ?? tmp,
            GITHUB_OUTPUT: outputFile,
            GITHUB_STEP_SUMMARY: summaryFile,
            GITHUB_ACTIONS: "true",
            CI: "true",
            ...(opts.env ?? {}),
        };
        const r = spawnSync("bash", ["--noprofile", "--norc", "-eo", "pipefail", scriptFile], {
            cwd: opts.cwd,
            env,
            encoding: "utf8",
            timeout: 300_000,
        });
        if (r.error) throw r.error;
        const outputs: Record<string, string> = {};
        for (const line of fs.readFileSync(outputFile, "utf8").split("\n")) {
            const eq = line.indexOf("=");
            if (eq > 0) outputs[line.slice(0, eq)] = line.slice(eq + 1);
        }
        return {
            status: r.status ?? -1,
            stdout: r.stdout,
            stderr: r.stderr,
            outputs,
            summary: fs.readFileSync(summaryFile, "utf8"),
        };
    } finally {
        fs.rmSync(tmp, { recursive: true, force: true });
    }
}

/** `value`, or a thrown error naming `what` when it is missing. */
export function must<T>(value: T | undefined | null, what: string): T {
    if (value === undefined || value === null) throw new Error(`missing: ${what}`);
    return value;
}

/** The job `id` of a loaded workflow. */
export function jobOf(w: LoadedWorkflow, id: string): Job {
    return must(w.workflow.jobs[id], `${w.file}: job ${id}`);
}

/** The one step of `job` whose `id` is `id`. */
export function stepById(job: Job, id: string): Step {
    const s = (job.steps ?? []).find((x) => x.id === id);
    if (!s) throw new Error(`no step with id ${id}`);
    return s;
}

/** The run step of `job` whose script mentions `needle`. */
export function runStepContaining(job: Job, needle: string): Step {
    const s = (job.steps ?? []).find((x) => typeof x.run === "string" && x.run.includes(needle));
    if (!s) throw new Error(`no run step mentioning ${needle}`);
    return s;
}

/**
 * Stack names from the stack files in `dir`, found independently of the script: Pulumi reads
 * `Pulumi.<stack>` with the extension of the project file (`Pulumi.yaml` here).
 */
export function stackFilesIn(dir: string, ext = ".yaml"): string[] {
    return fs
        .readdirSync(dir)
        .filter((f) => f.startsWith("Pulumi.") && f.endsWith(ext) && f !== `Pulumi${ext}` && fs.statSync(path.join(dir, f)).isFile())
        .map((f) => f.slice("Pulumi.".length, -ext.length))
        .sort();
}
