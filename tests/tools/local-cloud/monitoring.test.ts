/**
 * Monitoring on the local cloud (the prod topology, which has it): Prometheus scrapes every instance's exporters
 * through the real security groups, and each fault below brings its alert to the receiver Alertmanager posts to
 * (a webhook at the VPC router's address, run here), within a bounded time, and its resolution once the fault is
 * removed. Prints the measured fault → alert times. Requests bounded in count and time.
 */
import { ChildProcess, spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";
import * as container from "../../../tools/local-cloud/container";
import { httpRequest, sqlOn } from "../../../tools/local-cloud/clients";
import { vpcCommand, vpcNetns } from "../../../tools/local-cloud/network";
import { run } from "../../../tools/local-cloud/util";
import { alertReceiverPort } from "../../../tools/local-cloud/securityGroups";
import { monitoringPorts } from "../../../userdata/monitoring";
import { tempDir } from "../../helpers";
import { describeLocalSite } from "./describeLocalCloud";

const MINUTE = 60_000;
/** The bound this suite holds every fault → alert (and fix → resolution) to. */
const ALERT_BOUND_MS = 90_000;

/** Appends every POST body, with the time it arrived, as one JSON line. */
const receiverScript = `
import http.server, json, sys, time
out = sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with open(out, "a") as f:
            f.write(json.dumps({"at": time.time() * 1000, "body": json.loads(body)}) + "\\n")
        self.send_response(200)
        self.end_headers()
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("0.0.0.0", int(sys.argv[1])), H).serve_forever()
`;

interface Notification {
    at: number;
    body: { status: string; alerts: { status: string; labels: Record<string, string>; annotations: Record<string, string> }[] };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describeLocalSite("monitoring on the prod topology in the local cloud", "prod", "fbmontest", (site) => {
    let receiver: ChildProcess | undefined;
    const inbox = path.join(tempDir("alerts"), "alerts.jsonl");
    const measured: string[] = [];
    const monitoringIp = () => site().plan.monitoring!.privateIp;

    beforeAll(() => {
        fs.writeFileSync(inbox, "");
        receiver = spawn("ip", ["netns", "exec", vpcNetns(), "python3", "-c", receiverScript, String(alertReceiverPort), inbox], {
            stdio: "ignore",
        });
    });

    afterAll(() => {
        if (receiver?.pid && receiver.exitCode === null) receiver.kill("SIGTERM");
        if (measured.length > 0) console.log(`fault → alert at the receiver:\n${measured.join("\n")}`);
    });

    const notifications = (): Notification[] =>
        fs
            .readFileSync(inbox, "utf8")
            .split("\n")
            .filter(Boolean)
            .map((l) => JSON.parse(l) as Notification);

    /** Waits for a notification (after `since`) carrying `alertname` in `status` whose labels include `labels`; returns when it came. */
    async function notified(
        alertname: string,
        status: "firing" | "resolved",
        labels: Record<string, string>,
        since: number,
        during?: () => Promise<void>,
    ) {
        const deadline = since + ALERT_BOUND_MS + 30_000;
        for (;;) {
            const hit = notifications().find(
                (n) =>
                    n.at >= since &&
                    n.body.alerts.some(
                        (a) =>
                            a.status === status &&
                            a.labels.alertname === alertname &&
                            Object.entries(labels).every(([k, v]) => a.labels[k] === v),
                    ),
            );
            if (hit) return hit;
            if (Date.now() > deadline) {
                throw new Error(
                    `no ${status} ${alertname} ${JSON.stringify(labels)} within ${deadline - since} ms; got: ${JSON.stringify(notifications().slice(-5))}`,
                );
            }
            await (during ? during() : sleep(1000));
        }
    }

    async function prometheus(pathAndQuery: string): Promise<{ data: unknown }> {
        const r = await httpRequest("GET", `http://${monitoringIp()}:${monitoringPorts.prometheus}${pathAndQuery}`, {
            from: "vpc",
            timeoutSeconds: 5,
        });
        expect(r.status).toBe(200);
        return JSON.parse(r.text);
    }

    async function firing(): Promise<string[]> {
        const { data } = (await prometheus("/api/v1/alerts")) as { data: { alerts: { state: string; labels: Record<string, string> }[] } };
        return data.alerts.filter((a) => a.state === "firing").map((a) => `${a.labels.alertname} ${a.labels.instance ?? ""}`);
    }

    /** Fault → firing, fix → resolved, both within the bound; records both times. */
    async function faultCycle(
        what: string,
        alertname: string,
        labels: Record<string, string>,
        fault: () => Promise<void>,
        fix: () => Promise<void>,
        during?: () => Promise<void>,
    ) {
        const faultAt = Date.now();
        await fault();
        const fired = await notified(alertname, "firing", labels, faultAt, during);
        const fixAt = Date.now();
        await fix();
        const resolved = await notified(alertname, "resolved", labels, fixAt, during);
        const alertMs = fired.at - faultAt;
        const resolveMs = resolved.at - fixAt;
        measured.push(
            `${what}: ${alertname} firing after ${(alertMs / 1000).toFixed(1)} s, resolved ${(resolveMs / 1000).toFixed(1)} s after the fix`,
        );
        const summary = fired.body.alerts.find((a) => a.labels.alertname === alertname)!.annotations.summary;
        expect(summary).toContain(Object.values(labels)[0]);
        expect(alertMs).toBeLessThan(ALERT_BOUND_MS);
        expect(resolveMs).toBeLessThan(ALERT_BOUND_MS);
    }

    test(
        "Prometheus scrapes every exporter of every instance through the security groups, and no alert fires on the healthy site",
        async () => {
            const plan = site().plan;
            const monitor = plan.monitoring!.name;
            const expected = [
                ...[...plan.lbs, ...plan.web, plan.dbPrimary, ...plan.dbReplicas, plan.monitoring!].map((i) => `node ${i.name}`),
                ...plan.lbs.map((i) => `haproxy ${i.name}`),
                ...[plan.dbPrimary, ...plan.dbReplicas].map((i) => `mysqld ${i.name}`),
                "blackbox site",
                ...["prometheus", "alertmanager", "blackbox-exporter"].map((job) => `${job} ${monitor}`),
            ].sort();
            type Sample = { metric: Record<string, string>; value: [number, string] };
            const query = async (q: string) =>
                ((await prometheus(`/api/v1/query?query=${encodeURIComponent(q)}`)) as { data: { result: Sample[] } }).data.result;
            const deadline = Date.now() + 3 * MINUTE;
            let last = "";
            for (;;) {
                const up = await query("up");
                const targets = [...new Set(up.map((r) => `${r.metric.job} ${r.metric.instance}`))].sort();
                const down = up.filter((r) => r.value[1] !== "1").map((r) => `${r.metric.job} ${r.metric.instance}`);
                const unhealthy = [...(await query("probe_success == 0")), ...(await query("mysql_up == 0"))].map((r) => r.metric.instance);
                const alerts = await firing();
                last = JSON.stringify({ targets, down, unhealthy, alerts });
                if (
                    JSON.stringify(targets) === JSON.stringify(expected) &&
                    down.length === 0 &&
                    unhealthy.length === 0 &&
                    alerts.length === 0
                )
                    break;
                if (Date.now() > deadline) throw new Error(`monitoring not healthy within 3 min: ${last}`);
                await sleep(3000);
            }
            // The console renders from Prometheus's own console templates.
            const consolePage = await httpRequest("GET", `http://${monitoringIp()}:${monitoringPorts.prometheus}/consoles/foobar.html`, {
                from: "vpc",
            });
            expect(consolePage.status).toBe(200);
            expect(consolePage.text).toContain("foobar: the site at a glance");
            for (const w of site().plan.web) expect(consolePage.text).toContain(w.name);
            // The README's screenshot: Debian's chromium, headless, from inside the VPC (CONSOLE_SCREENSHOT=<png path>).
            const screenshot = process.env.CONSOLE_SCREENSHOT;
            if (screenshot) {
                await sleep(20_000); // a few scrapes into the console's graph
                const [cmd, ...args] = vpcCommand([
                    "chromium",
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--no-first-run",
                    `--user-data-dir=${tempDir("chromium")}`,
                    "--window-size=1280,1400",
                    "--virtual-time-budget=10000",
                    `--screenshot=${path.resolve(screenshot)}`,
                    `http://${monitoringIp()}:${monitoringPorts.prometheus}/consoles/foobar.html`,
                ]);
                const shot = await run(cmd, args, { check: false, timeoutMs: 120_000 });
                expect(shot.code).toBe(0);
                expect(fs.existsSync(screenshot)).toBe(true);
            }
            // Exporters answer the monitoring instance only: the VPC router (no security group) is refused.
            const direct = await httpRequest("GET", `http://${site().plan.web[0].privateIp}:${monitoringPorts.nodeExporter}/metrics`, {
                from: "vpc",
                timeoutSeconds: 3,
            }).catch((err: Error) => err);
            expect(direct).toBeInstanceOf(Error);
        },
        5 * MINUTE,
    );

    test(
        "a stopped web server: WebServerOutOfBackend arrives once (not once per load balancer of the pair), and resolves when it is back",
        async () => {
            const web = site().plan.web[1].name;
            const since = Date.now();
            await faultCycle(
                `nginx stopped on ${web}`,
                "WebServerOutOfBackend",
                { server: web },
                async () => void (await container.exec(web, ["systemctl", "stop", "nginx"])),
                async () => void (await container.exec(web, ["systemctl", "start", "nginx"])),
            );
            // Both load balancers saw it down: one alert, counting them.
            const firingAlerts = notifications()
                .filter((n) => n.at >= since)
                .flatMap((n) => n.body.alerts)
                .filter((a) => a.status === "firing" && a.labels.alertname === "WebServerOutOfBackend" && a.labels.server === web);
            expect(site().plan.lbs).toHaveLength(2);
            expect(new Set(firingAlerts.map((a) => JSON.stringify(a.labels))).size).toBe(1);
            expect(firingAlerts[0].annotations.description).toMatch(new RegExp(`^2 load balancer\\(s\\) mark ${web} down`));
        },
        5 * MINUTE,
    );

    test(
        "a Galera node out of sync (prod's database is a cluster): GaleraNodeNotSynced arrives, and resolves when it is synced again",
        async () => {
            const node = site().plan.dbReplicas[site().plan.dbReplicas.length - 1].name;
            await faultCycle(
                `wsrep_desync on ${node}`,
                "GaleraNodeNotSynced",
                { instance: node },
                async () => void (await sqlOn(node, "SET GLOBAL wsrep_desync = ON")),
                async () => void (await sqlOn(node, "SET GLOBAL wsrep_desync = OFF")),
            );
        },
        5 * MINUTE,
    );

    test(
        "a web server answering 5xx while it passes its health check: WebServerAnswers5xx arrives, and resolves when fixed",
        async () => {
            const web = site().plan.web[0].name;
            const env = "/etc/foobar/app.env";
            // Its database password made wrong: pages answer 503, /healthz (local to the app) stays 200, so HAProxy keeps it.
            const traffic = async () => {
                await Promise.all(
                    Array.from({ length: 4 }, () => httpRequest("GET", site().url, { timeoutSeconds: 5 }).catch(() => undefined)),
                );
            };
            await faultCycle(
                `${web} answers 503`,
                "WebServerAnswers5xx",
                { server: web },
                async () => {
                    await container.exec(web, [
                        "sh",
                        "-c",
                        `cp -p ${env} ${env}.good && sed -i 's/^DB_PASSWORD=.*/DB_PASSWORD="wrong"/' ${env} && systemctl restart foobar-app`,
                    ]);
                },
                async () => {
                    await container.exec(web, ["sh", "-c", `mv ${env}.good ${env} && systemctl restart foobar-app`]);
                },
                traffic,
            );
        },
        6 * MINUTE,
    );
});
