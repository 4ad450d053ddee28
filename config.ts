/**
 * The stack's configuration, read and validated in one place.
 *
 * `parseConfig` is pure: it takes raw string values (as Pulumi stores them) and
 * returns typed settings or throws a `ConfigError` that names the key, the bad
 * value and what is allowed. `index.ts`, the offline preview and the local cloud
 * all go through it, so a bad stack file fails the same way everywhere, before
 * any resource is registered.
 */
import { Region } from "@pulumi/aws/types/enums";
import { InstanceType } from "@pulumi/aws/types/enums/ec2";
import { isAnywhere, narrowestAnywherePrefix } from "./anywhere";

export const lbAlgorithms = ["roundrobin", "leastconn"] as const;
export const architectures = ["x86_64", "arm64"] as const;
/** `strict`: tiers reachable only from the tier in front of them. `open`: the whiteboard's "no firewall". */
export const firewallModes = ["strict", "open"] as const;
/** `self-signed`: TLS on 443 with a generated certificate, 80 redirects. `none`: the whiteboard's plain HTTP. */
export const httpsModes = ["self-signed", "none"] as const;
/** `replication`: a primary and `replicaCount` read replicas (the whiteboard). `galera`: a MariaDB Galera cluster of `dbNodeCount` nodes. */
export const databaseModes = ["replication", "galera"] as const;
/** Odd sizes only: a Galera cluster keeps quorum while a majority of its nodes answer. */
export const dbNodeCounts = [3, 5] as const;
/** `active-active`: every web server takes traffic. `active-passive`: the first `webActiveCount` serve, the others are hot spares. */
export const webModes = ["active-active", "active-passive"] as const;
/** Every instance type EC2 offers, as the AWS provider lists them. */
const ec2InstanceTypes: readonly string[] = Object.values(InstanceType);

export type LbAlgorithm = (typeof lbAlgorithms)[number];
export type Architecture = (typeof architectures)[number];
export type FirewallMode = (typeof firewallModes)[number];
export type HttpsMode = (typeof httpsModes)[number];
export type DatabaseMode = (typeof databaseModes)[number];
export type WebMode = (typeof webModes)[number];

export interface StackConfig {
    /** Stack name; part of every SSM parameter name. */
    stack: string;
    region: string;
    lbInstanceType: string;
    webInstanceType: string;
    dbInstanceType: string;
    /** The monitoring instance (Prometheus, Alertmanager), when monitoring is on. */
    monitoringInstanceType: string;
    /** Load balancers: 1 is the whiteboard's single one; 2 is an HAProxy pair in two AZs whose keepalived moves the public address. */
    lbCount: number;
    webCount: number;
    /** Whether every web server serves, or the first `webActiveCount` do and the others are HAProxy backup servers. */
    webMode: WebMode;
    /** With active-passive, how many web servers serve (fewer than webCount); webCount with active-active. */
    webActiveCount: number;
    database: DatabaseMode;
    /** Read replicas of the primary (`database: replication`; 0 with galera). */
    replicaCount: number;
    /** Galera cluster nodes (`database: galera`; 0 with replication). */
    dbNodeCount: number;
    lbAlgorithm: LbAlgorithm;
    vpcCidr: string;
    /**
     * With galera: the VPC's secondary block for the third availability zone's two subnets (the primary block's
     * four quarters are taken by two zones). Half the VPC's size; by default the block right after vpcCidr.
     * Unset with replication, and with galera when the stack file says `none` (the nodes stay in two zones).
     */
    thirdZoneCidr?: string;
    /** CIDR allowed to reach SSH on every instance; SSH is closed when unset. */
    adminCidr?: string;
    keyName?: string;
    amiId?: string;
    architecture: Architecture;
    domain?: string;
    hostedZoneId?: string;
    firewall: FirewallMode;
    https: HttpsMode;
    /** Detailed monitoring, status-check alarms, a monitoring instance (Prometheus, Alertmanager, exporters) and an SNS topic. */
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
    "monitoringInstanceType",
    "lbCount",
    "webCount",
    "webMode",
    "webActiveCount",
    "replicaCount",
    "database",
    "dbNodeCount",
    "lbAlgorithm",
    "vpcCidr",
    "thirdZoneCidr",
    "adminCidr",
    "allowSshFromAnywhere",
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

const hostnamePattern = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;

/**
 * The records the program adds: `www` under `domain`, the database endpoints under `internalZone` (replication).
 * Each full name must stay within DNS's 253 characters (Route 53: labels up to 63 bytes, names up to 255 bytes
 * on the wire, https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/DomainNameFormat.html).
 */
export const recordLabels = { domain: { www: "www" }, internalZone: { writer: "db-writer", reader: "db-reader" } } as const;

/**
 * The regions of the `aws` partition, the one whose ARNs (`arn:aws:`) this program writes. China (aws-cn), GovCloud
 * (aws-us-gov), the ISO regions and the European Sovereign Cloud (aws-eusc) are partitions of their own, with other
 * ARNs and separate accounts (https://docs.aws.amazon.com/whitepapers/latest/aws-fault-isolation-boundaries/partitions.html,
 * https://docs.aws.amazon.com/IAM/latest/UserGuide/reference-arns.html). The list is the AWS provider's Region enum.
 */
const otherPartitions = /^(cn-|us-gov-|us-iso|eu-isoe-|eusc-)/;
export const awsRegions: readonly string[] = Object.values(Region).filter((r) => !otherPartitions.test(r));

/** Characters that do not show: controls, format characters (zero-width space, joiners, BOM, bidi marks), and every space but U+0020. */
const invisible = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]|(?! )\p{Zs}/u;

