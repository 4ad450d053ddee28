// The scheduled workflow that moves the stacks' pinned Debian AMI: its own steps run here (a stand-in `aws` answers
// describe-images) against a scratch copy of the stack files.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { loadStackConfig } from "../../../tools/stackFile";
import { REPO_ROOT, jobOf, loadWorkflow, must, runStep, stepById, triggers } from "../helpers";

jest.setTimeout(120_000);

const workflow = loadWorkflow("debian-ami.yml");
const job = jobOf(workflow, "propose");
const newestStep = must(stepById(job, "newest").run, "newest step run");
const pinStep = must(stepById(job, "pin").run, "pin step run");

let dir: string;
const read = (file: string) => fs.readFileSync(path.join(dir, file), "utf8");

beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "ami-release-"));
    fs.symlinkSync(path.join(REPO_ROOT, ".github"), path.join(dir, ".github"));
    for (const f of ["Pulumi.yaml", "Pulumi.dev.yaml", "Pulumi.prod.yaml"]) fs.copyFileSync(path.join(REPO_ROOT, f), path.join(dir, f));
    fs.writeFileSync(path.join(dir, "Pulumi.byid.yaml"), "config:\n  aws:region: us-east-2\n  foobar:amiId: ami-0123456789abcdef0\n");
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Runs the step that asks EC2, with a stand-in `aws` that prints `answer`. */
function newest(answer: string) {
    const bin = fs.mkdtempSync(path.join(os.tmpdir(), "fake-aws-"));
    fs.writeFileSync(path.join(bin, "aws"), `#!/bin/sh\necho "$*" > "${bin}/args"\necho '${answer}'\n`, { mode: 0o755 });
    try {
        const r = runStep(newestStep, { cwd: dir, pathPrefix: bin });
        return { ...r, args: fs.existsSync(path.join(bin, "args")) ? fs.readFileSync(path.join(bin, "args"), "utf8") : "" };
    } finally {
        fs.rmSync(bin, { recursive: true, force: true });
    }
}

test("runs weekly and on demand, and opens a pull request only when a stack moved", () => {
    expect(triggers(workflow.workflow).sort()).toEqual(["schedule", "workflow_dispatch"]);
    const open = (job.steps ?? []).find((s) => s.run?.includes("gh pr create"));
    expect(open?.if).toBe("steps.pin.outputs.changed != ''");
});

test("the newest build is read from Debian's own account's images, and only a Debian 12 name is accepted", () => {
    const r = newest("debian-12-amd64-20250401-2090");
    expect(r.status).toBe(0);
    expect(r.outputs).toEqual({ release: "20250401-2090" });
    expect(r.args).toContain("--owners 136693071363");
    expect(r.args).toContain("Name=name,Values=debian-12-amd64-*");
    // No image at all (the CLI prints None), or some other image: the job fails instead of pinning nonsense.
    for (const answer of ["None", "debian-12-amd64-daily-20250401-2090"]) {
        const bad = newest(answer);
        expect([answer, bad.status]).toEqual([answer, 2]);
        expect(bad.stderr).toMatch(/is not the name of a Debian 12 AMI/);
        expect(bad.outputs).toEqual({});
    }
});

test("pinning moves every stack that pins by amiRelease, keeps comments, leaves an amiId pin alone, and is idempotent", () => {
    const before = { dev: read("Pulumi.dev.yaml"), byid: read("Pulumi.byid.yaml") };
    const r = runStep(pinStep, { cwd: dir, env: { RELEASE: "20250401-2090" } });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.outputs).toEqual({ changed: "dev,prod" });
    for (const stack of ["dev", "prod"]) expect(loadStackConfig(stack, dir).config["foobar:amiRelease"]).toBe("20250401-2090");
    expect(read("Pulumi.byid.yaml")).toBe(before.byid);
    // Only the value changed: the file's comments and other keys are as they were.
    expect(read("Pulumi.dev.yaml")).toBe(before.dev.replace(/(foobar:amiRelease: )\S+/, "$120250401-2090"));
    expect(runStep(pinStep, { cwd: dir, env: { RELEASE: "20250401-2090" } }).outputs).toEqual({ changed: "" });
    expect(runStep(pinStep, { cwd: dir, env: { RELEASE: "latest" } }).status).toBe(2);
});
