/**
 * The seeds' "no monitoring": nobody learns when a server fails. Every
 * instance reports detailed metrics, has an alarm on its status checks, and
 * alarms reach someone.
 */
import { PolicyResource } from "@pulumi/policy";
import type { TierRole } from "../roles";
import { gaps, list, resourcePolicy, stackPolicy } from "./lib/policy";
import { Scraper, scrapersOf, targetHost } from "./lib/prometheus";
import { roleOf, StackGraph, types } from "./lib/resources";
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
        remediationSteps: `${closeWithMonitoring} and \`alarmEmail\` (\`pulumi config set alarmEmail <an address your team reads>\`): the alarm topic then has an email subscription. A topic whose subscribers live outside this stack can be exempted by name.`,
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

/** The stack's Prometheus servers; none is a finding of the stack as a whole. */
function scrapers(stack: StackGraph, report: (message: string) => void): Scraper[] {
    const found = need(scrapersOf(stack.ofType(types.instance)));
    if (found.length === 0) {
        report(
            "No instance of this stack runs Prometheus: a stopped web server, stopped replication or a full disk go unseen (EC2 status checks see only dead machines).",
        );
    }
    return found;
}

const closeWithServiceMonitoring = `${closeWithMonitoring}: a monitoring instance then runs Prometheus and Alertmanager from Debian, scraping exporters on every instance`;

export const scraperCoverage = stackPolicy(
    {
        name: "monitoring-scraper-coverage",
        description:
            "A Prometheus deployed by the stack scrapes every instance (its static targets or the file_sd files its user-data writes).",
        severity: "high",
        gap: gaps.monitoring,
        remediationSteps: `${closeWithServiceMonitoring}, its targets rendered from the same plan as the instances.`,
    },
    (stack, ctx) => {
        const found = scrapers(stack, (message) => ctx.report(undefined, message));
        if (found.length === 0) return;
        const scraped = new Set(found.flatMap((s) => s.targets.map(targetHost)));
        for (const instance of stack.ofType(types.instance)) {
            ctx.judge(() => {
                const ip = need(knownString(() => instance.props.privateIp));
                if (ip === undefined) return;
                if (!scraped.has(ip))
                    ctx.report(instance, `${instance.name} (${ip}) is not among Prometheus's targets: nobody sees it fail.`);
            });
        }
    },
);

export const alertRulesPerTier = stackPolicy(
    {
        name: "monitoring-alert-rules",
        description: "Prometheus sends alerts to an Alertmanager, with alerting rules (labelled `tier`) for every tier the stack runs.",
        severity: "high",
        gap: gaps.monitoring,
        remediationSteps: `${closeWithServiceMonitoring}, with alert rules for the load balancer, the web servers and the databases.`,
    },
    (stack, ctx) => {
        const found = scrapers(stack, (message) => ctx.report(undefined, message));
        if (found.length === 0) return;
        const tiers = new Set(found.flatMap((s) => s.rules.map((r) => r.labels.tier)));
        const present = [...new Set(stack.ofType(types.instance).map((i) => roleOf(i)))].filter(
            (r): r is TierRole => r === "lb" || r === "web" || r === "db",
        );
        const missing = present.filter((tier) => !tiers.has(tier)).sort();
        if (missing.length > 0) ctx.report(undefined, `No alerting rule is about the ${list(missing)} tier: its failures raise no alert.`);
        for (const s of found.filter((s) => !s.alerting)) {
            ctx.report(s.instance, `${s.instance.name}'s Prometheus sends its alerts to no Alertmanager: they reach nobody.`);
        }
    },
);

/** Alertmanager integrations that reach a person by themselves (a webhook may or may not). */
const personalIntegrations = [
    "email_configs",
    "pagerduty_configs",
    "opsgenie_configs",
    "victorops_configs",
    "slack_configs",
    "telegram_configs",
];

export const alertReceiver = stackPolicy(
    {
        name: "monitoring-alert-receiver",
        description:
            "Alertmanager's default receiver reaches a person: an SNS topic of the stack that has a subscription, or email, paging or chat.",
        severity: "high",
        gap: gaps.monitoring,
        remediationSteps: `${closeWithServiceMonitoring} and \`alarmEmail\` (\`pulumi config set alarmEmail <an address your team reads>\`): Alertmanager then publishes to the alarm topic, which mails that address.`,
    },
    (stack, ctx) => {
        const found = scrapers(stack, (message) => ctx.report(undefined, message));
        const topics = stack.ofType(types.topic);
        const subscriptions = stack.ofType(types.topicSubscription);
        /** Whether a topic ARN names a topic of the stack that someone subscribes to; outside topics are trusted. */
        const subscribed = (arn: unknown): boolean => {
            if (typeof arn !== "string") return false;
            const topic = topics.find((t) => knownString(() => t.props.arn) === arn);
            if (!topic) return true;
            return subscriptions.some((s) =>
                stack.pointsAt(
                    s,
                    "topic",
                    knownString(() => s.props.topic),
                    topic,
                ),
            );
        };
        for (const s of found) {
            const integrations = s.receiver?.integrations ?? {};
            const reaches =
                personalIntegrations.some((k) => (integrations[k] ?? []).length > 0) ||
                (integrations.sns_configs ?? []).some((c) => subscribed(c.topic_arn));
            if (!reaches) {
                ctx.report(
                    s.instance,
                    s.receiver
                        ? `${s.instance.name}'s Alertmanager sends to ${s.receiver.name}, which reaches no person (no subscribed topic, email or paging).`
                        : `${s.instance.name} runs no Alertmanager with a receiver: alerts reach nobody.`,
                );
            }
        }
    },
);

export const monitoringPolicies = [detailedMonitoring, statusCheckAlarm, alarmNotifies, scraperCoverage, alertRulesPerTier, alertReceiver];
