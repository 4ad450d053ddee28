/**
 * The stack's configuration, read and validated in one place.
 *
 * `parseConfig` is pure: it takes raw string values (as Pulumi stores them) and
 * returns typed settings or throws a `ConfigError` that names the key, the bad
 * value and what is allowed. `index.ts`, the offline preview and the local cloud
 * all go through it, so a bad stack file fails the same way everywhere, before
 * any resource is registered.
 */

export const lbAlgorithms = ["roundrobin", "leastconn"] as const;
export const architectures = ["x86_64", "arm64"] as const;
/** `strict`: tiers reachable only from the tier in front of them. `open`: the whiteboard's "no firewall". */
export const firewallModes = ["strict", "open"] as const;
/** `self-signed`: TLS on 443 with a generated certificate, 80 redirects. `none`: the whiteboard's plain HTTP. */
export const httpsModes = ["self-signed", "none"] as const;

export type LbAlgorithm = (typeof lbAlgorithms)[number];
export type Architecture = (typeof architectures)[number];
export type FirewallMode = (typeof firewallModes)[number];
export type HttpsMode = (typeof httpsModes)[number];

export interface StackConfig {
    /** Stack name; part of every SSM parameter name. */
    stack: string;
    region: string;
    lbInstanceType: string;
    webInstanceType: string;
    dbInstanceType: string;
    webCount: number;
    replicaCount: number;
    lbAlgorithm: LbAlgorithm;
    vpcCidr: string;
    /** CIDR allowed to reach SSH on every instance; SSH is closed when unset. */
    adminCidr?: string;
    keyName?: string;
    amiId?: string;
    architecture: Architecture;
    domain?: string;
    hostedZoneId?: string;
    firewall: FirewallMode;
    https: HttpsMode;
    /** Detailed monitoring, status-check alarms and an SNS topic for them. */
    monitoring: boolean;
    alarmEmail?: string;
    /** Termination protection and Pulumi `protect` on database instances and volumes. */
    dbDeletionProtection: boolean;
    dbVolumeSizeGiB: number;
    /** The private DNS zone that holds the database endpoints. */
    internalZone: string;
}

export class ConfigError extends Error {
    constructor(
        readonly key: string,
        readonly value: unknown,
        readonly allowed: string,
    ) {
        super(`invalid config ${key}=${JSON.stringify(value)}: ${allowed}`);
        this.name = "ConfigError";
    }
}

/** Raw values by key without the project prefix, e.g. `{ webCount: "2" }`. */
export type RawConfig = Record<string, string | undefined>;

/** Every setting of the program; `Pulumi.yaml` declares the same keys (a test holds that). */
export const configKeys = [
    "lbInstanceType",
    "webInstanceType",
    "dbInstanceType",
    "webCount",
    "replicaCount",
    "lbAlgorithm",
    "vpcCidr",
    "adminCidr",
    "keyName",
    "amiId",
    "architecture",
    "domain",
    "hostedZoneId",
    "firewall",
    "https",
    "monitoring",
    "alarmEmail",
    "dbDeletionProtection",
    "dbVolumeSizeGiB",
    "internalZone",
] as const;

const instanceTypePattern = /^[a-z][a-z0-9-]*\.[a-z0-9]+$/;
const hostnamePattern = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;

/** This project's settings out of the runtime's fully qualified config (`foobar:webCount` → `webCount`). */
export function projectSettings(project: string, all: Record<string, string>): RawConfig {
    const prefix = `${project}:`;
    return Object.fromEntries(
        Object.entries(all)
            .filter(([k]) => k.startsWith(prefix))
            .map(([k, v]) => [k.slice(prefix.length), v]),
    );
}

/** Parses a whole stack's configuration as the Pulumi runtime holds it. */
export function parseStackConfig(project: string, stack: string, all: Record<string, string>): StackConfig {
    return parseConfig(stack, all["aws:region"], projectSettings(project, all));
}

