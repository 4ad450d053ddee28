/**
 * The emulated AWS's own configurations, checked by the engines that load them: unbound-checkconf for the VPC
 * resolver, haproxy -c for the TLS front, nft -c for the metadata DNAT (in a scratch namespace); and the values
 * the instances see. Runs without booting anything; nft needs root.
 */
import * as fs from "fs";
import * as path from "path";
import {
    awsEndpointAddress,
    instanceIdOf,
    metadataConfig,
    renderFrontConfig,
    renderMetadataNat,
    renderResolverConfig,
    resolverAddress,
} from "../../../tools/local-cloud/aws";
import { selfSignedPem } from "../../../tools/local-cloud/util";
import { run, tempDir } from "../../helpers";

const zone = {
    name: "foobar.internal",
    records: { "db-reader.foobar.internal": ["10.0.64.11", "10.0.0.12"], "db-writer.foobar.internal": ["10.0.0.11"] },
};

test("the VPC resolver is the VPC's +2 address, as AmazonProvidedDNS", () => {
    expect(resolverAddress("10.0.0.0/16")).toBe("10.0.0.2");
    expect(resolverAddress("172.31.0.0/16")).toBe("172.31.0.2");
    expect(resolverAddress("10.1.255.0/24")).toBe("10.1.255.2");
});

test("unbound-checkconf accepts the resolver's configuration, and rejects a broken one (the check can fail)", () => {
    const dir = tempDir("resolver");
    const text = renderResolverConfig("10.0.0.2", zone);
    fs.writeFileSync(path.join(dir, "ok.conf"), text);
    expect(run("unbound-checkconf", [path.join(dir, "ok.conf")]).status).toBe(0);
    fs.writeFileSync(
        path.join(dir, "bad.conf"),
        text.replace('local-zone: "amazonaws.com." redirect', 'local-zone: "amazonaws.com." sometimes'),
    );
    expect(run("unbound-checkconf", [path.join(dir, "bad.conf")]).status).not.toBe(0);
});

test("the resolver serves the private zone's records (sorted, byte-stable), every AWS endpoint name, and nothing else", () => {
    const text = renderResolverConfig("10.0.0.2", zone);
    expect(text).toBe(renderResolverConfig("10.0.0.2", { ...zone, records: Object.fromEntries(Object.entries(zone.records).reverse()) }));
    expect(text.split("\n").filter((l) => l.includes('local-data: "db-'))).toEqual([
        '    local-data: "db-reader.foobar.internal. 30 IN A 10.0.0.12"',
        '    local-data: "db-reader.foobar.internal. 30 IN A 10.0.64.11"',
        '    local-data: "db-writer.foobar.internal. 30 IN A 10.0.0.11"',
    ]);
    expect(text).toContain(`local-data: "amazonaws.com. 60 IN A ${awsEndpointAddress}"`);
    expect(text).toMatch(/local-zone: "\." static\n$/);
});

test("haproxy -c accepts the TLS front in front of moto", () => {
    const dir = tempDir("front");
    const pem = path.join(dir, "front.pem");
    fs.writeFileSync(pem, selfSignedPem("ssm.eu-west-1.amazonaws.com", 1));
    fs.writeFileSync(path.join(dir, "front.cfg"), renderFrontConfig(pem));
    const r = run("haproxy", ["-c", "-f", path.join(dir, "front.cfg")]);
    expect(r.output).toContain("Configuration file is valid");
    expect(r.status).toBe(0);
});

test("nft -c accepts the metadata DNAT table: each instance's requests to its own emulator", () => {
    const text = renderMetadataNat("vpc0", {
        "web-1": { port: 10002, address: "10.0.128.10" },
        "db-1": { port: 10001, address: "10.0.128.56" },
    });
    expect(text.split("\n").filter((l) => l.includes("dnat"))).toEqual([
        '\t\tiifname "vpc0" ip saddr 10.0.128.56 ip daddr 169.254.169.254 tcp dport 80 dnat ip to 169.254.169.254:10001 comment "db-1"',
        '\t\tiifname "vpc0" ip saddr 10.0.128.10 ip daddr 169.254.169.254 tcp dport 80 dnat ip to 169.254.169.254:10002 comment "web-1"',
    ]);
    if (process.getuid?.() !== 0) return;
    const netns = `fbawstest${process.pid % 10000}`;
    run("ip", ["netns", "add", netns]);
    try {
        const file = path.join(tempDir("nat"), "nat.nft");
        fs.writeFileSync(file, text);
        expect(run("ip", ["netns", "exec", netns, "nft", "-c", "-f", file])).toMatchObject({ status: 0 });
        fs.writeFileSync(file, text.replace("dnat ip to", "dnat ip too"));
        expect(run("ip", ["netns", "exec", netns, "nft", "-c", "-f", file]).status).not.toBe(0);
    } finally {
        run("ip", ["netns", "del", netns]);
    }
});

test("each instance's identity: a stable EC2-shaped id per cloud and name, and its role's credentials under the role's name", () => {
    expect(instanceIdOf("foobar", "web-1")).toMatch(/^i-[0-9a-f]{17}$/);
    expect(instanceIdOf("foobar", "web-1")).toBe(instanceIdOf("foobar", "web-1"));
    expect(instanceIdOf("foobar", "web-1")).not.toBe(instanceIdOf("fbdevtest", "web-1"));
    const config = metadataConfig({
        instanceId: "i-0123",
        region: "eu-west-1",
        availabilityZone: "eu-west-1b",
        roleName: "foobar-dev-web",
    }) as {
        metadata: { paths: Record<string, string>; values: Record<string, unknown> };
    };
    expect(config.metadata.paths["iam-security-credentials"]).toBe("/latest/meta-data/iam/security-credentials/foobar-dev-web");
    expect(config.metadata.values).toMatchObject({
        "instance-id": "i-0123",
        "placement-region": "eu-west-1",
        "placement-availability-zone": "eu-west-1b",
    });
});
