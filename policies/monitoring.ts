/**
 * The seeds' "no monitoring": nobody learns when a server fails. Every
 * instance reports detailed metrics, has an alarm on its status checks, and
 * alarms reach someone.
 */
import { PolicyResource } from "@pulumi/policy";
import { gaps, list, resourcePolicy, stackPolicy } from "./lib/policy";
import { types } from "./lib/resources";
import { anyOf, Known, known, knownBool, knownList, knownString, need, unknown } from "./lib/unknowns";

const closeWithMonitoring = "Set `monitoring` to `true` (`pulumi config set monitoring true`)";

export const detailedMonitoring = resourcePolicy(
    {
        name: "monitoring-detailed",
        description: "Every instance has detailed (one-minute) CloudWatch monitoring.",
        severity: "medium",
        gap: gaps.monitoring,
        remediationSteps: `${closeWithMonitoring}: every instance then gets detailed monitoring.`,
    },
    [types.instance],
    (instance, ctx) => {
        if (need(knownBool(() => instance.props.monitoring)) !== true) {
            ctx.report(instance, `${instance.name} has basic monitoring only: five-minute metrics, too coarse to alarm on quickly.`);
        }
    },
);

export const statusCheckAlarm = stackPolicy(
    {
        name: "monitoring-status-check-alarm",
        description: "Every instance has a CloudWatch alarm on its EC2 status checks.",
        severity: "high",
        gap: gaps.monitoring,
        remediationSteps: `${closeWithMonitoring}: every instance then gets a StatusCheckFailed alarm that notifies the stack's alarm topic.`,
    },
    (stack, ctx) => {
        const alarms = stack.ofType(types.metricAlarm);
        /** Whether an alarm watches this instance's status checks. */
        const watches = (alarm: PolicyResource, instance: PolicyResource): Known<boolean> =>
            known(() => {
                const namespace = need(knownString(() => alarm.props.namespace));
                const metric = need(knownString(() => alarm.props.metricName));
                if (namespace !== "AWS/EC2" || !metric?.startsWith("StatusCheckFailed")) return false;
                return stack.pointsAt(
                    alarm,
                    "dimensions",
                    knownString(() => alarm.props.dimensions?.InstanceId),
                    instance,
                );
            });
        for (const instance of stack.ofType(types.instance)) {
            if (anyOf(alarms.map((a) => watches(a, instance))) !== false) continue;
            ctx.report(instance, `${instance.name} has no alarm on its status checks: nobody learns when it stops answering.`);
        }
    },
);

export const alarmNotifies = stackPolicy(
    {
        name: "monitoring-alarm-notifies",
        description: "Every alarm notifies someone: it has alarm actions, and the SNS topics it notifies have a subscription.",
        severity: "medium",
        gap: gaps.monitoring,
        remediationSteps: `${closeWithMonitoring} and \`alarmEmail\` (\`pulumi config set alarmEmail ops@example.com\`): the alarm topic then has an email subscription. A topic whose subscribers live outside this stack can be exempted by name.`,
    },
    (stack, ctx) => {
        const topics = stack.ofType(types.topic);
        const subscriptions = stack.ofType(types.topicSubscription);
        const alarmsByTopic = new Map<PolicyResource, string[]>();
        for (const alarm of stack.ofType(types.metricAlarm)) {
            ctx.judge(() => {
                const actions = need(knownList<string>(() => alarm.props.alarmActions));
                if (actions.length === 0) ctx.report(alarm, `${alarm.name} has no alarm actions: it changes state without telling anyone.`);
                for (const action of actions) {
                    const notified = stack.targets(alarm, "alarmActions", action, topics);
                    if (notified === unknown) continue;
                    for (const topic of notified) alarmsByTopic.set(topic, [...(alarmsByTopic.get(topic) ?? []), alarm.name]);
                }
            });
        }
        for (const [topic, alarms] of alarmsByTopic) {
            ctx.judge(() => {
                const subscribed = subscriptions.some((s) =>
                    stack.pointsAt(
                        s,
                        "topic",
                        knownString(() => s.props.topic),
                        topic,
                    ),
                );
                if (!subscribed)
                    ctx.report(topic, `${topic.name} receives ${list(alarms)} but has no subscription in this stack: nobody is notified.`);
            });
        }
    },
);

export const monitoringPolicies = [detailedMonitoring, statusCheckAlarm, alarmNotifies];
