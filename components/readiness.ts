/**
 * Readiness gates: a deploy step that succeeds only once an instance says it
 * serves. Pulumi's own options cannot wait for that (an instance's Create
 * returns when EC2 says `running`, long before cloud-init is done), so each
 * gate is a `@pulumi/command` local.Command that polls the instance's console
 * for the marker the instance prints (components/scripts/wait-for-console-marker.sh).
 *
 * Why a Command, and why it orders the rollout: a resource that lists the gate
 * in `dependsOn` is not even registered until the gate's create has finished
 * (the Node SDK awaits every dependsOn URN before RegisterResource), and a
 * failed gate fails its step, so nothing after it is touched. Its `triggers`
 * are replace-on-change: a replaced instance (new id) or a new configuration
 * digest replaces the gate, which waits again. A resource hook would not do:
 * a failing after-hook does not stop dependents (pulumi/pulumi v3.248.0
 * step_executor.go). The command runs on the machine running `pulumi up`,
 * with its AWS credentials: the deploy role needs ec2:GetConsoleOutput.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";

const script = (file: string) => fs.readFileSync(path.join(__dirname, "scripts", file), "utf8");
/** The poll loop of the console gates. */
export const waitForConsoleMarkerScript = script("wait-for-console-marker.sh");
/** The poll loop of the pair's address gate. */
export const waitForAddressHolderScript = script("wait-for-address-holder.sh");

/** The tag every load balancer of a pair carries: the address gate takes its holder for a member of the pair by it. */
export const pairMemberTag = { key: "PublicAddress", value: "keepalived" } as const;

/** What the instances print (userdata/files/rollout/), and how the gates recognise it. */
export const markers = {
    /** A web server whose app answers through nginx (foobar-ready.sh). */
    webReady: { pattern: "foobar-(not-)?ready", ready: "foobar-ready", failed: "foobar-not-ready" },
    /** The load balancer running a published configuration, by the configuration's digest (foobar-lb-config.sh). */
    lbConfig: (digest: string) => ({
        pattern: "foobar-lb-config(-rejected)? [0-9a-f]{16}",
        ready: `foobar-lb-config ${digest}`,
        failed: `foobar-lb-config-rejected ${digest}`,
    }),
};

/** The digest the load balancer prints for a configuration: the first 16 hex digits of its SHA-256 (`sha256sum | cut -c1-16`). */
export function configDigest(text: string): string {
    return crypto.createHash("sha256").update(text).digest("hex").slice(0, 16);
}

export interface ConsoleMarkerGateArgs {
    instanceId: pulumi.Input<string>;
    region: string;
    marker: { pattern: string; ready: string; failed?: string };
    /** Upper bound of the wait: cloud-init installs packages first, so minutes. */
    timeoutSeconds?: number;
    /** Besides the instance id, what makes the gate wait again (a configuration digest). */
    triggers?: pulumi.Input<string>[];
}

/** Default bound: package installation and the app's start take 2-4 minutes on a t3. */
export const defaultGateTimeoutSeconds = 900;

export function consoleMarkerGate(name: string, args: ConsoleMarkerGateArgs, opts: pulumi.CustomResourceOptions): command.local.Command {
    return gate(
        name,
        waitForConsoleMarkerScript,
        {
            INSTANCE_ID: args.instanceId,
            AWS_REGION: args.region,
            MARKER_PATTERN: args.marker.pattern,
            MARKER: args.marker.ready,
            FAILURE_MARKER: args.marker.failed ?? "",
        },
        args.timeoutSeconds,
        [args.instanceId, ...(args.triggers ?? [])],
        opts,
    );
}

export interface AddressHolderGateArgs {
    /** The Elastic IP's allocation id. */
    allocationId: pulumi.Input<string>;
    /** The load balancer that must hold it, unless another member of its pair (tagged pairMemberTag) does. */
    instanceId: pulumi.Input<string>;
    region: string;
    timeoutSeconds?: number;
}

/** Passes once the pair's address is on `instanceId`, or on another member of the pair (wait-for-address-holder.sh). */
export function addressHolderGate(name: string, args: AddressHolderGateArgs, opts: pulumi.CustomResourceOptions): command.local.Command {
    return gate(
        name,
        waitForAddressHolderScript,
        {
            ALLOCATION_ID: args.allocationId,
            INSTANCE_ID: args.instanceId,
            AWS_REGION: args.region,
            MEMBER_TAG_KEY: pairMemberTag.key,
            MEMBER_TAG_VALUE: pairMemberTag.value,
        },
        args.timeoutSeconds,
        [args.instanceId, args.allocationId],
        opts,
    );
}

function gate(
    name: string,
    create: string,
    environment: Record<string, pulumi.Input<string>>,
    timeoutSeconds: number | undefined,
    triggers: pulumi.Input<string>[],
    opts: pulumi.CustomResourceOptions,
): command.local.Command {
    const bounds = { TIMEOUT_SECONDS: String(timeoutSeconds ?? defaultGateTimeoutSeconds), POLL_SECONDS: "10" };
    return new command.local.Command(name, { create, environment: { ...environment, ...bounds }, triggers }, opts);
}
