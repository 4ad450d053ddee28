/**
 * Changes on a running stack: AWS rules that decide whether the second
 * `pulumi up` succeeds without an outage, which no preview under mocks can
 * see (README: Changes on a running stack). Each cites its source.
 */
import { PolicyResource } from "@pulumi/policy";
import type { TierRole } from "../roles";
import { gaps, list, resourcePolicy, stackPolicy } from "./lib/policy";
import { Res, roleOf, StackGraph, types } from "./lib/resources";
import { known, knownBool, knownList, knownString, need, unknown } from "./lib/unknowns";

/** An instance whose private address is fixed: set explicitly (an unknown value is still a fixed one). */
function fixedAddress(r: Res): boolean {
    const ip = known(() => r.props.privateIp);
    const secondary = knownList(() => r.props.secondaryPrivateIps);
    return (ip !== undefined && ip !== null && ip !== "") || secondary === unknown || secondary.length > 0;
}

/** Replaced by a routine change (not protected, and a new user-data or AMI is not ignored) and delete-first. */
function rolledDeleteFirst(r: Res): boolean {
    const ignored = r.opts.ignoreChanges ?? [];
    return fixedAddress(r) && !r.opts.protect && r.opts.deleteBeforeReplace === true && !ignored.includes("userData");
}

export const fixedAddressDeleteFirst = resourcePolicy(
    {
        name: "rollout-fixed-address-delete-first",
        description:
            "An instance with a fixed private address is replaced delete-first: AWS refuses a second instance with an address still in use (InvalidIPAddress.InUse), so Pulumi's default create-before-delete fails the deploy.",
        severity: "high",
        gap: gaps.hardening,
        remediationSteps:
            "Set `deleteBeforeReplace: true` on the instance (the program's createTierInstance does), or protect it so it is never replaced. Sources: pulumi/pulumi#8679, pulumi/pulumi-aws#1754, hashicorp/terraform-provider-aws#17431, aws/aws-cdk#31635.",
    },
    [types.instance],
    (r, ctx) => {
        if (!fixedAddress(r) || r.opts.protect || r.opts.deleteBeforeReplace === true) return;
        ctx.report(
            r,
            `${r.name} has a fixed private address but would be replaced create-before-delete: the new instance's launch fails with InvalidIPAddress.InUse while the old one holds the address.`,
        );
    },
);

/** The instances of each tier that a routine change replaces delete-first. */
/** The tiers a request passes through (a value here: the pack loads nothing from outside its directory at run time). */
const requestPathRoles: ReadonlySet<string> = new Set<TierRole>(["lb", "web", "db"]);

function rolledByRole(stack: StackGraph): Map<string, PolicyResource[]> {
    const byRole = new Map<string, PolicyResource[]>();
    for (const i of stack.ofType(types.instance)) {
        const role = roleOf(i);
        if (typeof role !== "string" || !rolledDeleteFirst(i)) continue;
        byRole.set(role, [...(byRole.get(role) ?? []), i]);
    }
    return byRole;
}

export const oneAtATime = stackPolicy(
    {
        name: "rollout-one-at-a-time",
        description:
            "Instances of a tier that are replaced delete-first are replaced one at a time: each depends on the one before (through its readiness gate), so a change never takes the whole tier down at once.",
        severity: "high",
        gap: gaps.hardening,
        remediationSteps:
            "Make each instance depend on the previous one's readiness (the program chains web-N behind web-(N-1)-ready, a local.Command that waits for the instance's console marker). Pulumi runs independent replacements in parallel (pulumi/pulumi step_executor.go).",
    },
    (stack, ctx) => {
        for (const [role, instances] of rolledByRole(stack)) {
            const sorted = [...instances].sort((a, b) => a.name.localeCompare(b.name, undefined, { numeric: true }));
            for (const [k, b] of sorted.entries()) {
                const parallel = sorted.slice(0, k).filter((a) => !stack.dependsOn(a, b) && !stack.dependsOn(b, a));
                if (parallel.length === 0) continue;
                ctx.report(
                    b,
                    `${b.name} and ${list(parallel.map((a) => a.name))} (${role}) can be replaced at the same time, delete-first: a change to all of them takes them all down together.`,
                );
            }
        }
    },
);