/** `zone` when every record the program adds under it (recordLabels) fits DNS's 253 characters. */
function recordZone(key: keyof typeof recordLabels, zone: string | undefined): string | undefined {
    const longest =
        zone === undefined
            ? undefined
            : Object.values(recordLabels[key])
                  .map((l: string) => `${l}.${zone}`)
                  .sort((a, b) => b.length - a.length)[0];
    if (zone !== undefined && longest!.length > 253) {
        throw new ConfigError(
            key,
            zone,
            `the program adds the record ${longest!.slice(0, 24)}… under it, ${longest!.length} characters, and a DNS name holds at most 253; ` +
                `use a name of at most ${253 - longest!.length + zone.length} characters`,
        );
    }
    return zone;
}

/** A ConfigError if `value` holds a character that does not show (it would reach AWS, or a name, unseen). */
function checkVisible(key: string, value: string): void {
    const at = [...value].findIndex((c) => invisible.test(c));
    if (at >= 0) {
        const code = [...value][at].codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0");
        throw new ConfigError(
            key,
            value,
            `holds an invisible character, U+${code}, at position ${at} (pasted text often carries one); retype the value without it`,
        );
    }
}

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
            throw new ConfigError(
                key,
                raw[key],
                `is not a setting of this program; ${didYouMean(key, configKeys)}known settings: ${configKeys.join(", ")}`,
            );
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
        // The grammar of Go's strconv.Atoi, which the Pulumi CLI checks `type: integer` keys with.
        if (!/^[+-]?\d+$/.test(v) || n < min || n > max) {
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
    const optional = (key: string, pattern: RegExp, allowed: string) => {
        const v = get(key);
        if (v !== undefined && !pattern.test(v)) throw new ConfigError(key, v, allowed);
        return v;
    };

    if (!region) {
        throw new ConfigError("aws:region", region, "must be set, e.g. `pulumi config set aws:region eu-west-1`");
    }
    for (const [key, value] of [["aws:region", region], ...Object.entries(raw)]) if (value !== undefined) checkVisible(key!, value);
    if (otherPartitions.test(region) && (Object.values(Region) as string[]).includes(region)) {
        throw new ConfigError(
            "aws:region",
            region,
            "is a region of another AWS partition (its own accounts and arn:aws-cn:/arn:aws-us-gov:/... ARNs), and this program " +
                "writes arn:aws: ARNs; use a region of the aws partition such as eu-west-1",
        );
    }
    if (!awsRegions.includes(region)) {
        throw new ConfigError(
            "aws:region",
            region,
            `is not an AWS region; ${didYouMean(region, awsRegions)}regions: ${awsRegions.join(", ")}`,
        );
    }

    const vpcCidr = str("vpcCidr", "10.0.0.0/16");
    parseCidr("vpcCidr", vpcCidr, 16, 24);
    checkVpcRange(vpcCidr);
    const adminCidr = get("adminCidr");
    const allowSshFromAnywhere = bool("allowSshFromAnywhere", false);
    if (adminCidr !== undefined && parseCidr("adminCidr", adminCidr, 0, 32) && isAnywhere(adminCidr) && !allowSshFromAnywhere) {
        const what = adminCidr.endsWith("/0")
            ? "the whole internet"
            : `the internet: a range wider than /${narrowestAnywherePrefix.ipv4} is no admin network`;
        throw new ConfigError(
            "adminCidr",
            adminCidr,
            `opens SSH on every instance to ${what}; set adminCidr to your own range (e.g. 203.0.113.7/32), ` +
                "or set allowSshFromAnywhere: true to accept that",
        );
    }

    const domain = recordZone("domain", optional("domain", hostnamePattern, "must be a DNS name such as foobar.com"));
    if (domain?.startsWith("www.")) {
        throw new ConfigError(
            "domain",
            domain,
            `the program adds the www record itself (this would plan www.${domain}); set domain to ${domain.slice(4)}`,
        );
    }
    const hostedZoneId = optional("hostedZoneId", /^Z[A-Z0-9]{1,31}$/, "must be a Route 53 hosted zone id such as Z0123456789ABC");
    if ((domain === undefined) !== (hostedZoneId === undefined)) {
        const [key, value] = domain === undefined ? ["domain", domain] : ["hostedZoneId", hostedZoneId];
        throw new ConfigError(key, value, "domain and hostedZoneId must be set together");
    }
    const monitoring = bool("monitoring", true);
    const alarmEmail = optional("alarmEmail", /^[^@\s]+@[^@\s]+\.[^@\s]+$/, "must be an email address");
    if (alarmEmail !== undefined && !monitoring) {
        throw new ConfigError(
            "alarmEmail",
            alarmEmail,
            "monitoring is false, so there is no alarm topic and this address would get nothing; set monitoring: true or remove alarmEmail",
        );
    }

    const architecture = oneOf("architecture", architectures, "x86_64");
    const instanceType = (key: string, fallback: string) => {
        const v = str(key, fallback);
        if (!ec2InstanceTypes.includes(v)) {
            throw new ConfigError(
                key,
                v,
                `is not an EC2 instance type; ${didYouMean(v, ec2InstanceTypes)}use one such as t3.small (x86_64) or t4g.small (arm64)`,
            );
        }
        const nitro = nitroSuccessor(v);
        if (nitro !== undefined) {
            throw new ConfigError(
                key,
                v,
                "runs on the Xen hypervisor, not the Nitro System: the deploy's readiness gates read the console with " +
                    "get-console-output --latest (Nitro only) and setup-db.sh waits for the data volume at its NVMe path; " +
                    `set ${key} to a Nitro type such as ${nitro} (https://docs.aws.amazon.com/ec2/latest/instancetypes/ec2-nitro-instances.html)`,
            );
        }
        if (instanceArchitecture(v) !== architecture) {
            const fix = matchingInstanceType(v, architecture);
            throw new ConfigError(
                key,
                v,
                `is an ${instanceArchitecture(v)} instance type but architecture is ${architecture}; ` +
                    `set ${key} to an ${architecture} type${fix ? ` such as ${fix}` : ""} or architecture to ${instanceArchitecture(v)}`,
            );
        }
        return v;
    };

    const database = oneOf("database", databaseModes, "replication");
    if (database === "galera" && get("replicaCount") !== undefined) {
        throw new ConfigError(
            "replicaCount",
            get("replicaCount"),
            "is a setting of database: replication (read replicas); a Galera cluster's size is dbNodeCount (3 or 5): remove replicaCount",
        );
    }
    if (database === "replication" && get("dbNodeCount") !== undefined) {
        throw new ConfigError("dbNodeCount", get("dbNodeCount"), "sizes a Galera cluster: set database: galera, or remove dbNodeCount");
    }
    const dbNodeCount = database === "galera" ? Number(oneOf("dbNodeCount", dbNodeCounts.map(String), "3")) : 0;
    if (database === "replication" && get("thirdZoneCidr") !== undefined) {
        throw new ConfigError(
            "thirdZoneCidr",
            get("thirdZoneCidr"),
            "is the address block of a Galera cluster's third zone; replication uses two zones: set database: galera, or remove thirdZoneCidr",
        );
    }
    const thirdZoneCidr = database === "galera" ? parseThirdZoneCidr(vpcCidr, get("thirdZoneCidr")) : undefined;
    const webCount = int("webCount", 1, 20, 2);
    const webMode = oneOf("webMode", webModes, "active-active");
    checkWebMode(webMode, webCount, get("webActiveCount"));
    const webActiveCount = webMode === "active-passive" ? int("webActiveCount", 1, 19, 1) : webCount;
    if (webMode === "active-passive" && webActiveCount >= webCount) {
        throw new ConfigError(
            "webActiveCount",
            get("webActiveCount"),
            `leaves no spare of webCount ${webCount}: set webActiveCount to at most ${webCount - 1}, or webCount to at least ${webActiveCount + 1}`,
        );
    }

    return {
        stack,
        region,
        lbInstanceType: instanceType("lbInstanceType", "t3.micro"),
        webInstanceType: instanceType("webInstanceType", "t3.small"),
        dbInstanceType: instanceType("dbInstanceType", "t3.small"),
        monitoringInstanceType: instanceType("monitoringInstanceType", "t3.small"),
        lbCount: int("lbCount", 1, 2, 1),
        webCount,
        webMode,
        webActiveCount,
        database,
        replicaCount: database === "replication" ? int("replicaCount", 0, 5, 1) : 0,
        dbNodeCount,
        lbAlgorithm: oneOf("lbAlgorithm", lbAlgorithms, "roundrobin"),
        vpcCidr,
        ...(thirdZoneCidr ? { thirdZoneCidr } : {}),
        adminCidr,
        keyName: optional("keyName", /^[\x20-\x7e]{1,255}$/, "must be the name of an EC2 key pair"),
        amiId: optional("amiId", /^ami-[0-9a-f]{8,17}$/, "must be an AMI id such as ami-0123456789abcdef0"),
        architecture,
        domain,
        hostedZoneId,
        firewall: oneOf("firewall", firewallModes, "strict"),
        https: oneOf("https", httpsModes, "self-signed"),
        monitoring,
        alarmEmail,
        dbDeletionProtection: bool("dbDeletionProtection", true),
        dbVolumeSizeGiB: int("dbVolumeSizeGiB", 8, 16384, 20),
        internalZone:
            recordZone("internalZone", optional("internalZone", hostnamePattern, "must be a DNS name such as foobar.internal")) ??
            "foobar.internal",
    };
}

