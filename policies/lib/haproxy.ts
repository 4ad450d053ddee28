/**
 * Just enough of HAProxy's configuration language to tell what the load
 * balancer serves: its proxies (frontend/listen sections), the ports they
 * bind, with or without TLS, whether they redirect to HTTPS, and the servers
 * of a backend (which are backups).
 */
import { Res, StackGraph, types } from "./resources";
import { knownString, need } from "./unknowns";
import { cloudConfigOf, userDataOf } from "./userData";

const sectionKeywords = new Set([
    "global",
    "defaults",
    "frontend",
    "backend",
    "listen",
    "userlist",
    "peers",
    "resolvers",
    "mailers",
    "program",
    "http-errors",
    "ring",
    "cache",
]);

export interface Section {
    kind: string;
    name: string;
    /** Directives, trimmed, comments removed. */
    lines: string[];
}

export interface Bind {
    /** Port ranges, [from, to]. */
    ports: [number, number][];
    ssl: boolean;
    certificate: boolean;
}

export function parseHaproxy(text: string): Section[] {
    const sections: Section[] = [];
    for (const raw of text.split("\n")) {
        const line = raw.replace(/(^|\s)#.*$/, "").trim();
        if (line === "") continue;
        const [keyword, name = ""] = line.split(/\s+/);
        if (sectionKeywords.has(keyword)) sections.push({ kind: keyword, name, lines: [] });
        else sections[sections.length - 1]?.lines.push(line);
    }
    return sections;
}

/** Sections that accept client connections. */
export function proxies(sections: Section[]): Section[] {
    return sections.filter((s) => s.kind === "frontend" || s.kind === "listen");
}

export function bindsOf(section: Section): Bind[] {
    return section.lines
        .filter((l) => l.startsWith("bind "))
        .map((l) => {
            const [, addresses = "", ...options] = l.split(/\s+/);
            const ports = addresses
                .split(",")
                .map((a) => /:(\d+)(?:-(\d+))?$/.exec(a))
                .filter((m): m is RegExpExecArray => m !== null)
                .map((m) => [Number(m[1]), Number(m[2] ?? m[1])] as [number, number]);
            return { ports, ssl: options.includes("ssl"), certificate: options.includes("crt") || options.includes("crt-list") };
        });
}

export function bindsPort(b: Bind, port: number): boolean {
    return b.ports.some(([from, to]) => from <= port && port <= to);
}

/** An `http-request redirect` (or legacy `redirect`) to the https scheme or an https:// location. */
export function redirectsToHttps(section: Section): boolean {
    return section.lines.some((l) => /^(http-request\s+)?redirect\s+(scheme\s+https\b|(location|prefix)\s+https:\/\/)/.test(l));
}

export interface BackendServer {
    name: string;
    /** The address without the port. */
    host: string;
    /** A backup server: it takes traffic only while no other server of the backend is up. */
    backup: boolean;
}

/** The `server` lines of a backend section. */
export function serversOf(section: Section): BackendServer[] {
    return section.lines
        .filter((l) => l.startsWith("server "))
        .map((l) => {
            const [, name = "", address = "", ...options] = l.split(/\s+/);
            return { name, host: address.replace(/:\d+$/, ""), backup: options.includes("backup") };
        });
}

/**
 * The HAProxy configuration a load balancer runs, as sections: the one its cloud-config writes at `configPath`,
 * else the String SSM parameters its user-data names whose value is an HAProxy configuration. `undefined` when neither.
 */
export function haproxyConfigOf(lb: Res, stack: StackGraph, configPath: string): Section[] | undefined {
    const written = need(cloudConfigOf(lb))?.files.get(configPath);
    if (written !== undefined) return parseHaproxy(written);
    const userData = need(userDataOf(lb)) ?? "";
    const published = stack.ofType(types.ssmParameter).flatMap((p) => {
        const name = need(knownString(() => p.props.name));
        if (name === undefined || !userData.includes(name) || knownString(() => p.props.type) !== "String") return [];
        const sections = parseHaproxy(need(knownString(() => p.props.value)) ?? "");
        return sections.some((x) => x.kind === "defaults" || x.kind === "global") ? [sections] : [];
    });
    return published.length === 0 ? undefined : published.flat();
}
