/** No monitoring: detailed metrics, a status-check alarm per instance, alarms that reach someone. */
import { stringify } from "yaml";
import {
    alarmNotifies,
    alertReceiver,
    alertRulesPerTier,
    detailedMonitoring,
    scraperCoverage,
    statusCheckAlarm,
} from "../../policies/monitoring";
import { policyResources, stackResources } from "../../tools/policy-check/resources";
import { planStack } from "../../tools/preview/plan";
import { check, cloudConfig, expectNoVerdict, instance, Spec, types, UNKNOWN, UNKNOWN_BOOL } from "./helpers";

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

describe("service-level monitoring: a scraper covering every instance, alert rules per tier, a receiver that reaches a person", () => {
    const site = [
        instance("lb-1", "lb", { privateIp: "10.0.0.10" }),
        instance("web-1", "web", { privateIp: "10.0.128.10" }),
        instance("db-primary", "db", { privateIp: "10.0.128.11" }),
    ];
    const rules = (tiers: string[]) =>
        stringify({ groups: [{ name: "g", rules: tiers.map((tier, i) => ({ alert: `A${i}`, expr: "up == 0", labels: { tier } })) }] });
    const prometheus = (alerting = true) =>
        stringify({
            scrape_configs: [
                { job_name: "node", file_sd_configs: [{ files: ["/etc/prometheus/targets/*.json"] }] },
                { job_name: "self", static_configs: [{ targets: ["localhost:9090"] }] },
            ],
            rule_files: ["/etc/prometheus/rules/*.yml"],
            ...(alerting ? { alerting: { alertmanagers: [{ static_configs: [{ targets: ["localhost:9093"] }] }] } } : {}),
        });
    const alertmanager = (receiver: Record<string, unknown>) =>
        stringify({ route: { receiver: "r" }, receivers: [{ name: "r", ...receiver }] });
    const sns = { sns_configs: [{ topic_arn: topic.props?.arn, sigv4: { region: "eu-west-1" } }] };
    const monitor = (
        opts: { targets?: string[]; tiers?: string[]; receiver?: Record<string, unknown>; alerting?: boolean } = {},
        props: Record<string, unknown> = {},
    ) =>
        instance("monitoring-1", "monitoring", {
            privateIp: "10.0.192.10",
            userData: cloudConfig({
                packages: ["prometheus", "prometheus-alertmanager"],
                files: {
                    "/etc/prometheus/prometheus.yml": prometheus(opts.alerting),
                    "/etc/prometheus/targets/node.json": JSON.stringify([
                        { targets: (opts.targets ?? ["10.0.0.10", "10.0.128.10", "10.0.128.11", "10.0.192.10"]).map((t) => `${t}:9100`) },
                    ]),
                    "/etc/prometheus/rules/site.yml": rules(opts.tiers ?? ["lb", "web", "db"]),
                    "/etc/prometheus/alertmanager.yml": alertmanager(opts.receiver ?? sns),
                },
            }),
            ...props,
        });
    const all = [scraperCoverage, alertRulesPerTier, alertReceiver];

    test("pass when Prometheus scrapes every instance, has rules for each tier and alerts a subscribed topic", async () => {
        expect((await check(all, [...site, monitor(), topic, email])).found).toEqual([]);
    });

    test("no Prometheus at all (the whiteboard) fails each, for the stack as a whole", async () => {
        const r = await check(all, [...site, topic, email]);
        expect(r.violations.map((v) => v.policy)).toEqual(all.map((p) => p.name));
        expect(r.violations.every((v) => v.urn.endsWith("pulumi:pulumi:Stack::foobar-test"))).toBe(true);
    });

    test("an instance missing from the targets is flagged by name", async () => {
        expect((await check(scraperCoverage, [...site, monitor({ targets: ["10.0.0.10", "10.0.128.10", "10.0.192.10"] })])).found).toEqual([
            "db-primary: db-primary (10.0.128.11) is not among Prometheus's targets: nobody sees it fail.",
        ]);
    });

    test("a tier without alert rules, or rules that reach no Alertmanager, fail", async () => {
        expect((await check(alertRulesPerTier, [...site, monitor({ tiers: ["lb", "site"] })])).found).toEqual([
            "foobar-test: No alerting rule is about the db and web tier: its failures raise no alert.",
        ]);
        expect((await check(alertRulesPerTier, [...site, monitor({ alerting: false })])).flagged).toEqual(["monitoring-1"]);
    });

    test("a receiver reaches a person through a subscribed topic or email, not through an unsubscribed topic or a bare webhook", async () => {
        expect((await check(alertReceiver, [...site, monitor(), topic])).found).toEqual([
            "monitoring-1: monitoring-1's Alertmanager sends to r, which reaches no person (no subscribed topic, email or paging).",
        ]);
        expect(
            (await check(alertReceiver, [...site, monitor({ receiver: { email_configs: [{ to: "ops@example.com" }] } })])).found,
        ).toEqual([]);
        expect((await check(alertReceiver, [...site, monitor({ receiver: { webhook_configs: [{ url: "http://x/" }] } })])).flagged).toEqual(
            ["monitoring-1"],
        );
    });

    test("while the monitoring instance's user-data is unknown (a first preview), no verdict", async () => {
        expectNoVerdict(await check(all, [...site, instance("monitoring-1", "monitoring", { userData: UNKNOWN })]));
    });
});

describe("over the shipped stacks", () => {
    const monitoring = [detailedMonitoring, statusCheckAlarm, alarmNotifies, scraperCoverage, alertRulesPerTier, alertReceiver];
    const mandatory = Object.fromEntries(monitoring.map((p) => [p.name, "mandatory"]));

    test("prod passes every monitoring policy in mandatory mode; dev (the whiteboard) fails each service-level one", async () => {
        const prod = policyResources(stackResources(await planStack("prod")));
        expect((await check(monitoring, prod, mandatory)).found).toEqual([]);
        const dev = await check(monitoring, policyResources(stackResources(await planStack("dev"))), mandatory);
        expect(new Set(dev.violations.map((v) => v.policy))).toEqual(
            new Set(monitoring.map((p) => p.name).filter((n) => n !== "monitoring-alarm-notifies")),
        );
        expect(dev.violations.every((v) => v.enforcementLevel === "mandatory")).toBe(true);
    }, 60_000);
});