/** The refusals of webMode and webActiveCount that need no number parsed: a spare needs two servers; active-active has no count. */
function checkWebMode(webMode: WebMode, webCount: number, webActiveCount: string | undefined): void {
    if (webMode === "active-active" && webActiveCount !== undefined) {
        throw new ConfigError(
            "webActiveCount",
            webActiveCount,
            "sets how many web servers serve with webMode: active-passive (with active-active every one does); set that mode, or remove webActiveCount",
        );
    }
    if (webMode === "active-passive" && webCount < 2) {
        throw new ConfigError(
            "webMode",
            webMode,
            `needs a spare web server, and webCount is ${webCount}: set webCount to 2 or more, or webMode to active-active`,
        );
    }
}

/**
 * An instance type's CPU architecture, by EC2's naming rule: the letters after the generation name the
 * processor, and a `g` there is AWS Graviton (t4g, m7g, c7gn, r8gd, im4gn); a1 is the first Graviton.
 * https://docs.aws.amazon.com/ec2/latest/instancetypes/instance-type-names.html
 */
export function instanceArchitecture(instanceType: string): Architecture {
    const m = /^([a-z]+)(\d+)([a-z]*)/.exec(instanceType);
    if (!m) return "x86_64";
    const [, series, generation, options] = m;
    return options.includes("g") || (series === "a" && generation === "1") ? "arm64" : "x86_64";
}

