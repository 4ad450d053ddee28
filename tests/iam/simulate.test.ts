/**
 * Every AWS call the stack makes, simulated against the IAM policies of the dev and prod offline plans with
 * @cloud-copilot/iam-simulate (AWS's policy evaluation logic, with the Service Authorization Reference as data).
 * The calls are read from the plan: each instance fetches the SSM parameters its user-data names
 * (foobar-fetch-secret, foobar-lb-config); a pair's load balancer moves the Elastic IP its user-data names
 * (take-public-address-aws.py: AssociateAddress with InstanceId, then DescribeAddresses); the monitoring instance's
 * Alertmanager publishes to the topic its user-data names, through the topic's KMS key; CloudWatch alarms publish
 * to that topic through the same key.
 *
 * Each request carries only the condition keys AWS supplies for its action and resource type (the Service
 * Authorization Reference: https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonec2.html,
 * .../list_awssystemsmanager.html, .../list_amazonsns.html, .../list_awskeymanagementservice.html), as the
 * simulator's copy of that reference lists them. A needed call that is denied fails; so does a grant wider than
 * the calls: a statement, action or resource that no call uses, or a call on another resource (another id, other
 * condition values) that is still allowed.
 */
import { allowedContextKeysForRequest, isWildcardOnlyAction, runSimulation } from "@cloud-copilot/iam-simulate";
import { byName, ofType } from "../helpers";
import { OfflinePlan, PlannedResource, planStack } from "../../tools/preview/plan";

interface Statement {
    Sid?: string;
    Effect: string;
    Principal?: unknown;
    Action: string | string[];
    Resource: string | string[];
    Condition?: unknown;
}
interface Policy {
    Version: string;
    Statement: Statement[];
}

interface Call {
    /** Who calls, for messages: the instance or the service. */
    caller: string;
    principal: string;
    action: string;
    resource: string;
    /** What AWS knows about the resource and the request; only the keys AWS supplies for this action and resource are sent. */
    facts: Record<string, string>;
    identityPolicy?: Policy;
    resourcePolicy?: Policy;
}

const account = "123456789012";
const list = <T>(v: T | T[]): T[] => ([] as T[]).concat(v);
const tagFacts = (r: PlannedResource, prefixes: string[]) =>
    Object.fromEntries(
        Object.entries((r.inputs.tags ?? {}) as Record<string, string>).flatMap(([k, v]) => prefixes.map((p) => [`${p}/${k}`, v])),
    );

/** The condition keys AWS supplies for this action on this resource (lower case; `${TagKey}` stands for any tag). */
async function suppliedKeys(call: Call): Promise<(key: string) => boolean> {
    const [service, action] = call.action.split(":");
    const keys = await allowedContextKeysForRequest(service, action, call.resource, false, undefined);
    return (key) =>
        keys.some((k) => {
            const lower = key.toLowerCase();
            const variable = k.indexOf("${");
            return variable >= 0 ? lower.startsWith(k.slice(0, variable)) : lower === k;
        });
}

async function simulate(call: Call, identityPolicy = call.identityPolicy, resourcePolicy = call.resourcePolicy) {
    const supplied = await suppliedKeys(call);
    const contextVariables = Object.fromEntries(Object.entries(call.facts).filter(([k]) => supplied(k)));
    const result = await runSimulation(
        {
            identityPolicies: identityPolicy ? [{ name: "policy", policy: identityPolicy }] : [],
            serviceControlPolicies: [],
            resourceControlPolicies: [],
            resourcePolicy,
            request: {
                principal: call.principal,
                action: call.action,
                resource: { resource: call.resource, accountId: account },
                contextVariables,
            },
        },
        {},
    );
    if (result.resultType === "error") throw new Error(`${show(call)}: ${JSON.stringify(result.errors)}`);
    return result.overallResult;
}

const show = (c: Call) => `${c.caller}: ${c.action} on ${c.resource}`;

