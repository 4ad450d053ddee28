/**
 * The readiness gate's poll loop, run for real against a stand-in `aws` CLI
 * that prints a console, and the markers the instances print
 * (userdata/files/rollout/) fed through it.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { spawnSync } from "child_process";
import { configDigest, markers, waitForConsoleMarkerScript } from "../../components/readiness";
import { run, tempDir } from "../helpers";

/** A fake `aws` that prints console N (console.1, console.2, ...) on its Nth call, the last one after that. */
function fakeAws(consoles: string[]): string {
    const dir = tempDir("aws");
    consoles.forEach((c, i) => fs.writeFileSync(path.join(dir, `console.${i + 1}`), c));
    fs.writeFileSync(
        path.join(dir, "aws"),
        [
            "#!/bin/sh",
            `dir=${dir}`,
            'n=$(($(cat "$dir/calls" 2>/dev/null || echo 0) + 1)); echo "$n" > "$dir/calls"',
            `[ "$n" -le ${consoles.length} ] || n=${consoles.length}`,
            'case "$*" in *"get-console-output --region eu-west-1 --instance-id i-0abc --latest --output text --query Output"*) ;; *) echo "unexpected: $*" >&2; exit 2;; esac',
            'if [ "$(cat "$dir/console.$n")" = DENIED ]; then echo "An error occurred (UnauthorizedOperation)" >&2; exit 254; fi',
            'cat "$dir/console.$n"',
        ].join("\n") + "\n",
        { mode: 0o755 },
    );
    return dir;
}

function gate(marker: { pattern: string; ready: string; failed?: string }, pathDir: string | undefined, timeout = 5) {
    const r = spawnSync("/bin/sh", ["-c", waitForConsoleMarkerScript], {
        encoding: "utf8",
        timeout: 30000,
        env: {
            PATH: pathDir ? `${pathDir}:/usr/bin:/bin` : "/usr/bin:/bin",
            INSTANCE_ID: "i-0abc",
            AWS_REGION: "eu-west-1",
            MARKER_PATTERN: marker.pattern,
            MARKER: marker.ready,
            FAILURE_MARKER: marker.failed ?? "",
            TIMEOUT_SECONDS: String(timeout),
            POLL_SECONDS: "0",
        },
    });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test("shellcheck passes the poll loop", () => {
    const dir = tempDir("shellcheck");
    fs.writeFileSync(path.join(dir, "wait.sh"), waitForConsoleMarkerScript);
    expect(run("shellcheck", ["--shell=sh", "--severity=style", path.join(dir, "wait.sh")]).output).toBe("");
});

/** A console line as journald forwards a unit's output there (`StandardOutput=journal+console`). */
const said = (message: string, unit = "foobar-ready") => `[   12.3] ${unit}[412]: ${message}\n`;

test("waits through boot noise and API errors until the marker appears", () => {
    const dir = fakeAws(["[    0.1] Linux version 6.1\r\n", "DENIED", `Cloud-init v. 22.4.2 running\n${said("foobar-ready")}`]);
    const r = gate(markers.webReady, dir);
    expect(r.stdout).toBe("i-0abc: foobar-ready (after 3 polls)\n");
    expect(r.stderr).toMatch(/get-console-output failed \(poll 2\): An error occurred \(UnauthorizedOperation\)/);
    expect(r.status).toBe(0);
});

test("a failure marker fails at once, naming it", () => {
    const r = gate(markers.webReady, fakeAws([said("foobar-not-ready: http://127.0.0.1/healthz did not answer")]));
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/i-0abc reports foobar-not-ready/);
});

test("only the last configuration marker counts: an older one for the same configuration (A, B, then A again) does not pass", () => {
    const a = configDigest("config A");
    const b = configDigest("config B");
    const console = said(`foobar-lb-config ${a}`, "foobar-lb-config") + said(`foobar-lb-config ${b}`, "foobar-lb-config");
    const r = gate(markers.lbConfig(a), fakeAws([console]), 1);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`timed out after 1s waiting for 'foobar-lb-config ${a}' .*last marker: 'foobar-lb-config ${b}'`));
    expect(gate(markers.lbConfig(b), fakeAws([console])).status).toBe(0);
    const rejected = gate(markers.lbConfig(a), fakeAws([console + said(`foobar-lb-config-rejected ${a}`, "foobar-lb-config")]));
    expect([rejected.status, rejected.stderr]).toEqual([1, expect.stringMatching(/reports foobar-lb-config-rejected/)]);
});

test("systemd's own lines naming the marker's unit are no marker: only a unit's message counts", () => {
    // Printed before the check runs, and after it failed: a bare match would pass early, or after a failure.
    const early = "[   10.0] systemd[1]: Starting foobar-ready.service - foobar readiness marker...\n";
    expect(gate(markers.webReady, fakeAws([early]), 1).status).toBe(1);
    const failed = said("foobar-not-ready: no answer") + "[   40.0] systemd[1]: Failed to start foobar-ready.service.\n";
    const r = gate(markers.webReady, fakeAws([failed]));
    expect([r.status, r.stderr]).toEqual([1, expect.stringMatching(/reports foobar-not-ready/)]);
});

/** A PATH directory with the system's commands but no aws CLI, whether or not this machine has one. */
function pathWithoutAws(): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "no-aws-"));
    for (const bin of ["/usr/bin", "/bin"]) {
        for (const name of fs.readdirSync(bin)) {
            if (name !== "aws" && !fs.existsSync(path.join(dir, name))) fs.symlinkSync(path.join(bin, name), path.join(dir, name));
        }
    }
    return dir;
}

test("without the aws CLI the gate fails with the reason", () => {
    const r = spawnSync("/bin/sh", ["-c", waitForConsoleMarkerScript], {
        encoding: "utf8",
        timeout: 30000,
        env: {
            PATH: pathWithoutAws(),
            INSTANCE_ID: "i-0abc",
            AWS_REGION: "eu-west-1",
            MARKER_PATTERN: markers.webReady.pattern,
            MARKER: markers.webReady.ready,
            FAILURE_MARKER: "",
            TIMEOUT_SECONDS: "5",
            POLL_SECONDS: "0",
        },
    });
    expect([r.status, r.stderr]).toEqual([1, expect.stringMatching(/the aws CLI is not installed/)]);
});