/**
 * The EC2 families that run on Xen, not on the Nitro System, each with its Nitro successor: every family the provider
 * lists that the AWS page "Instances built on the AWS Nitro System" does not
 * (https://docs.aws.amazon.com/ec2/latest/instancetypes/ec2-nitro-instances.html), except i3.metal, which is Nitro.
 * p3dn is a family of its own in the provider's list, and Nitro.
 */
const xenFamilies: Record<string, string> = {
    t1: "t3",
    t2: "t3",
    m1: "m5",
    m2: "m5",
    m3: "m5",
    m4: "m5",
    c1: "c5",
    c3: "c5",
    c4: "c5",
    cc1: "c5",
    cc2: "c5",
    r3: "r5",
    r4: "r5",
    cr1: "r5",
    x1: "x2idn",
    x1e: "x2iedn",
    d2: "d3",
    hs1: "d3",
    h1: "d3en",
    i2: "i3en",
    i3: "i3en",
    hi1: "i3en",
    f1: "f2",
    g2: "g4dn",
    g3: "g4dn",
    g3s: "g4dn",
    cg1: "g4dn",
    p2: "p3dn",
    p3: "p3dn",
};

/** For a Xen type, the Nitro type to use instead: the successor family in the same size if EC2 has it (t2.micro → t3.micro), else its nearest size. */
export function nitroSuccessor(instanceType: string): string | undefined {
    const [family, size] = instanceType.split(".");
    const successor = xenFamilies[family];
    if (successor === undefined || instanceType === "i3.metal") return undefined;
    const sameSize = `${successor}.${size}`;
    if (ec2InstanceTypes.includes(sameSize)) return sameSize;
    // Relative sizes by EC2's naming (large = 2 × medium, 4xlarge = 4 × xlarge): the successor's nearest size.
    const scale = (z: string) =>
        ({ nano: -3, micro: -2, small: -1, medium: 0, large: 1, xlarge: 2 })[z] ??
        (/^(\d+)xlarge$/.test(z) ? 2 + Math.log2(Number(/^(\d+)/.exec(z)![1])) : 99);
    return ec2InstanceTypes
        .filter((t) => t.startsWith(`${successor}.`))
        .sort(
            (a, b) => Math.abs(scale(a.split(".")[1]) - scale(size)) - Math.abs(scale(b.split(".")[1]) - scale(size)) || a.localeCompare(b),
        )[0];
}