/** The same call on another resource of the same type: another id, and every fact about it different. */
function elsewhere(call: Call): Call {
    const other = (v: string) => (v.startsWith("arn:") ? `${v}-other` : `other-${v}`);
    return {
        ...call,
        resource: call.resource === "*" ? "*" : call.resource.replace(/[^/:]+$/, (id) => `${id}-other`),
        facts: Object.fromEntries(Object.entries(call.facts).map(([k, v]) => [k, k === "ec2:Region" ? v : other(v)])),
    };
}

/** The calls the stack makes, read from its plan. */
function stackCalls(plan: OfflinePlan): { calls: Call[]; policies: Map<string, Policy> } {
    const region = String(plan.outputs.region ?? "eu-west-1");
    const policies = new Map<string, Policy>();
    for (const p of ofType(plan, "aws:iam/rolePolicy:RolePolicy"))
        policies.set(String(p.inputs.role), JSON.parse(String(p.inputs.policy)) as Policy);
    const parameters = ofType(plan, "aws:ssm/parameter:Parameter");
    const calls: Call[] = [];
    for (const instance of ofType(plan, "aws:ec2/instance:Instance")) {
        const profile = ofType(plan, "aws:iam/instanceProfile:InstanceProfile").find(
            (p) => p.outputs.name === instance.inputs.iamInstanceProfile,
        );
        if (!profile) throw new Error(`${instance.name} has no instance profile of the plan`);
        const roleName = String(profile.inputs.role);
        const base = {
            caller: instance.name,
            // An instance signs with its role's session, named after the instance.
            principal: `arn:aws:sts::${account}:assumed-role/${roleName}/${String(instance.outputs.id)}`,
            identityPolicy: policies.get(roleName),
        };
        const userData = String(instance.inputs.userData);
        for (const parameter of parameters.filter((p) => userData.includes(`"${String(p.inputs.name)}"`))) {
            calls.push({
                ...base,
                action: "ssm:GetParameter",
                resource: String(parameter.outputs.arn),
                facts: tagFacts(parameter, ["aws:ResourceTag"]),
            });
        }
        const allocation = /PUBLIC_ADDRESS_ALLOCATION_ID="(eipalloc-[0-9a-f]+)"/.exec(userData)?.[1];
        if (allocation) {
            const eip = ofType(plan, "aws:ec2/eip:Eip").find((e) => e.outputs.id === allocation)!;
            const subnet = ofType(plan, "aws:ec2/subnet:Subnet").find((s) => s.outputs.id === instance.inputs.subnetId)!;
            const zone = String(subnet.inputs.availabilityZone);
            const arn = (type: string, id: unknown) => `arn:aws:ec2:${region}:${account}:${type}/${String(id)}`;
            const regional = { "ec2:Region": region };
            calls.push(
                {
                    ...base,
                    action: "ec2:AssociateAddress",
                    resource: arn("elastic-ip", allocation),
                    facts: {
                        ...regional,
                        "ec2:AllocationId": allocation,
                        "ec2:Domain": "vpc",
                        "ec2:PublicIpAddress": String(eip.outputs.publicIp),
                        ...tagFacts(eip, ["aws:ResourceTag", "ec2:ResourceTag"]),
                    },
                },
                {
                    ...base,
                    action: "ec2:AssociateAddress",
                    resource: arn("instance", instance.outputs.id),
                    facts: {
                        ...regional,
                        "ec2:InstanceID": String(instance.outputs.id),
                        "ec2:InstanceProfile": String(profile.outputs.arn),
                        "ec2:InstanceType": String(instance.inputs.instanceType),
                        "ec2:AvailabilityZone": zone,
                        "ec2:MetadataHttpTokens": "required",
                        "ec2:RootDeviceType": "ebs",
                        "ec2:Tenancy": "default",
                        ...tagFacts(instance, ["aws:ResourceTag", "ec2:ResourceTag"]),
                    },
                },
                {
                    // With InstanceId, the address goes to the instance's primary interface, which EC2 may authorize too.
                    ...base,
                    action: "ec2:AssociateAddress",
                    resource: arn("network-interface", `eni-${String(instance.outputs.id).slice(2)}`),
                    facts: {
                        ...regional,
                        "ec2:NetworkInterfaceID": `eni-${String(instance.outputs.id).slice(2)}`,
                        "ec2:Vpc": arn("vpc", subnet.inputs.vpcId),
                        "ec2:Subnet": arn("subnet", subnet.outputs.id),
                        "ec2:AvailabilityZone": zone,
                    },
                },
                { ...base, action: "ec2:DescribeAddresses", resource: "*", facts: regional },
            );
        }
        const topic = ofType(plan, "aws:sns/topic:Topic").find((t) => userData.includes(String(t.outputs.arn)));
        if (topic) {
            calls.push({
                ...base,
                action: "sns:Publish",
                resource: String(topic.outputs.arn),
                facts: tagFacts(topic, ["aws:ResourceTag"]),
            });
            calls.push(...keyCalls(plan, topic, base, region, ["kms:GenerateDataKey", "kms:Decrypt"]));
        }
    }
    // CloudWatch alarms publish to the topic: SNS encrypts with the topic's key on CloudWatch's behalf, under the
    // key policy alone (https://repost.aws/knowledge-center/cloudwatch-configure-alarm-sns; the actions are those
    // the policy rollout-alarm-topic-key requires).
    for (const topic of ofType(plan, "aws:sns/topic:Topic")) {
        const cloudwatch = { caller: "CloudWatch alarms", principal: "cloudwatch.amazonaws.com" };
        calls.push(
            ...keyCalls(plan, topic, cloudwatch, region, ["kms:Decrypt", "kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext"]),
        );
    }
    return { calls, policies };
}

