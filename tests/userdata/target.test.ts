/** The `aws` and `local` renderings differ only where the target says they do. */
import { parse } from "yaml";
import { CloudConfig, decodeUserData, encodeUserData } from "../../userdata/cloudConfig";
import { planTopology } from "../../topology";
import { renderInstanceUserData, siteSettings } from "../../userdata/site";
import { targetFilePaths } from "../../userdata/target";
import { awsTarget, devConfig, localTarget, renderAll } from "../helpers";
import { mockRegionZones } from "../../tools/preview/mocks";

const configs = [devConfig(), devConfig({ firewall: "strict", https: "self-signed", webCount: "4", replicaCount: "2" })];

function withoutTargetFiles(text: string): CloudConfig {
    const doc = parse(text) as CloudConfig;
    return { ...doc, write_files: doc.write_files.filter((f) => !(targetFilePaths as readonly string[]).includes(f.path)) };
}

test.each(configs.flatMap((c) => renderAll(c)).map((r) => [r.instance.name, r] as const))(
    "%s: every byte outside the target files is the same on aws and local",
    (_, r) => {
        expect(r.local).not.toEqual(r.aws);
        expect(withoutTargetFiles(r.local)).toEqual(withoutTargetFiles(r.aws));
        // And the rest is in the same order, so the texts match line for line once the target files are gone.
        const strip = (t: string) => JSON.stringify(withoutTargetFiles(t));
        expect(strip(r.local)).toBe(strip(r.aws));
    },
);

test("a difference outside the target files would be caught", () => {
    const [r] = renderAll(configs[0]);
    expect(withoutTargetFiles(r.local.replace("haproxy", "nginx"))).not.toEqual(withoutTargetFiles(r.aws));
});

test("the local target maps every private DNS name the instances use (the VPC resolver serves them too, for anything else)", () => {
    for (const r of renderAll(configs[1])) {
        const hosts = (parse(r.local) as CloudConfig).write_files.find((f) => f.path === "/etc/hosts")?.content ?? "";
        for (const name of r.aws.match(/db-(writer|reader)\.foobar\.internal/g) ?? []) expect(hosts).toContain(` ${name}\n`);
    }
});

test("rendering is byte-stable", () => {
    expect(renderAll(configs[1])).toEqual(renderAll(configs[1]));
    const text = renderAll(configs[1])[1].aws;
    expect(encodeUserData(text)).toEqual(encodeUserData(text));
});

test("user-data over 16 KiB goes gzipped through userDataBase64 and decodes back", () => {
    const big = "#cloud-config\n" + "# padding\n".repeat(2000);
    const encoded = encodeUserData(big);
    expect(encoded.userData).toBeUndefined();
    expect(Buffer.from(encoded.userDataBase64!, "base64").length).toBeLessThanOrEqual(16 * 1024);
    expect(decodeUserData(encoded)).toBe(big);
    const small = renderAll(configs[0])[0].aws;
    expect(encodeUserData(small)).toEqual({ userData: small });
});

test("a database's data device: the EBS volume on aws, the loop device the local cloud hands it locally; the same setup script prepares both", () => {
    const config = configs[1];
    const plan = planTopology(config, mockRegionZones);
    const settings = siteSettings(config, plan);
    const envOf = (text: string) =>
        (parse(text) as CloudConfig).write_files.find((f) => f.path === "/etc/foobar/target.env")?.content ?? "";
    for (const db of [plan.dbPrimary, ...plan.dbReplicas]) {
        const aws = renderInstanceUserData(settings, db, awsTarget(db));
        const local = renderInstanceUserData(settings, db, { ...localTarget(plan), dataDevice: "/dev/loop7" });
        expect(envOf(aws)).toContain('DATA_DEVICE="/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol0123456789abcdef0"\n');
        expect(envOf(local)).toContain('DATA_DEVICE="/dev/loop7"\n');
        expect(withoutTargetFiles(local)).toEqual(withoutTargetFiles(aws));
    }
});
