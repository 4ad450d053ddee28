/** Changes on a running stack: each rule passes the program's plan and fails a deliberately wrong one. */
import {
    alarmTopicKey,
    eipFollowsReplacement,
    fixedAddressDeleteFirst,
    oneAtATime,
    replacementKeepsAServer,
    rolloutPolicies,
} from "../../policies/rollout";
import { alarmTopicKeyPolicy } from "../../components/monitoring";
import { policyResources, stackResources } from "../../tools/policy-check/resources";
import { OfflinePlan, planProgram } from "../../tools/preview/plan";
import { devStackFile } from "../helpers";
import { check, expectNoVerdict, instance, Spec, types, UNKNOWN } from "./helpers";

const web = (n: number, extra: Partial<Spec> = {}, props: Record<string, unknown> = {}): Spec =>
    instance(
        `web-${n}`,
        "web",
        { privateIp: `10.0.128.${9 + n}`, userDataReplaceOnChange: true, ...props },
        { deleteBeforeReplace: true, ...extra },
    );
const gate = (n: number): Spec => ({ type: "command:local:Command", name: `web-${n}-ready`, props: { triggers: [`i-web-${n}`] } });

describe("rollout-fixed-address-delete-first", () => {
    test("a fixed address replaced delete-first, or protected, passes; create-before-delete fails", async () => {
        expect((await check(fixedAddressDeleteFirst, [web(1), web(2, { deleteBeforeReplace: false, protect: true })])).found).toEqual([]);
        expect((await check(fixedAddressDeleteFirst, [web(1, { deleteBeforeReplace: false })])).flagged).toEqual(["web-1"]);
        // An address known only after the preview is still a fixed one.
        expect(
            (await check(fixedAddressDeleteFirst, [web(1, { deleteBeforeReplace: undefined }, { privateIp: UNKNOWN })])).flagged,
        ).toEqual(["web-1"]);
    });

    test("an address left to DHCP may be replaced either way", async () => {
        expect((await check(fixedAddressDeleteFirst, [web(1, { deleteBeforeReplace: false }, { privateIp: undefined })])).found).toEqual(
            [],
        );
    });
});

describe("rollout-one-at-a-time", () => {
    test("a chain through readiness gates passes; the gate found by its trigger (the instance id) or by dependencies", async () => {
        const chained = [web(1), gate(1), web(2, { dependsOn: ["web-1-ready"] }), gate(2), web(3, { dependsOn: ["web-2-ready"] })];
        expect((await check(oneAtATime, chained)).found).toEqual([]);
        const viaDeps = [
            web(1),
            { ...gate(1), props: { triggers: [UNKNOWN] }, deps: { triggers: ["web-1"] } },
            web(2, { dependsOn: ["web-1-ready"] }),
        ];
        expect((await check(oneAtATime, viaDeps)).found).toEqual([]);
    });

    test("servers that can be replaced together fail, each named with the ones it may go down with", async () => {
        const r = await check(oneAtATime, [web(1), gate(1), web(2), web(3, { dependsOn: ["web-1-ready"] })]);
        expect(r.found).toEqual([
            "web-2: web-2 and web-1 (web) can be replaced at the same time, delete-first: a change to all of them takes them all down together.",
            "web-3: web-3 and web-2 (web) can be replaced at the same time, delete-first: a change to all of them takes them all down together.",
        ]);
    });

    test("protected instances, and instances a user-data change does not replace, are not rolled", async () => {
        const db = (name: string) =>
            instance(name, "db", { privateIp: "10.0.128.11" }, { deleteBeforeReplace: true, ignoreChanges: ["ami", "userData"] });
        expect((await check(oneAtATime, [db("db-primary"), db("db-replica-1")])).found).toEqual([]);
    });
});

describe("rollout-replacement-keeps-a-server", () => {
    test("one delete-first server in its tier fails; two pass", async () => {
        expect((await check(replacementKeepsAServer, [web(1)])).flagged).toEqual(["web-1"]);
        expect((await check(replacementKeepsAServer, [web(1), web(2)])).found).toEqual([]);
    });
});