/** The nearest type of the same series and size for the other architecture (t3.micro → t4g.micro), if EC2 has one. */
function matchingInstanceType(instanceType: string, architecture: Architecture): string | undefined {
    const parts = (t: string) => {
        const m = /^([a-z]+)(\d+)([a-z]*)[^.]*\.(.+)$/.exec(t);
        return m && { series: m[1], generation: Number(m[2]), options: m[3], size: m[4] };
    };
    const from = parts(instanceType);
    if (!from) return undefined;
    const rank = (t: string) => {
        const p = parts(t)!;
        return Math.abs(p.generation - from.generation) * 10 + p.options.length;
    };
    return ec2InstanceTypes
        .filter((t) => {
            const p = parts(t);
            return p !== null && p.series === from.series && p.size === from.size && instanceArchitecture(t) === architecture;
        })
        .sort((a, b) => rank(a) - rank(b) || a.localeCompare(b))[0];
}

/** Edit distance between two names, to suggest the one a typo meant. */
function editDistance(a: string, b: string): number {
    let row = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
        const next = [i];
        for (let j = 1; j <= b.length; j++) next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
        row = next;
    }
    return row[b.length];
}

/** The known name nearest to a misspelt one (at most three edits away, ignoring case), if any. */
export function nearestName(name: string, known: readonly string[]): string | undefined {
    const scored = known.map((k) => ({ k, d: editDistance(name.toLowerCase(), k.toLowerCase()) })).filter(({ d }) => d <= 3);
    return scored.sort((a, b) => a.d - b.d)[0]?.k;
}

/** `did you mean "x"? ` when a known name is near, else "": to start the fix part of a message. */
export function didYouMean(name: string, known: readonly string[]): string {
    const near = nearestName(name, known);
    return near === undefined ? "" : `did you mean "${near}"? `;
}

