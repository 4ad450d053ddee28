import * as fs from "fs";
import * as path from "path";
import { parse } from "yaml";
import { ConfigError, configKeys, parseConfig, RawConfig } from "../config";

const armDefaults = { lbInstanceType: "t4g.micro", webInstanceType: "t4g.small", monitoringInstanceType: "t4g.small" };
const parse0 = (raw: RawConfig, region: string | undefined = "eu-west-1") => parseConfig("test", region, raw);

function expectConfigError(raw: RawConfig, key: string, allowed: RegExp, region?: string) {
    let error: unknown;
    try {
        parse0(raw, region);
    } catch (err) {
        error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const e = error as ConfigError;
    expect(e.key).toBe(key);
    expect(e.message).toContain(key);
    expect(e.message).toMatch(allowed);
    return e;
}

describe("parseConfig", () => {
    test("safe defaults", () => {
        const c = parse0({});
        expect(c).toMatchObject({
            lbCount: 1,
            webCount: 2,
            replicaCount: 1,
            lbAlgorithm: "roundrobin",
            vpcCidr: "10.0.0.0/16",
            firewall: "strict",
            https: "self-signed",
            monitoring: true,
            dbDeletionProtection: true,
            architecture: "x86_64",
        });
        expect(c.adminCidr).toBeUndefined();
    });

    test.each([
        [{ webCount: "0" }, "webCount", /from 1 to 20/],
        [{ webCount: "21" }, "webCount", /from 1 to 20/],
        [{ webCount: "two" }, "webCount", /whole number/],
        [{ webCount: "2.5" }, "webCount", /whole number/],
        [{ lbCount: "3" }, "lbCount", /from 1 to 2/],
        [{ lbCount: "0" }, "lbCount", /from 1 to 2/],
        [{ replicaCount: "6" }, "replicaCount", /from 0 to 5/],
        [{ replicaCount: "-1" }, "replicaCount", /from 0 to 5/],
        [{ lbAlgorithm: "random" }, "lbAlgorithm", /roundrobin, leastconn/],
        [{ vpcCidr: "10.0.0.0/8" }, "vpcCidr", /\/16 to \/24/],
        [{ vpcCidr: "10.0.0.0/25" }, "vpcCidr", /\/16 to \/24/],
        [{ vpcCidr: "10.0.1.0/16" }, "vpcCidr", /host bits are set; did you mean 10\.0\.0\.0\/16/],
        [{ vpcCidr: "300.0.0.0/16" }, "vpcCidr", /IPv4 CIDR/],
        [{ vpcCidr: "banana" }, "vpcCidr", /IPv4 CIDR/],
        [{ adminCidr: "1.2.3.4" }, "adminCidr", /IPv4 CIDR/],
        [{ architecture: "sparc" }, "architecture", /x86_64, arm64/],
        [{ amiId: "ami-xyz" }, "amiId", /AMI id/],
        [{ webInstanceType: "big" }, "webInstanceType", /instance type/],
        [{ firewall: "none" }, "firewall", /strict, open/],
        [{ https: "yes" }, "https", /self-signed, none/],
        [{ monitoring: "yes" }, "monitoring", /true or false/],
        [{ domain: "foobar.com" }, "hostedZoneId", /set together/],
        [{ hostedZoneId: "Z123ABC" }, "domain", /set together/],
        [{ domain: "not a domain", hostedZoneId: "Z123ABC" }, "domain", /DNS name/],
        [{ alarmEmail: "nobody" }, "alarmEmail", /email/],
        [{ dbVolumeSizeGiB: "4" }, "dbVolumeSizeGiB", /from 8 to 16384/],
        [{ webcount: "3" }, "webcount", /not a setting of this program; did you mean "webCount"\? known settings: .*webCount/],
    ] as [RawConfig, string, RegExp][])("%j fails naming %s", (raw, key, allowed) => {
        const e = expectConfigError(raw, key, allowed);
        expect(e.value).toBe(raw[key]);
    });

    test("database: galera builds dbNodeCount nodes (3 by default, or 5) and no replicas", () => {
        expect(parse0({})).toMatchObject({ database: "replication", replicaCount: 1, dbNodeCount: 0 });
        expect(parse0({ database: "galera" })).toMatchObject({ database: "galera", replicaCount: 0, dbNodeCount: 3 });
        expect(parse0({ database: "galera", dbNodeCount: "5" })).toMatchObject({ dbNodeCount: 5 });
    });

    test.each([
        [{ database: "cluster" }, "database", /replication, galera/],
        [{ database: "galera", dbNodeCount: "4" }, "dbNodeCount", /3, 5/],
        [{ database: "galera", dbNodeCount: "1" }, "dbNodeCount", /3, 5/],
        [{ database: "galera", replicaCount: "2" }, "replicaCount", /dbNodeCount.*remove replicaCount/],
        [{ dbNodeCount: "3" }, "dbNodeCount", /set database: galera, or remove dbNodeCount/],
        [{ thirdZoneCidr: "10.1.0.0/17" }, "thirdZoneCidr", /set database: galera, or remove thirdZoneCidr/],
    ] as [RawConfig, string, RegExp][])("%j fails naming %s and the fix", (raw, key, allowed) => {
        expectConfigError(raw, key, allowed);
    });

    test("webMode: active-active by default (every server serves); active-passive serves with webActiveCount, 1 by default", () => {
        expect(parse0({})).toMatchObject({ webMode: "active-active", webCount: 2, webActiveCount: 2 });
        expect(parse0({ webMode: "active-passive" })).toMatchObject({ webMode: "active-passive", webCount: 2, webActiveCount: 1 });
        expect(parse0({ webMode: "active-passive", webCount: "5", webActiveCount: "4" })).toMatchObject({ webActiveCount: 4 });
    });

    test.each([
        [{ webMode: "hot-spare" }, "webMode", /must be one of active-active, active-passive$/],
        [
            { webMode: "active-passive", webCount: "1" },
            "webMode",
            /needs a spare web server, and webCount is 1: set webCount to 2 or more, or webMode to active-active$/,
        ],
        [
            { webMode: "active-passive", webActiveCount: "2" },
            "webActiveCount",
            /leaves no spare of webCount 2: set webActiveCount to at most 1, or webCount to at least 3$/,
        ],
        [
            { webMode: "active-passive", webCount: "3", webActiveCount: "5" },
            "webActiveCount",
            /leaves no spare of webCount 3: set webActiveCount to at most 2, or webCount to at least 6$/,
        ],
        [{ webMode: "active-passive", webActiveCount: "0" }, "webActiveCount", /whole number from 1 to 19/],
        [{ webMode: "active-passive", webActiveCount: "one" }, "webActiveCount", /whole number from 1 to 19/],
        [{ webActiveCount: "1" }, "webActiveCount", /with webMode: active-passive .*set that mode, or remove webActiveCount$/],
    ] as [RawConfig, string, RegExp][])("%j is refused naming %s, its value and the fix", (raw, key, allowed) => {
        const e = expectConfigError(raw, key, allowed);
        expect(e.value).toBe(raw[key]);
        expect(e.message).toContain(JSON.stringify(raw[key]));
    });

    describe("thirdZoneCidr: a Galera cluster's third zone, a secondary block AWS accepts", () => {
        test.each([
            ["10.0.0.0/16", "10.1.0.0/17"],
            ["10.2.0.0/24", "10.2.1.0/25"],
            ["192.168.10.0/24", "192.168.11.0/25"],
            ["172.16.0.0/16", "172.17.0.0/17"],
        ])("vpcCidr %s: by default the block of half its size right after it, %s", (vpcCidr, expected) => {
            expect(parse0({ database: "galera", vpcCidr }).thirdZoneCidr).toBe(expected);
        });

        test("set, it is used as it is; none keeps the nodes in two zones; replication has none", () => {
            expect(parse0({ database: "galera", thirdZoneCidr: "10.20.0.0/20" }).thirdZoneCidr).toBe("10.20.0.0/20");
            // AWS permits 100.64.0.0/10 (RFC 6598) beside any primary block.
            expect(parse0({ database: "galera", thirdZoneCidr: "100.64.0.0/17" }).thirdZoneCidr).toBe("100.64.0.0/17");
            expect(parse0({ database: "galera", vpcCidr: "172.20.0.0/16", thirdZoneCidr: "100.127.0.0/17" }).thirdZoneCidr).toBe(
                "100.127.0.0/17",
            );
            expect(parse0({ database: "galera", thirdZoneCidr: "none" }).thirdZoneCidr).toBeUndefined();
            expect(parse0({ database: "galera", vpcCidr: "10.255.0.0/16", thirdZoneCidr: "none" }).thirdZoneCidr).toBeUndefined();
            expect(parse0({}).thirdZoneCidr).toBeUndefined();
        });

        // https://docs.aws.amazon.com/vpc/latest/userguide/vpc-cidr-blocks.html: IPv4 CIDR block association restrictions.
        test.each([
            [{ thirdZoneCidr: "10.0.128.0/17" }, /overlaps vpcCidr 10\.0\.0\.0\/16/],
            [{ thirdZoneCidr: "10.0.0.0/8" }, /\/16 to \/25, e\.g\. 10\.1\.0\.0\/17, or none \(the nodes stay in two zones\)$/],
            [{ thirdZoneCidr: "10.1.0.0/26" }, /\/16 to \/25.*, or none/],
            [{ thirdZoneCidr: "off" }, /IPv4 CIDR block with a prefix from \/16 to \/25, e\.g\. 10\.1\.0\.0\/17, or none/],
            [{ thirdZoneCidr: "172.20.0.0/17" }, /is in 172\.16\.0\.0\/12, another RFC 1918 range than vpcCidr.*such as 10\.1\.0\.0\/17/],
            [
                { thirdZoneCidr: "10.0.128.0/17", vpcCidr: "10.1.0.0/16" },
                /is in 10\.0\.0\.0\/16 while vpcCidr 10\.1\.0\.0\/16 is in 10\.0\.0\.0\/15/,
            ],
            [{ thirdZoneCidr: "203.0.113.0/24" }, /is publicly routable.*use a block in 10\.0\.0\.0\/8 or 100\.64\.0\.0\/10/],
            [{ thirdZoneCidr: "198.19.0.0/17", vpcCidr: "100.64.0.0/16" }, /198\.19\.0\.0\/16/],
            [{ thirdZoneCidr: "10.9.0.0/17", vpcCidr: "100.64.0.0/16" }, /RFC 1918 range 10\.0\.0\.0\/8 while vpcCidr/],
            [{ thirdZoneCidr: "172.31.0.0/17", vpcCidr: "172.20.0.0/16" }, /172\.31\.0\.0\/16/],
            // The block right after vpcCidr would be refused too: the suggestion is the one right before it.
            [{ thirdZoneCidr: "172.16.0.0/17", vpcCidr: "10.255.0.0/16" }, /another RFC 1918 range.*such as 10\.254\.128\.0\/17$/],
            // 10.0.0.0/24's next block, 10.0.1.0/25, is in 10.0.0.0/16, and the one before it is not private.
            [
                { vpcCidr: "10.0.0.0/24" },
                /default one, 10\.0\.1\.0\/25 \(right after vpcCidr\), is in 10\.0\.0\.0\/16 while vpcCidr 10\.0\.0\.0\/24 is in 10\.0\.0\.0\/15.*such as 100\.64\.0\.0\/25/,
            ],
            // The default would leave the VPC's RFC 1918 range or hit 172.31.0.0/16: the message says what to set.
            [
                { vpcCidr: "10.255.0.0/16" },
                /default one, 11\.0\.0\.0\/17.*set thirdZoneCidr to a free \/17 such as 10\.254\.128\.0\/17 \(or to none/,
            ],
            [{ vpcCidr: "172.30.0.0/16" }, /default one, 172\.31\.0\.0\/17.*172\.31\.0\.0\/16.*such as 172\.29\.128\.0\/17/],
        ] as [RawConfig, RegExp][])("%j is refused with the reason and a block that would do", (raw, allowed) => {
            expectConfigError({ database: "galera", ...raw }, "thirdZoneCidr", allowed);
        });
    });

    // https://docs.aws.amazon.com/ec2/latest/instancetypes/ec2-nitro-instances.html: the gates and setup-db.sh need Nitro.
    test.each([
        ["webInstanceType", "t2.micro", "t3.micro"],
        ["dbInstanceType", "m4.large", "m5.large"],
        ["lbInstanceType", "c4.xlarge", "c5.xlarge"],
        ["dbInstanceType", "r4.2xlarge", "r5.2xlarge"],
        ["monitoringInstanceType", "i3.large", "i3en.large"],
        ["webInstanceType", "m4.10xlarge", "m5.12xlarge"],
        ["webInstanceType", "t1.micro", "t3.micro"],
    ])("%s %s (Xen) is refused, naming the Nitro type %s", (key, type, nitro) => {
        expectConfigError(
            { [key]: type },
            key,
            new RegExp(
                `runs on the Xen hypervisor, not the Nitro System: .*get-console-output --latest.*set ${key} to a Nitro type such as ${nitro.replace(".", "\\.")} \\(https://docs\\.aws\\.amazon\\.com/ec2/latest/instancetypes/ec2-nitro-instances\\.html\\)$`,
            ),
        );
    });

    test.each(["i3.metal", "p3dn.24xlarge", "t3.nano", "m5.large", "a1.medium"])("%s (Nitro) is accepted", (type) => {
        const architecture = type.startsWith("a1") ? "arm64" : "x86_64";
        expect(parse0({ dbInstanceType: type, architecture, ...(architecture === "arm64" ? armDefaults : {}) }).dbInstanceType).toBe(type);
    });

    test("aws:region is required and checked", () => {
        expectConfigError({}, "aws:region", /must be set/, "");
        expectConfigError({}, "aws:region", /AWS region/, "mars-1");
    });

    test("empty strings mean unset, as Pulumi.yaml's empty defaults", () => {
        expect(parse0({ adminCidr: "", keyName: "", amiId: "" }).adminCidr).toBeUndefined();
    });

    test("accepts the whiteboard and custom values", () => {
        const c = parse0({
            webCount: "20",
            replicaCount: "0",
            lbAlgorithm: "leastconn",
            vpcCidr: "172.16.8.0/24",
            adminCidr: "198.51.100.0/24",
            firewall: "open",
            https: "none",
            monitoring: "false",
        });
        expect(c).toMatchObject({
            webCount: 20,
            replicaCount: 0,
            lbAlgorithm: "leastconn",
            vpcCidr: "172.16.8.0/24",
            firewall: "open",
            monitoring: false,
        });
    });
});

describe("Pulumi.yaml", () => {
    const project = parse(fs.readFileSync(path.join(__dirname, "..", "Pulumi.yaml"), "utf8"));

    test("declares exactly the settings the program reads, each with a type and a description", () => {
        expect(Object.keys(project.config).sort()).toEqual([...configKeys].sort());
        for (const decl of Object.values(project.config) as { type: string; description: string }[]) {
            expect(["string", "integer", "boolean"]).toContain(decl.type);
            expect(decl.description.length).toBeGreaterThan(10);
        }
    });

    test("its defaults are the program's defaults", () => {
        const declared = Object.entries(project.config as Record<string, { default?: unknown }>);
        const fromYaml = parse0(
            Object.fromEntries(declared.filter(([, d]) => d.default !== undefined).map(([k, d]) => [k, String(d.default)])),
        );
        expect(fromYaml).toEqual(parse0({}));
    });

    test("the keys one database mode refuses have no default (Pulumi would set it on every stack)", () => {
        expect((project.config as Record<string, { default?: unknown }>).replicaCount.default).toBeUndefined();
        expect((project.config as Record<string, { default?: unknown }>).dbNodeCount.default).toBeUndefined();
        // Likewise webActiveCount: active-active refuses it.
        expect((project.config as Record<string, { default?: unknown }>).webActiveCount.default).toBeUndefined();
    });
});