export const replacementKeepsAServer = stackPolicy(
    {
        name: "rollout-replacement-keeps-a-server",
        description:
            "A tier replaced delete-first keeps a server while one is replaced: a tier of one such instance is down for every replacement (a new user-data, AMI or instance type).",
        severity: "medium",
        gap: gaps.hardening,
        remediationSteps:
            "Run two or more instances of the tier (`webCount` ≥ 2 for the web tier). The load balancer has no second instance yet (see redundancy-load-balancer): a change that replaces it is an outage of a few minutes; pin `amiId` so a new Debian AMI does not replace it unasked.",
    },
    (stack, ctx) => {
        for (const [role, instances] of rolledByRole(stack)) {
            // Only the tiers users' requests pass through: a lone monitoring server being replaced leaves the site serving.
            if (!requestPathRoles.has(role)) continue;
            const tier = stack.ofType(types.instance).filter((i) => roleOf(i) === role);
            if (instances.length !== 1 || tier.length !== 1) continue;
            ctx.report(
                instances[0],
                `${instances[0].name} is the only ${role} instance and is replaced delete-first: any change that replaces it leaves the tier with no server until the new one is ready.`,
            );
        }
    },
);

/** Whether a key policy lets the CloudWatch service use the key for an encrypted topic. */
function allowsCloudWatch(policyText: string): boolean {
    let doc: { Statement?: unknown };
    try {
        doc = JSON.parse(policyText) as { Statement?: unknown };
    } catch {
        return false;
    }
    const statements = ([] as unknown[]).concat(doc.Statement ?? []) as {
        Effect?: string;
        Principal?: { Service?: string | string[] } | string;
        Action?: string | string[];
    }[];
    const allowed = statements
        .filter((s) => s.Effect === "Allow")
        .filter(
            (s) =>
                s.Principal === "*" ||
                ([] as string[]).concat((s.Principal as { Service?: string[] })?.Service ?? []).includes("cloudwatch.amazonaws.com"),
        )
        .flatMap((s) => ([] as string[]).concat(s.Action ?? []));
    const covers = (action: string) =>
        allowed.some((a) => a === "*" || a === "kms:*" || a === action || (a.endsWith("*") && action.startsWith(a.slice(0, -1))));
    return covers("kms:Decrypt") && covers("kms:GenerateDataKey") && covers("kms:GenerateDataKeyWithoutPlaintext");
}

export const alarmTopicKey = stackPolicy(
    {
        name: "rollout-alarm-topic-key",
        description:
            "An encrypted SNS topic that CloudWatch alarms notify uses a customer managed key whose policy lets cloudwatch.amazonaws.com call kms:Decrypt and kms:GenerateDataKey*; with alias/aws/sns the alarms can never publish.",
        severity: "high",
        gap: gaps.monitoring,
        remediationSteps:
            "Set `monitoring: true`: the program encrypts the alarm topic with a key of its own whose policy allows CloudWatch. Source: https://repost.aws/knowledge-center/cloudwatch-configure-alarm-sns (the AWS managed key's policy cannot be edited).",
    },
    (stack, ctx) => {
        const topics = stack.ofType(types.topic);
        const keys = stack.ofType(types.kmsKey);
        const aliases = stack.ofType(types.kmsAlias);
        const notified = new Map<string, { topic: PolicyResource; alarms: string[] }>();
        for (const alarm of stack.ofType(types.metricAlarm)) {
            ctx.judge(() => {
                for (const prop of ["alarmActions", "okActions", "insufficientDataActions"]) {
                    for (const action of need(knownList<string>(() => alarm.props[prop]))) {
                        const found = stack.targets(alarm, prop, action, topics);
                        if (found === unknown) continue;
                        for (const topic of found) {
                            const entry = notified.get(topic.urn) ?? { topic, alarms: [] };
                            if (!entry.alarms.includes(alarm.name)) entry.alarms.push(alarm.name);
                            notified.set(topic.urn, entry);
                        }
                    }
                }
            });
        }
        for (const { topic, alarms } of notified.values()) {
            ctx.judge(() => {
                const keyRef = need(knownString(() => topic.props.kmsMasterKeyId));
                if (keyRef === undefined || keyRef === "") return;
                const who = `${topic.name} (notified by ${list(alarms)})`;
                if (keyRef.startsWith("alias/aws/")) {
                    ctx.report(
                        topic,
                        `${who} is encrypted with the AWS managed key ${keyRef}, whose policy does not let CloudWatch use it: the alarms cannot publish.`,
                    );
                    return;
                }
                // The key by id, ARN or key id; or through an alias in the stack.
                const byAlias = aliases.find(
                    (a) => knownString(() => a.props.name) === keyRef || knownString(() => a.props.arn) === keyRef,
                );
                const target = byAlias ? need(knownString(() => byAlias.props.targetKeyId)) : keyRef;
                const key = keys.find((k) => ["id", "arn", "keyId"].some((p) => knownString(() => k.props[p]) === target));
                if (!key) return; // A key outside the stack: its policy is not ours to read.
                const policy = need(knownString(() => key.props.policy));
                if (policy === undefined || !allowsCloudWatch(policy)) {
                    ctx.report(
                        key,
                        `${key.name} encrypts ${who}, but its key policy does not allow cloudwatch.amazonaws.com kms:Decrypt and kms:GenerateDataKey*: the alarms cannot publish.`,
                    );
                }
            });
        }
    },
);