/**
 * Parses `a.b.c.d/n`, checking that the address is the network's first and that n is in range.
 * Octets are plain decimals: `010` is 10 to some tools and 8 to others, and would differ between the VPC and its subnets.
 * `hint`: an example block for the message, and what the key takes besides a block (e.g. `none`).
 */
export function parseCidr(
    key: string,
    cidr: string,
    minPrefix: number,
    maxPrefix: number,
    hint: { example?: string; otherwise?: string } = {},
): { base: number; prefix: number } {
    const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(cidr);
    const example = hint.example ?? `10.0.0.0/${Math.max(minPrefix, 16)}`;
    const allowed =
        `must be an IPv4 CIDR block with a prefix from /${minPrefix} to /${maxPrefix}, e.g. ${example}` +
        (hint.otherwise ? `, or ${hint.otherwise}` : "");
    if (!m) throw new ConfigError(key, cidr, allowed);
    const numbers = m.slice(1, 6);
    const octets = numbers.slice(0, 4).map(Number);
    const prefix = Number(m[5]);
    if (octets.some((o) => o > 255) || prefix < minPrefix || prefix > maxPrefix) {
        throw new ConfigError(key, cidr, allowed);
    }
    if (numbers.some((n) => /^0\d/.test(n))) {
        throw new ConfigError(key, cidr, `numbers must not have leading zeros; did you mean ${octets.join(".")}/${prefix}?`);
    }
    const base = ipToInt(octets.join("."));
    const mask = prefix === 0 ? 0 : (~0 << (32 - prefix)) >>> 0;
    if ((base & mask) >>> 0 !== base) {
        throw new ConfigError(key, cidr, `host bits are set; did you mean ${intToIp((base & mask) >>> 0)}/${prefix}?`);
    }
    return { base, prefix };
}

/** Ranges a VPC cannot hold (RFC 6890 special-purpose blocks that are not private networks). */
const reservedRanges = [
    { cidr: "0.0.0.0/8", what: '"this network" (0.0.0.0/8)' },
    { cidr: "127.0.0.0/8", what: "loopback (127.0.0.0/8)" },
    { cidr: "169.254.0.0/16", what: "link-local (169.254.0.0/16)" },
    { cidr: "224.0.0.0/4", what: "multicast (224.0.0.0/4)" },
    { cidr: "240.0.0.0/4", what: "reserved (240.0.0.0/4)" },
];

function checkVpcRange(vpcCidr: string): void {
    for (const { cidr, what } of reservedRanges) {
        if (cidrWithin(vpcCidr, cidr)) {
            throw new ConfigError("vpcCidr", vpcCidr, `lies in ${what}, which no VPC can use; use a private range such as 10.0.0.0/16`);
        }
    }
}

/** The RFC 1918 ranges: AWS keeps a VPC's blocks within one of them (or all outside them). */
const privateRanges = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"];

/** Whether block `inner` lies wholly inside block `outer`. */
export function cidrWithin(inner: string, outer: string): boolean {
    const [i, o] = [inner, outer].map((c) => parseCidr("CIDR", c, 0, 32));
    const size = 2 ** (32 - o.prefix);
    return i.prefix >= o.prefix && Math.floor(i.base / size) === Math.floor(o.base / size);
}

/** Whether two blocks share an address. */
function cidrOverlaps(a: string, b: string): boolean {
    return cidrWithin(a, b) || cidrWithin(b, a);
}

/** RFC 6598 shared address space: AWS allows it as a secondary block beside any primary. */
const sharedRange = "100.64.0.0/10";

/**
 * Why `block` cannot be a secondary IPv4 block of a VPC whose primary is `vpcCidr`, if so. AWS's table
 * (https://docs.aws.amazon.com/vpc/latest/userguide/vpc-cidr-blocks.html, "IPv4 CIDR block association restrictions"):
 * not another RFC 1918 range than the primary's; not 198.19.0.0/16; with a block in 10.0.0.0/15 (10.0.0.0 to 10.1.255.255),
 * nothing from 10.0.0.0/16; with a primary in 172.16.0.0/12, not 172.31.0.0/16. 100.64.0.0/10 is permitted beside any
 * primary. Publicly routable blocks AWS permits too, but beside a private primary the program refuses them: the VPC
 * would route those internet addresses to itself, so its servers could no longer reach whoever owns them.
 */