export function parseConfig(stack: string, region: string | undefined, raw: RawConfig): StackConfig {
    for (const key of Object.keys(raw)) {
        if (!(configKeys as readonly string[]).includes(key)) {
            throw new ConfigError(key, raw[key], `is not a setting of this program; known settings: ${configKeys.join(", ")}`);
        }
    }
    const get = (key: string) => {
        const v = raw[key];
        return v === undefined || v === "" ? undefined : v;
    };
    const str = (key: string, fallback: string) => get(key) ?? fallback;
    const oneOf = <T extends string>(key: string, allowed: readonly T[], fallback: T): T => {
        const v = get(key) ?? fallback;
        if (!(allowed as readonly string[]).includes(v)) {
            throw new ConfigError(key, v, `must be one of ${allowed.join(", ")}`);
        }
        return v as T;
    };
    const int = (key: string, min: number, max: number, fallback: number) => {
        const v = get(key);
        if (v === undefined) return fallback;
        const n = Number(v);
        if (!/^-?\d+$/.test(v.trim()) || n < min || n > max) {
            throw new ConfigError(key, v, `must be a whole number from ${min} to ${max}`);
        }
        return n;
    };
    const bool = (key: string, fallback: boolean) => {
        const v = get(key);
        if (v === undefined) return fallback;
        if (v !== "true" && v !== "false") throw new ConfigError(key, v, "must be true or false");
        return v === "true";
    };
    const instanceType = (key: string, fallback: string) => {
        const v = str(key, fallback);
        if (!instanceTypePattern.test(v)) {
            throw new ConfigError(key, v, "must be an EC2 instance type such as t3.small");
        }
        return v;
    };
    const optional = (key: string, pattern: RegExp, allowed: string) => {
        const v = get(key);
        if (v !== undefined && !pattern.test(v)) throw new ConfigError(key, v, allowed);
        return v;
    };

    if (!region) {
        throw new ConfigError("aws:region", region, "must be set, e.g. `pulumi config set aws:region eu-west-1`");
    }
    if (!/^[a-z]{2}(-[a-z]+)+-\d$/.test(region)) {
        throw new ConfigError("aws:region", region, "must be an AWS region such as eu-west-1");
    }

    const vpcCidr = str("vpcCidr", "10.0.0.0/16");
    parseCidr("vpcCidr", vpcCidr, 16, 24);
    const adminCidr = get("adminCidr");
    if (adminCidr !== undefined) parseCidr("adminCidr", adminCidr, 0, 32);

    const domain = optional("domain", hostnamePattern, "must be a DNS name such as foobar.com");
    const hostedZoneId = optional("hostedZoneId", /^Z[A-Z0-9]{1,31}$/, "must be a Route 53 hosted zone id such as Z0123456789ABC");
    if ((domain === undefined) !== (hostedZoneId === undefined)) {
        const [key, value] = domain === undefined ? ["domain", domain] : ["hostedZoneId", hostedZoneId];
        throw new ConfigError(key, value, "domain and hostedZoneId must be set together");
    }
    const monitoring = bool("monitoring", true);

    return {
        stack,
        region,
        lbInstanceType: instanceType("lbInstanceType", "t3.micro"),
        webInstanceType: instanceType("webInstanceType", "t3.small"),
        dbInstanceType: instanceType("dbInstanceType", "t3.small"),
        webCount: int("webCount", 1, 20, 2),
        replicaCount: int("replicaCount", 0, 5, 1),
        lbAlgorithm: oneOf("lbAlgorithm", lbAlgorithms, "roundrobin"),
        vpcCidr,
        adminCidr,
        keyName: optional("keyName", /^[\x20-\x7e]{1,255}$/, "must be the name of an EC2 key pair"),
        amiId: optional("amiId", /^ami-[0-9a-f]{8,17}$/, "must be an AMI id such as ami-0123456789abcdef0"),
        architecture: oneOf("architecture", architectures, "x86_64"),
        domain,
        hostedZoneId,
        firewall: oneOf("firewall", firewallModes, "strict"),
        https: oneOf("https", httpsModes, "self-signed"),
        monitoring,
        alarmEmail: optional("alarmEmail", /^[^@\s]+@[^@\s]+\.[^@\s]+$/, "must be an email address"),
        dbDeletionProtection: bool("dbDeletionProtection", true),
        dbVolumeSizeGiB: int("dbVolumeSizeGiB", 8, 16384, 20),
        internalZone: optional("internalZone", hostnamePattern, "must be a DNS name such as foobar.internal") ?? "foobar.internal",
    };
}

/** Parses `a.b.c.d/n`, checking that the address is the network's first and that n is in range. */
export function parseCidr(key: string, cidr: string, minPrefix: number, maxPrefix: number): { base: number; prefix: number } {
    const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(cidr);
    const allowed = `must be an IPv4 CIDR block with a prefix from /${minPrefix} to /${maxPrefix}, e.g. 10.0.0.0/${Math.max(minPrefix, 16)}`;
    if (!m) throw new ConfigError(key, cidr, allowed);
    const octets = m.slice(1, 5).map(Number);
    const prefix = Number(m[5]);
    if (octets.some((o) => o > 255) || prefix < minPrefix || prefix > maxPrefix) {
        throw new ConfigError(key, cidr, allowed);
    }
    const base = ipToInt(octets.join("."));
    const mask = prefix === 0 ? 0 : (~0 << (32 - prefix)) >>> 0;
    if ((base & mask) >>> 0 !== base) {
        throw new ConfigError(key, cidr, `host bits are set; did you mean ${intToIp((base & mask) >>> 0)}/${prefix}?`);
    }
    return { base, prefix };
}

export function ipToInt(ip: string): number {
    return ip.split(".").reduce((acc, o) => acc * 256 + Number(o), 0);
}

export function intToIp(n: number): string {
    return [24, 16, 8, 0].map((s) => (n >>> s) & 255).join(".");
}
