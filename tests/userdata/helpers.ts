/** Every rendered user-data of a few stack variants, and lookups into it, for the per-renderer validator suites. */
import { parse } from "yaml";
import { CloudConfig } from "../../userdata/cloudConfig";
import { devConfig, renderAll } from "../helpers";

export const variants = {
    dev: devConfig(),
    hardened: devConfig({
        firewall: "strict",
        https: "self-signed",
        monitoring: "true",
        webCount: "5",
        replicaCount: "3",
        lbAlgorithm: "leastconn",
    }),
    "no replicas": devConfig({ replicaCount: "0", webCount: "1" }),
    "lb pair": devConfig({ lbCount: "2", firewall: "strict", https: "self-signed" }),
    galera: devConfig({ database: "galera", replicaCount: "", firewall: "strict" }),
};

export interface RenderedCase {
    variant: string;
    target: "aws" | "local";
    name: string;
    role: string;
    text: string;
    /** Parameters the deploy publishes for the site (the load balancer's HAProxy configuration), by name. */
    published: Record<string, string>;
}

const rendered: RenderedCase[] = Object.entries(variants).flatMap(([variant, config]) =>
    renderAll(config).flatMap((r) => [
        { variant, target: "aws" as const, name: r.instance.name, role: r.instance.role, text: r.aws, published: r.published },
        { variant, target: "local" as const, name: r.instance.name, role: r.instance.role, text: r.local, published: r.published },
    ]),
);

/** `[title, case]` pairs for `test.each`, optionally only the instances whose role matches. */
export function cases(role?: RegExp): (readonly [string, RenderedCase])[] {
    return rendered.filter((r) => !role || role.test(r.role)).map((r) => [`${r.variant} ${r.name} (${r.target})`, r] as const);
}

export const doc = (text: string) => parse(text) as CloudConfig;

/** The content of the file a user-data writes at `p`. */
export function file(text: string, p: string): string {
    const f = doc(text).write_files.find((w) => w.path === p);
    if (!f) throw new Error(`no ${p} in user-data`);
    return f.content;
}

/** The `KEY="value"` lines of an environment file the user-data writes, as an object. */
export function envSettings(content: string): Record<string, string> {
    return Object.fromEntries([...content.matchAll(/^([A-Z][A-Z0-9_]*)="(.*)"$/gm)].map((m) => [m[1], m[2]]));
}
