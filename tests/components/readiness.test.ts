/**
 * The readiness gate's poll loop, run for real against a stand-in `aws` CLI
 * that prints a console, and the markers the instances print
 * (userdata/files/rollout/) fed through it.
 */
import * as fs from "fs";
import * as path from "path";
import { spawnSync } from "child_process";
import { configDigest, markers, pairMemberTag, waitForAddressHolderScript, waitForConsoleMarkerScript } from "../../components/readiness";
import { boto3Against, StandIn, startMoto } from "../awsStandIns";
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
            // Without a fake, a PATH with no `aws` at all (Debian's may be installed in /usr/bin).
            PATH: pathDir ? `${pathDir}:/usr/bin:/bin` : tempDir("no-aws"),
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

test("without the aws CLI the gate fails with the reason", () => {
    const r = gate(markers.webReady, undefined);
    expect([r.status, r.stderr]).toEqual([1, expect.stringMatching(/the aws CLI is not installed/)]);
});

describe("the pair's address gate, against moto's EC2 on loopback with Debian's aws CLI", () => {
    let moto: StandIn;
    /** lb-2, lb-1 as a member of the pair, and a lone load balancer's instance (the old lb-1 on the way from one to two). */
    let ids: { lb2: string; peer: string; lone: string; allocation: string };
    const region = "us-east-1";
    const ec2 = (code: string) => boto3Against(moto, `ec2 = client("ec2", ${JSON.stringify(region)})\n${code}`);
    const moveTo = (instance: string | undefined) =>
        ec2(
            instance
                ? `ec2.associate_address(AllocationId="${ids.allocation}", InstanceId="${instance}", AllowReassociation=True)`
                : `a = ec2.describe_addresses(AllocationIds=["${ids.allocation}"])["Addresses"][0]\nif "AssociationId" in a: ec2.disassociate_address(AssociationId=a["AssociationId"])`,
        );

    beforeAll(async () => {
        moto = await startMoto();
        const member = `[{"ResourceType": "instance", "Tags": [{"Key": "${pairMemberTag.key}", "Value": "${pairMemberTag.value}"}]}]`;
        const launch = (tags: string) =>
            `ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, InstanceType="t3.micro", TagSpecifications=${tags})["Instances"][0]["InstanceId"]`;
        const out = ec2(
            `import json\nprint(json.dumps({"lb2": ${launch(member)}, "peer": ${launch(member)}, "lone": ${launch("[]")}, "allocation": ec2.allocate_address(Domain="vpc")["AllocationId"]}))`,
        );
        ids = JSON.parse(out) as typeof ids;
    }, 60_000);
    afterAll(() => moto?.stop());

    function holdsGate(timeout = 2) {
        const home = tempDir("aws-home");
        const r = spawnSync("/bin/sh", ["-c", waitForAddressHolderScript], {
            encoding: "utf8",
            timeout: 60_000,
            env: {
                PATH: `/usr/bin:/bin`,
                HOME: home,
                AWS_CONFIG_FILE: path.join(home, "none"),
                AWS_SHARED_CREDENTIALS_FILE: path.join(home, "none"),
                AWS_ACCESS_KEY_ID: "test",
                AWS_SECRET_ACCESS_KEY: "test",
                EC2_ENDPOINT_URL: moto.url,
                ALLOCATION_ID: ids.allocation,
                INSTANCE_ID: ids.lb2,
                AWS_REGION: region,
                MEMBER_TAG_KEY: pairMemberTag.key,
                MEMBER_TAG_VALUE: pairMemberTag.value,
                TIMEOUT_SECONDS: String(timeout),
                POLL_SECONDS: "1",
            },
        });
        return { status: r.status, stdout: r.stdout, stderr: r.stderr };
    }

    test("shellcheck passes it", () => {
        const dir = tempDir("shellcheck");
        fs.writeFileSync(path.join(dir, "holds.sh"), waitForAddressHolderScript);
        expect(run("shellcheck", ["--shell=sh", "--severity=style", path.join(dir, "holds.sh")]).output).toBe("");
    });

    test("the address on lb-2: lb-1 may go", () => {
        moveTo(ids.lb2);
        const r = holdsGate();
        expect([r.status, r.stdout]).toEqual([0, `${ids.allocation} is on ${ids.lb2} (after 1 polls)\n`]);
    });

    test("the address on lb-1 of the pair (lb-2 its backup): lb-1 may go, keepalived on lb-2 takes it", () => {
        moveTo(ids.peer);
        const r = holdsGate();
        expect([r.status, r.stdout]).toEqual([0, expect.stringContaining(`${ids.allocation} is on ${ids.peer}, ${ids.lb2}'s peer`)]);
    });

    test("from one load balancer to two: while the lone one still holds the address, lb-1 is not touched", () => {
        moveTo(ids.lone);
        const r = holdsGate(2);
        expect(r.status).toBe(1);
        expect(r.stderr).toContain(`timed out after 2s waiting for ${ids.allocation} to move to ${ids.lb2} (held by: '${ids.lone}')`);
    });

    test("an address on no instance is waited for, too", () => {
        moveTo(undefined);
        const r = holdsGate(1);
        expect([r.status, r.stderr]).toEqual([1, expect.stringContaining("(held by: 'none')")]);
    });
});