function secondaryBlockProblem(vpcCidr: string, block: string): string | undefined {
    const range = (cidr: string) => privateRanges.find((r) => cidrWithin(cidr, r));
    const [vpcRange, blockRange] = [range(vpcCidr), range(block)];
    if (cidrOverlaps(block, vpcCidr)) return `overlaps vpcCidr ${vpcCidr}`;
    if (cidrOverlaps(block, "198.19.0.0/16")) return "overlaps 198.19.0.0/16, which AWS refuses as a secondary block";
    if (blockRange && blockRange !== vpcRange) {
        return vpcRange
            ? `is in ${blockRange}, another RFC 1918 range than vpcCidr ${vpcCidr}'s (${vpcRange}), and AWS refuses two in one VPC`
            : `is in the RFC 1918 range ${blockRange} while vpcCidr ${vpcCidr} is not, and AWS refuses to add one to such a VPC`;
    }
    if (vpcRange === "10.0.0.0/8" && cidrOverlaps(vpcCidr, "10.0.0.0/15") && cidrOverlaps(block, "10.0.0.0/16")) {
        return `is in 10.0.0.0/16 while vpcCidr ${vpcCidr} is in 10.0.0.0/15, and AWS refuses that pair`;
    }
    if (vpcRange === "172.16.0.0/12" && cidrOverlaps(block, "172.31.0.0/16")) {
        return "overlaps 172.31.0.0/16, which AWS refuses as a secondary block of a VPC in 172.16.0.0/12";
    }
    if (vpcRange && !blockRange && !cidrWithin(block, sharedRange)) {
        return `is publicly routable: the VPC would take those internet addresses for itself; use a block in ${vpcRange} or ${sharedRange}`;
    }
    return undefined;
}

/**
 * The third zone's block: as set, or half the VPC's size right after vpcCidr (10.0.0.0/16 → 10.1.0.0/17). Each of its
 * halves is a subnet, so it holds at most /25 (subnets of 64 addresses hold the Galera block at +56).
 */
function parseThirdZoneCidr(vpcCidr: string, value: string | undefined): string | undefined {
    if (value === "none") return undefined;
    const vpc = parseCidr("vpcCidr", vpcCidr, 16, 24);
    const prefix = vpc.prefix + 1;
    const size = 2 ** (32 - prefix);
    const candidate = (base: number) => `${intToIp(base)}/${prefix}`;
    const after = candidate(vpc.base + 2 * size);
    const before = vpc.base >= size ? candidate(vpc.base - size) : undefined;
    // A block right after vpcCidr, else right before it, else the start of 100.64.0.0/10: the first AWS would associate.
    const free = [after, before, `100.64.0.0/${prefix}`].find((b) => b !== undefined && !secondaryBlockProblem(vpcCidr, b));
    if (value !== undefined) {
        parseCidr("thirdZoneCidr", value, 16, 25, { example: free ?? after, otherwise: "none (the nodes stay in two zones)" });
        const problem = secondaryBlockProblem(vpcCidr, value);
        if (problem) throw new ConfigError("thirdZoneCidr", value, `${problem}; use a free block${free ? ` such as ${free}` : ""}`);
        return value;
    }
    const problem = secondaryBlockProblem(vpcCidr, after);
    if (problem) {
        const fix = free ? ` such as ${free}` : "";
        throw new ConfigError(
            "thirdZoneCidr",
            value,
            `a Galera cluster's third zone needs a secondary block, and the default one, ${after} (right after vpcCidr), ${problem}; ` +
                `set thirdZoneCidr to a free /${prefix}${fix} (or to none, which keeps the nodes in two zones)`,
        );
    }
    return after;
}

export function ipToInt(ip: string): number {
    return ip.split(".").reduce((acc, o) => acc * 256 + Number(o), 0);
}

export function intToIp(n: number): string {
    return [24, 16, 8, 0].map((s) => (n >>> s) & 255).join(".");
}
