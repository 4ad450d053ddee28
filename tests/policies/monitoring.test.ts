/** No monitoring: detailed metrics, a status-check alarm per instance, alarms that reach someone. */
import { alarmNotifies, detailedMonitoring, statusCheckAlarm } from "../../policies/monitoring";
import { check, expectNoVerdict, instance, Spec, types, UNKNOWN, UNKNOWN_BOOL } from "./helpers";

const topic: Spec = { type: types.topic, name: "alarms", props: { arn: "arn:aws:sns:eu-west-1:123456789012:alarms" } };
const email: Spec = {
    type: types.topicSubscription,
    name: "alarms-email",
    props: { topic: topic.props?.arn, protocol: "email", endpoint: "ops@foobar.com" },
};
const alarm = (name: string, instanceId: unknown, props: Record<string, unknown> = {}, extra: Partial<Spec> = {}): Spec => ({
    type: types.metricAlarm,
    name,
    props: {
        namespace: "AWS/EC2",
        metricName: "StatusCheckFailed",
        dimensions: { InstanceId: instanceId },
        alarmActions: [topic.props?.arn],
        ...props,
    },
    ...extra,
});

describe("monitoring-detailed", () => {
    test("passes with detailed monitoring, fails without", async () => {
        expect((await check(detailedMonitoring, [instance("web-1", "web")])).found).toEqual([]);
        expect(
            (
                await check(detailedMonitoring, [
                    instance("web-1", "web", { monitoring: false }),
                    instance("web-2", "web", { monitoring: undefined }),
                ])
            ).found,
        ).toEqual([
            "web-1: web-1 has basic monitoring only: five-minute metrics, too coarse to alarm on quickly.",
            "web-2: web-2 has basic monitoring only: five-minute metrics, too coarse to alarm on quickly.",
        ]);
    });

    test("unknown gives no verdict; an exemption waives", async () => {
        expectNoVerdict(await check(detailedMonitoring, [instance("web-1", "web", { monitoring: UNKNOWN_BOOL })]));
        expect((await check(detailedMonitoring, [instance("web-1", "web", { monitoring: false })], { exempt: ["web-1"] })).waived).toEqual([
            "web-1",
        ]);
    });
});

describe("monitoring-status-check-alarm", () => {
    test("passes when every instance has a status-check alarm", async () => {
        expect((await check(statusCheckAlarm, [instance("web-1", "web"), alarm("web-1-status", "i-web-1")])).found).toEqual([]);
    });

    test("an instance without one fails; an alarm on another metric does not count", async () => {
        const cpu = alarm("web-1-cpu", "i-web-1", { metricName: "CPUUtilization" });
        expect(
            (await check(statusCheckAlarm, [instance("web-1", "web"), instance("web-2", "web"), alarm("web-2-status", "i-web-2"), cpu]))
                .found,
        ).toEqual(["web-1: web-1 has no alarm on its status checks: nobody learns when it stops answering."]);
    });

    test("in a first preview the instance id is unknown; the alarm's dependency names the instance", async () => {
        const named = alarm("web-1-status", UNKNOWN, {}, { deps: { dimensions: ["web-1"] } });
        expect((await check(statusCheckAlarm, [instance("web-1", "web", { id: UNKNOWN }), named])).found).toEqual([]);
        const elsewhere = alarm("web-2-status", UNKNOWN, {}, { deps: { dimensions: ["web-2"] } });
        expect(
            (
                await check(statusCheckAlarm, [
                    instance("web-1", "web", { id: UNKNOWN }),
                    instance("web-2", "web", { id: UNKNOWN }),
                    elsewhere,
                ])
            ).flagged,
        ).toEqual(["web-1"]);
    });

    test("an alarm whose metric is unknown gives no verdict; an exemption waives", async () => {
        expectNoVerdict(await check(statusCheckAlarm, [instance("web-1", "web"), alarm("a", "i-web-1", { metricName: UNKNOWN })]));
        expect((await check(statusCheckAlarm, [instance("web-1", "web")], { exempt: ["web-1"] })).waived).toEqual(["web-1"]);
    });
});

describe("monitoring-alarm-notifies", () => {
    test("passes when alarms notify a topic someone subscribes to", async () => {
        expect((await check(alarmNotifies, [topic, email, alarm("web-1-status", "i-web-1")])).found).toEqual([]);
    });

    test("an alarm without actions, or a topic nobody subscribes to, fails", async () => {
        expect(
            (await check(alarmNotifies, [topic, alarm("web-1-status", "i-web-1"), alarm("web-2-status", "i-web-2", { alarmActions: [] })]))
                .found,
        ).toEqual([
            "web-2-status: web-2-status has no alarm actions: it changes state without telling anyone.",
            "alarms: alarms receives web-1-status but has no subscription in this stack: nobody is notified.",
        ]);
    });

    test("actions outside the stack are trusted (another stack's topic, an EC2 recover action)", async () => {
        const recover = alarm("web-1-status", "i-web-1", { alarmActions: ["arn:aws:automate:eu-west-1:ec2:recover"] });
        expect((await check(alarmNotifies, [recover])).found).toEqual([]);
    });

    test("in a first preview, topic and subscription meet through their dependencies", async () => {
        const unknownTopic = { ...topic, props: { arn: UNKNOWN } };
        const subscribed: Spec = { ...email, props: { ...email.props, topic: UNKNOWN }, deps: { topic: ["alarms"] } };
        const notifying = alarm("web-1-status", UNKNOWN, { alarmActions: [UNKNOWN] }, { deps: { alarmActions: ["alarms"] } });
        expect((await check(alarmNotifies, [unknownTopic, subscribed, notifying])).found).toEqual([]);
        expect((await check(alarmNotifies, [unknownTopic, notifying])).flagged).toEqual(["alarms"]);
    });

    test("unknown actions give no verdict; an exemption waives the topic", async () => {
        expectNoVerdict(await check(alarmNotifies, [topic, alarm("a", "i-web-1", { alarmActions: UNKNOWN })]));
        expect((await check(alarmNotifies, [topic, alarm("a", "i-web-1")], { exempt: ["alarms"] })).waived).toEqual(["alarms"]);
    });
});
