/**
 * Just enough of Prometheus's and Alertmanager's configuration to tell whether a stack monitors its
 * service: which instance's user-data deploys a Prometheus, what it scrapes (static targets and the
 * file_sd files the same user-data writes), its alerting rules, and the Alertmanager receiver alerts reach.
 * Like the rest of the pack it reads what the user-data writes, never the program's renderers.
 */
import { PolicyResource } from "@pulumi/policy";
import { parse } from "yaml";
import { CloudConfigView, cloudConfigOf } from "./userData";
import { Known, unknown } from "./unknowns";

export interface AlertingRule {
    alert: string;
    labels: Record<string, string>;
}

export interface Scraper {
    /** The instance whose user-data deploys it. */
    instance: PolicyResource;
    /** host:port (or URL) of every target it scrapes. */
    targets: string[];
    rules: AlertingRule[];
    /** It sends its alerts to an Alertmanager. */
    alerting: boolean;
    /** The integrations of the receiver Alertmanager's top route names (`sns_configs`, `email_configs`, ...), with their settings. */
    receiver?: { name: string; integrations: Record<string, Record<string, unknown>[]> };
}

const yamlOf = (text: string): Record<string, unknown> | undefined => {
    try {
        const doc = parse(text) as unknown;
        return doc !== null && typeof doc === "object" && !Array.isArray(doc) ? (doc as Record<string, unknown>) : undefined;
    } catch {
        return undefined;
    }
};
const arr = (v: unknown): Record<string, unknown>[] => (Array.isArray(v) ? v.filter((x) => x !== null && typeof x === "object") : []);
const strs = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : []);

/** A glob as Prometheus reads file paths (`*` within one path element). */
function matches(glob: string, p: string): boolean {
    const re = new RegExp(
        `^${glob
            .replace(/[.+^${}()|[\]\\]/g, "\\$&")
            .replace(/\*/g, "[^/]*")
            .replace(/\?/g, "[^/]")}$`,
    );
    return re.test(p);
}

function filesMatching(config: CloudConfigView, globs: string[]): string[] {
    return [...config.files.keys()].filter((p) => globs.some((g) => matches(g, p))).map((p) => config.files.get(p)!);
}

function scraperOf(instance: PolicyResource, config: CloudConfigView): Scraper | undefined {
    const prometheus = [...config.files.values()].map(yamlOf).find((doc) => doc !== undefined && Array.isArray(doc.scrape_configs));
    if (!prometheus) return undefined;
    const targets: string[] = [];
    for (const job of arr(prometheus.scrape_configs)) {
        for (const sc of arr(job.static_configs)) targets.push(...strs(sc.targets));
        for (const fsd of arr(job.file_sd_configs)) {
            for (const text of filesMatching(config, strs(fsd.files))) {
                let groups: unknown;
                try {
                    groups = /^\s*[[{]/.test(text) ? JSON.parse(text) : parse(text);
                } catch {
                    continue;
                }
                for (const g of arr(groups)) targets.push(...strs(g.targets));
            }
        }
    }
    const rules = filesMatching(config, strs(prometheus.rule_files)).flatMap((text) =>
        arr(yamlOf(text)?.groups).flatMap((g) =>
            arr(g.rules)
                .filter((r) => typeof r.alert === "string")
                .map((r) => ({
                    alert: r.alert as string,
                    labels: Object.fromEntries(Object.entries((r.labels as Record<string, unknown>) ?? {}).map(([k, v]) => [k, String(v)])),
                })),
        ),
    );
    const alerting = arr((prometheus.alerting as Record<string, unknown> | undefined)?.alertmanagers).length > 0;
    const alertmanager = [...config.files.values()]
        .map(yamlOf)
        .find((doc) => doc !== undefined && doc.route && Array.isArray(doc.receivers));
    let receiver: Scraper["receiver"];
    if (alertmanager) {
        const name = (alertmanager.route as Record<string, unknown>).receiver;
        const found = arr(alertmanager.receivers).find((r) => r.name === name);
        if (found && typeof name === "string") {
            receiver = {
                name,
                integrations: Object.fromEntries(
                    Object.entries(found)
                        .filter(([k]) => k.endsWith("_configs"))
                        .map(([k, v]) => [k, arr(v)]),
                ),
            };
        }
    }
    return { instance, targets, rules, alerting, receiver };
}

/** Every Prometheus the stack's instances deploy; `unknown` when some instance's user-data is not known yet. */
export function scrapersOf(instances: readonly PolicyResource[]): Known<Scraper[]> {
    const scrapers: Scraper[] = [];
    let undecided = false;
    for (const instance of instances) {
        const config = cloudConfigOf(instance);
        if (config === unknown) {
            undecided = true;
            continue;
        }
        const scraper = config && scraperOf(instance, config);
        if (scraper) scrapers.push(scraper);
    }
    return scrapers.length === 0 && undecided ? unknown : scrapers;
}

/** The address part of a target (`10.0.0.10:9100`, `http://10.0.0.10/`, `[::1]:80`). */
export function targetHost(target: string): string {
    const m = /^(?:[a-z]+:\/\/)?(\[[^\]]+\]|[^:/]+)/i.exec(target);
    return m ? m[1] : target;
}