/** SNS's calls to the topic's key for a publisher (https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html). */
function keyCalls(
    plan: OfflinePlan,
    topic: PlannedResource,
    who: Omit<Call, "action" | "resource" | "facts">,
    region: string,
    actions: string[],
): Call[] {
    const key = ofType(plan, "aws:kms/key:Key").find((k) => k.outputs.arn === topic.inputs.kmsMasterKeyId);
    if (!key) throw new Error(`${topic.name} is not encrypted with a key of the plan`);
    return actions.map((action) => ({
        ...who,
        action,
        resource: String(key.outputs.arn),
        resourcePolicy: JSON.parse(String(key.inputs.policy)) as Policy,
        facts: {
            "kms:ViaService": `sns.${region}.amazonaws.com`,
            "kms:CallerAccount": account,
            "kms:EncryptionContext:aws:sns:topicArn": String(topic.outputs.arn),
            ...tagFacts(key, ["aws:ResourceTag"]),
        },
    }));
}

/** The policy with only one statement, and that statement with only one action and one resource. */
const only = (s: Statement, action?: string, resource?: string): Policy => ({
    Version: "2012-10-17",
    Statement: [{ ...s, Action: action ?? s.Action, Resource: resource ?? s.Resource }],
});

const plans: Record<string, OfflinePlan> = {};
beforeAll(async () => {
    for (const stack of ["dev", "prod"]) plans[stack] = await planStack(stack);
}, 120_000);

