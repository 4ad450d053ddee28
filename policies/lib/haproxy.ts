/**
 * Just enough of HAProxy's configuration language to tell what the load
 * balancer serves: its proxies (frontend/listen sections), the ports they
 * bind, with or without TLS, and whether they redirect to HTTPS.
 */

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