describe("rollout-alarm-topic-key", () => {
    const topicArn = "arn:aws:sns:eu-west-1:123456789012:alarms";
    const alarm: Spec = { type: types.metricAlarm, name: "web-1-status-check", props: { alarmActions: [topicArn], okActions: [topicArn] } };
    const topic = (kmsMasterKeyId?: string): Spec => ({ type: types.topic, name: "alarms", props: { arn: topicArn, kmsMasterKeyId } });
    const key = (policy: unknown): Spec => ({
        type: types.kmsKey,
        name: "alarms-key",
        props: { arn: "arn:aws:kms:eu-west-1:123456789012:key/k1", keyId: "k1", policy: JSON.stringify(policy) },
    });

    test("the program's key policy passes; unencrypted passes; a key outside the stack is not judged", async () => {
        expect((await check(alarmTopicKey, [alarm, topic("k1"), key(alarmTopicKeyPolicy("123456789012", "aws"))])).found).toEqual([]);
        expect((await check(alarmTopicKey, [alarm, topic(undefined)])).found).toEqual([]);
        expect((await check(alarmTopicKey, [alarm, topic("arn:aws:kms:eu-west-1:999999999999:key/other")])).found).toEqual([]);
    });

    test("alias/aws/sns fails on the topic", async () => {
        expect((await check(alarmTopicKey, [alarm, topic("alias/aws/sns")])).found).toEqual([
            "alarms: alarms (notified by web-1-status-check) is encrypted with the AWS managed key alias/aws/sns, whose policy does not let CloudWatch use it: the alarms cannot publish.",
        ]);
    });

    test("a key whose policy leaves out CloudWatch, or half its actions, fails on the key, also through an alias", async () => {
        const rootOnly = { Statement: alarmTopicKeyPolicy("123456789012", "aws").Statement.slice(0, 1) };
        expect((await check(alarmTopicKey, [alarm, topic("k1"), key(rootOnly)])).flagged).toEqual(["alarms-key"]);
        const decryptOnly = alarmTopicKeyPolicy("123456789012", "aws");
        decryptOnly.Statement[1].Action = ["kms:Decrypt"];
        const alias: Spec = { type: types.kmsAlias, name: "alarms-alias", props: { name: "alias/alarms", targetKeyId: "k1" } };
        expect((await check(alarmTopicKey, [alarm, topic("alias/alarms"), alias, key(decryptOnly)])).flagged).toEqual(["alarms-key"]);
    });

    test("an unknown key reference gives no verdict", async () => {
        expectNoVerdict(await check(alarmTopicKey, [alarm, topic(UNKNOWN), key({})]));
    });
});

describe("rollout-eip-follows-replacement", () => {
    const lb = instance("lb-1", "lb", { privateIp: "10.0.0.10" }, { deleteBeforeReplace: true });
    const eip = (props: Record<string, unknown> = {}, extra: Partial<Spec> = {}): Spec => ({
        type: types.eip,
        name: "lb-eip",
        props: { id: "eipalloc-1", ...props },
        ...extra,
    });
    const association = (allowReassociation?: boolean): Spec => ({
        type: types.eipAssociation,
        name: "lb-eip-association",
        props: { instanceId: "i-lb-1", allocationId: "eipalloc-1", allowReassociation },
    });

    test("Eip.instance, or an association that may reassociate, passes", async () => {
        expect((await check(eipFollowsReplacement, [lb, eip({ instance: "i-lb-1" })])).found).toEqual([]);
        expect((await check(eipFollowsReplacement, [lb, eip(), association(undefined)])).found).toEqual([]);
    });

    test("allowReassociation false, both ways at once, or the instance ignored, fail", async () => {
        expect((await check(eipFollowsReplacement, [lb, eip(), association(false)])).flagged).toEqual(["lb-eip-association"]);
        expect((await check(eipFollowsReplacement, [lb, eip({ instance: "i-lb-1" }), association(true)])).flagged).toEqual([
            "lb-eip-association",
        ]);
        expect((await check(eipFollowsReplacement, [lb, eip({ instance: "i-lb-1" }, { ignoreChanges: ["instance"] })])).flagged).toEqual([
            "lb-eip",
        ]);
    });
});

describe("over the program's own plan", () => {
    let plan: OfflinePlan;
    beforeAll(async () => {
        plan = await planProgram(devStackFile({ monitoring: "true", alarmEmail: "ops@foobar.com", webCount: "3" }));
    }, 60000);
    const evaluate = (p: OfflinePlan) => check(rolloutPolicies, policyResources(stackResources(p)));
    const edited = (edit: (r: OfflinePlan["resources"][number]) => void): OfflinePlan => {
        const copy = JSON.parse(JSON.stringify(plan)) as OfflinePlan;
        copy.resources.forEach(edit);
        return copy;
    };

    test("passes every rule but the single load balancer's", async () => {
        expect((await evaluate(plan)).found).toEqual([
            "lb-1: lb-1 is the only lb instance and is replaced delete-first: any change that replaces it leaves the tier with no server until the new one is ready.",
        ]);
    });

    test("fails when the web servers lose deleteBeforeReplace, their chain, or the alarm topic its key", async () => {
        const noDeleteFirst = edited(
            (r) => r.name.startsWith("web-") && r.type === types.instance && (r.options.deleteBeforeReplace = false),
        );
        expect((await evaluate(noDeleteFirst)).flagged).toEqual(expect.arrayContaining(["web-1", "web-2", "web-3"]));
        const unchained = edited((r) => r.type === types.instance && (r.options.dependsOn = []));
        expect((await check(oneAtATime, policyResources(stackResources(unchained)))).flagged).toEqual(["web-2", "web-3"]);
        const managedKey = edited((r) => r.type === types.topic && (r.inputs.kmsMasterKeyId = "alias/aws/sns"));
        expect((await check(alarmTopicKey, policyResources(stackResources(managedKey)))).flagged).toEqual(["monitoring-alarms"]);
    });
});