describe.each(["dev", "prod"])("the %s stack", (stack) => {
    test("every call the stack makes is allowed", async () => {
        const { calls } = stackCalls(plans[stack]);
        const denied: string[] = [];
        for (const call of calls) if ((await simulate(call)) !== "Allowed") denied.push(show(call));
        expect(denied).toEqual([]);
        // The plan's calls cover every tier that calls AWS (a plan read wrongly would prove nothing): prod has the
        // pair and monitoring, dev neither.
        const publishes = ["sns:Publish", "kms:GenerateDataKey", "kms:Decrypt", "kms:GenerateDataKeyWithoutPlaintext"];
        const movesAddress = ["ec2:AssociateAddress", "ec2:DescribeAddresses"];
        expect(new Set(calls.map((c) => c.action))).toEqual(
            new Set(["ssm:GetParameter", ...(stack === "prod" ? [...publishes, ...movesAddress] : [])]),
        );
    });

    test("every statement, action and resource of each instance role is used by a call, and allows nothing elsewhere", async () => {
        const { calls, policies } = stackCalls(plans[stack]);
        const unused: string[] = [];
        const wider: string[] = [];
        for (const [role, policy] of policies) {
            const ofRole = calls.filter((c) => c.identityPolicy === policy);
            for (const s of policy.Statement) {
                for (const action of list(s.Action)) {
                    // An action pattern (kms:GenerateDataKey*) also grants the actions it matches that the stack never calls.
                    if (!ofRole.some((c) => c.action.toLowerCase() === action.toLowerCase()))
                        wider.push(`${role}: ${action} is no call's action`);
                    for (const resource of list(s.Resource)) {
                        let used = false;
                        for (const call of ofRole) {
                            const granted = only(s, action, resource);
                            if ((await simulate(call, granted, call.resourcePolicy)) !== "Allowed") continue;
                            used = true;
                            // A wildcard resource is fine only for an action that takes no resource (Describe*).
                            if (resource === "*" && (await isWildcardOnlyAction(call.action.split(":")[0], call.action.split(":")[1])))
                                continue;
                            if ((await simulate(elsewhere(call), granted, call.resourcePolicy)) === "Allowed") {
                                wider.push(`${role}: ${action} on ${resource} also allows ${show(elsewhere(call))}`);
                            }
                        }
                        if (!used) unused.push(`${role}: ${action} on ${resource}`);
                    }
                }
            }
        }
        expect({ unused, wider }).toEqual({ unused: [], wider: [] });
    });

    test("an instance may read no other tier's parameters", async () => {
        const { calls } = stackCalls(plans[stack]);
        const parameters = ofType(plans[stack], "aws:ssm/parameter:Parameter");
        const allowed: string[] = [];
        for (const caller of new Set(calls.filter((c) => c.identityPolicy).map((c) => c.caller))) {
            const own = calls.filter((c) => c.caller === caller);
            const needed = new Set(own.filter((c) => c.action === "ssm:GetParameter").map((c) => c.resource));
            for (const p of parameters.filter((p) => !needed.has(String(p.outputs.arn)))) {
                const call = {
                    ...own[0],
                    action: "ssm:GetParameter",
                    resource: String(p.outputs.arn),
                    facts: {},
                    resourcePolicy: undefined,
                };
                if ((await simulate(call)) === "Allowed") allowed.push(`${caller}: ${p.name}`);
            }
        }
        expect(allowed).toEqual([]);
    });

    test("the alarm key's policy lets CloudWatch do what publishing needs and nothing else", async () => {
        const { calls } = stackCalls(plans[stack]);
        const key = ofType(plans[stack], "aws:kms/key:Key")[0];
        if (stack === "dev") return expect(key).toBeUndefined(); // no monitoring, no topic
        const policy = JSON.parse(String(key.inputs.policy)) as Policy;
        const cloudwatch = calls.filter((c) => c.principal === "cloudwatch.amazonaws.com");
        // The account's statement is not ours to narrow: without it KMS refuses the policy (the lockout safety check).
        const forCloudWatch = policy.Statement.filter((s) => JSON.stringify(s.Principal).includes("cloudwatch.amazonaws.com"));
        expect(forCloudWatch).toHaveLength(1);
        const unused: string[] = [];
        for (const action of list(forCloudWatch[0].Action)) {
            if (!cloudwatch.some((c) => c.action.toLowerCase() === action.toLowerCase())) unused.push(`${action} is no call's action`);
            let used = false;
            for (const call of cloudwatch) if ((await simulate(call, undefined, only(forCloudWatch[0], action))) === "Allowed") used = true;
            if (!used) unused.push(action);
        }
        expect(unused).toEqual([]);
        expect(byName(plans[stack], key.name).inputs.enableKeyRotation).toBe(true);
    });
});