export const eipFollowsReplacement = stackPolicy(
    {
        name: "rollout-eip-follows-replacement",
        description:
            "An Elastic IP can move to a replacement instance: set by Eip.instance (updated in place) or by an EipAssociation that may reassociate, not both, and not with its instance ignored.",
        severity: "high",
        gap: gaps.hardening,
        remediationSteps:
            'Associate the address with `aws.ec2.Eip({ instance })` (the provider disassociates the old instance and associates the new one, hashicorp/terraform-provider-aws ec2_eip.go), or an `EipAssociation` with `allowReassociation` left at its default `true`; never both for one address, and never `ignoreChanges: ["instance"]`.',
    },
    (stack, ctx) => {
        const instances = stack.ofType(types.instance);
        const eips = stack.ofType(types.eip);
        const associations = stack.ofType(types.eipAssociation);
        const replaceable = (instance: PolicyResource) => !instance.opts.protect;
        for (const association of associations) {
            ctx.judge(() => {
                const targets = need(
                    stack.targets(
                        association,
                        "instanceId",
                        knownString(() => association.props.instanceId),
                        instances,
                    ),
                );
                if (need(knownBool(() => association.props.allowReassociation)) === false && targets.some(replaceable)) {
                    ctx.report(
                        association,
                        `${association.name} sets allowReassociation: false for ${list(targets.map((t) => t.name))}: associating the address with a replacement fails while it is still associated (AssociateAddress).`,
                    );
                }
                const allocation = need(
                    stack.targets(
                        association,
                        "allocationId",
                        knownString(() => association.props.allocationId),
                        eips,
                    ),
                );
                for (const eip of allocation) {
                    if (need(knownString(() => eip.props.instance)) !== undefined) {
                        ctx.report(
                            association,
                            `${association.name} and ${eip.name}'s own instance argument both associate the same address: each update undoes the other.`,
                        );
                    }
                }
            });
        }
        for (const eip of eips) {
            ctx.judge(() => {
                const instanceRef = need(knownString(() => eip.props.instance));
                if (instanceRef === undefined || !(eip.opts.ignoreChanges ?? []).includes("instance")) return;
                const targets = need(stack.targets(eip, "instance", instanceRef, instances));
                if (targets.some(replaceable)) {
                    ctx.report(
                        eip,
                        `${eip.name} ignores changes to its instance: when ${list(targets.map((t) => t.name))} is replaced, the address stays with no instance.`,
                    );
                }
            });
        }
    },
);

export const rolloutPolicies = [fixedAddressDeleteFirst, oneAtATime, replacementKeepsAServer, alarmTopicKey, eipFollowsReplacement];
