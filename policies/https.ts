/**
 * The seeds' "no HTTPS": traffic travels unencrypted. Judged from what is
 * deployed, the HAProxy configuration the load balancer boots with and the
 * security group in front of it, never from a tag or a setting that could
 * say anything.
 */
import { coversPort, groupsOpenedBy, ingressOf } from "./lib/ingress";
import { bindsOf, bindsPort, haproxyConfigOf, proxies, redirectsToHttps, Section } from "./lib/haproxy";
import { Context, gaps, list, stackPolicy } from "./lib/policy";
import { Res, StackGraph } from "./lib/resources";
import { known, need, unknown } from "./lib/unknowns";

type HttpsConfig = { haproxyConfigPath: string };

const haproxyConfigPath = {
    haproxyConfigPath: {
        type: "string" as const,
        default: "/etc/haproxy/haproxy.cfg",
        description: "Where the load balancer's cloud-config writes HAProxy's configuration.",
    },
};

const closeWithHttps = "Set `https` to `self-signed` (`pulumi config set https self-signed`)";

/**
 * The HAProxy proxies a load balancer runs: from the configuration its
 * cloud-config writes, else from a String SSM parameter its user-data names
 * whose value is an HAProxy configuration; `undefined` (after reporting it)
 * when there is neither.
 */
function haproxyOf(lb: Res, stack: StackGraph, ctx: Context<HttpsConfig>): Section[] | undefined {
    const sections = haproxyConfigOf(lb, stack, ctx.config.haproxyConfigPath);
    if (sections === undefined) {
        ctx.report(
            lb,
            `${lb.name}'s user-data writes no ${ctx.config.haproxyConfigPath} and names no parameter holding one: nothing shows it serves HTTPS.`,
        );
        return undefined;
    }
    return proxies(sections);
}

export const tlsTermination = stackPolicy<HttpsConfig>(
    {
        name: "https-tls-termination",
        description:
            "The load balancer terminates TLS: HAProxy binds port 443 with a certificate, and its security group lets clients reach 443.",
        severity: "high",
        gap: gaps.https,
        remediationSteps: `${closeWithHttps}, or put your own certificate in the TLS parameter: HAProxy then binds :443 with it and the load balancer's group opens 443.`,
        config: haproxyConfigPath,
    },
    (stack, ctx) => {
        // Groups that open 443, and groups (or rules) whose ingress cannot be read yet.
        const open = new Set<string>();
        const unreadable = new Set<string>();
        let unreadableRule = false;
        for (const rule of stack.resources.flatMap(ingressOf)) {
            const opened = known(() => need(groupsOpenedBy(stack, rule)));
            if (opened === unknown) {
                unreadableRule = true;
                continue;
            }
            for (const g of opened) {
                if (rule.ports === unknown) unreadable.add(g.urn);
                else if (coversPort(rule.ports, 443) && rule.sources.length > 0) open.add(g.urn);
            }
        }
        const reportedGroups = new Set<string>();
        for (const lb of stack.instancesWithRole("lb")) {
            ctx.judge(() => {
                const sections = haproxyOf(lb, stack, ctx);
                if (sections && !sections.some((s) => bindsOf(s).some((b) => bindsPort(b, 443) && b.ssl && b.certificate))) {
                    const binds = sections.flatMap((s) =>
                        bindsOf(s).map(
                            (b) =>
                                `${b.ports.map(([f, t]) => (f === t ? `:${f}` : `:${f}-${t}`)).join(",")}${b.ssl ? " ssl" : ""} (${s.kind} ${s.name})`,
                        ),
                    );
                    ctx.report(
                        lb,
                        `${lb.name}'s HAProxy binds no :443 with ssl and a certificate, only ${list(binds) || "nothing"}: the site is served in clear text.`,
                    );
                }
            });
            ctx.judge(() => {
                // Without groups of its own the instance gets the VPC's default group, whose rules the stack does not show.
                const groups = need(stack.securityGroupsOf(lb));
                if (groups.length === 0 || groups.some((g) => open.has(g.urn))) return;
                if (unreadableRule || groups.some((g) => unreadable.has(g.urn))) return;
                for (const g of groups.filter((x) => !reportedGroups.has(x.urn))) {
                    reportedGroups.add(g.urn);
                    ctx.report(g, `${g.name} opens no tcp/443 to ${lb.name}: clients cannot reach HTTPS.`);
                }
            });
        }
    },
);

export const httpsRedirect = stackPolicy<HttpsConfig>(
    {
        name: "https-redirect",
        description: "Plain HTTP on the load balancer's port 80 redirects to HTTPS instead of serving the site.",
        severity: "medium",
        gap: gaps.https,
        remediationSteps: `${closeWithHttps}: HAProxy then answers every plain-HTTP request on :80 with a 301 to https://.`,
        config: haproxyConfigPath,
    },
    (stack, ctx) => {
        for (const instance of stack.instancesWithRole("lb")) {
            ctx.judge(() => {
                const sections = haproxyOf(instance, stack, ctx);
                // Nothing on :80 serves nothing in clear text; that is compliant too.
                const plain = (sections ?? []).filter((s) => bindsOf(s).some((b) => bindsPort(b, 80) && !b.ssl) && !redirectsToHttps(s));
                if (plain.length > 0) {
                    ctx.report(
                        instance,
                        `${instance.name}'s HAProxy serves plain HTTP on :80 (${list(plain.map((s) => `${s.kind} ${s.name}`))}) without redirecting to HTTPS.`,
                    );
                }
            });
        }
    },
);

export const httpsPolicies = [tlsTermination, httpsRedirect];
