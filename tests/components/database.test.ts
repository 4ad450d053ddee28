import * as pulumi from "@pulumi/pulumi";
import { Database, DatabaseArgs, DatabaseCredentials } from "../../components/database";
import { DatabaseServerSettings } from "../../userdata/database";
import { byName, ingress, ofType } from "../helpers";
import { planComponent, tier } from "./helpers";

const server = (name: string, role: "primary" | "replica" | "galera", ip: string) => {
    const settings: DatabaseServerSettings = {
        role,
        privateIp: ip,
        writerHost: "db-writer.foobar.internal",
        dbName: "foobar",
        appUser: "app",
        appHosts: ["10.0.128.10"],
        replicationUser: "repl",
        replicaHosts: ["10.0.192.11", "10.0.128.11"],
        appPasswordParameter: "/foobar/test/db/app-password",
        replicationPasswordParameter: "/foobar/test/db/replication-password",
    };
    return { name, settings, subnetId: `subnet-${name}`, availabilityZone: role === "primary" ? "eu-west-1a" : "eu-west-1b" };
};
const galeraNode = (name: string, ip: string, bootstrap: boolean) => {
    const s = server(name, "galera", ip);
    const nodeAddresses = ["10.0.128.11", "10.0.192.11", "10.0.128.48"];
    return {
        ...s,
        settings: { ...s.settings, replicaHosts: [], galera: { clusterName: "foobar-test", nodeName: name, nodeAddresses, bootstrap } },
    };
};
const primary = server("db-primary", "primary", "10.0.128.12");

function database(overrides: Partial<DatabaseArgs> = {}) {
    const credentials = new DatabaseCredentials("db-credentials", {
        stack: "test",
        appPasswordParameter: "/foobar/test/db/app-password",
        replicationPasswordParameter: "/foobar/test/db/replication-password",
    });
    return new Database("db", {
        ...tier,
        primary,
        replicas: [],
        volumeSizeGiB: 50,
        credentials,
        clientIngress: { from: "securityGroup", securityGroupId: "sg-web" },
        publicAddresses: false,
        internalZoneId: "Z123",
        endpoints: { "db-writer.foobar.internal": ["10.0.128.12"], "db-reader.foobar.internal": ["10.0.192.11", "10.0.128.11"] },
        deletionProtection: true,
        ...overrides,
    });
}

test("each server gets its own encrypted volume in its AZ, attached, named in its user-data", async () => {
    const replicas = [server("db-replica-1", "replica", "10.0.192.11"), server("db-replica-2", "replica", "10.0.128.11")];
    const plan = await planComponent(() => database({ replicas }));
    for (const [name, az] of [
        ["db-primary", "eu-west-1a"],
        ["db-replica-1", "eu-west-1b"],
    ]) {
        const volume = byName(plan, `${name}-data`);
        expect(volume.type).toBe("aws:ebs/volume:Volume");
        expect(volume.inputs).toMatchObject({ availabilityZone: az, encrypted: true, size: 50, type: "gp3" });
        const volumeId = String(volume.outputs.id);
        expect(byName(plan, name).inputs.userData).toContain(
            `DATA_DEVICE="/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_${volumeId.replace("-", "")}"`,
        );
        const attachment = byName(plan, `${name}-data-attachment`);
        expect(attachment.inputs).toMatchObject({ volumeId, instanceId: byName(plan, name).outputs.id, deviceName: "/dev/sdf" });
    }
    expect(ofType(plan, "aws:ec2/instance:Instance").map((i) => i.name)).toEqual(["db-primary", "db-replica-1", "db-replica-2"]);
    expect(ofType(plan, "aws:route53/record:Record").map((r) => [r.inputs.name, r.inputs.records])).toEqual([
        ["db-writer.foobar.internal", ["10.0.128.12"]],
        ["db-reader.foobar.internal", ["10.0.192.11", "10.0.128.11"]],
    ]);
    expect(ingress(plan, "db-sg")).toEqual([
        expect.objectContaining({ fromPort: 3306, securityGroups: ["sg-web"], description: "MySQL from the web tier" }),
        expect.objectContaining({ fromPort: 3306, self: true }),
    ]);
});

test("a Galera cluster: exactly Galera's ports between the nodes, MySQL and the health check from the web tier, no DNS records", async () => {
    const plan = await planComponent(() =>
        database({
            primary: galeraNode("db-1", "10.0.128.11", true),
            replicas: [galeraNode("db-2", "10.0.192.11", false), galeraNode("db-3", "10.0.128.48", false)],
            endpoints: {},
        }),
    );
    expect(ofType(plan, "aws:ec2/instance:Instance").map((i) => i.name)).toEqual(["db-1", "db-2", "db-3"]);
    expect(ofType(plan, "aws:route53/record:Record")).toEqual([]);
    const rules = ingress(plan, "db-sg").map((r) => {
        const rule = r as { protocol: string; fromPort: number; toPort: number; self?: boolean; securityGroups?: string[] };
        return `${rule.protocol} ${rule.fromPort}-${rule.toPort} from ${rule.self ? "the nodes" : rule.securityGroups?.join(",")}`;
    });
    expect(rules).toEqual([
        "tcp 3306-3306 from sg-web",
        "tcp 3306-3306 from the nodes",
        "tcp 4567-4567 from the nodes",
        "udp 4567-4567 from the nodes",
        "tcp 4568-4568 from the nodes",
        "tcp 4444-4444 from the nodes",
        "tcp 9200-9200 from sg-web",
        "tcp 9200-9200 from the nodes",
    ]);
});

test("a Galera node placed with a replica's role is an argument error", () => {
    expect(() =>
        database({ primary: galeraNode("db-1", "10.0.128.11", true), replicas: [server("db-2", "replica", "10.0.192.11")] }),
    ).toThrow(/db-2 is placed as a galera, but its settings say replica/);
});

test("client ingress from anywhere (whiteboard mode) opens MySQL to the world", async () => {
    const plan = await planComponent(() => database({ clientIngress: { from: "anywhere" } }));
    expect(ingress(plan, "db-sg")).toEqual([
        expect.objectContaining({ fromPort: 3306, cidrBlocks: ["0.0.0.0/0"], description: "MySQL from anywhere" }),
        expect.objectContaining({ fromPort: 3306, self: true }),
    ]);
});

test("renamed resources carry their old names as aliases, so existing stacks keep them", async () => {
    const plan = await planComponent(() => database());
    const attachment = byName(plan, "db-primary-data-attachment");
    expect(attachment.options.aliases).toEqual([attachment.urn.replace(/::db-primary-data-attachment$/, "::db-primary-data")]);
    expect(attachment.options.aliases[0]).toMatch(/\$aws:ec2\/volumeAttachment:VolumeAttachment::db-primary-data$/);
    for (const kind of ["app-password", "replication-password"]) {
        const password = byName(plan, `db-credentials-${kind}-value`);
        expect(password.type).toBe("random:index/randomPassword:RandomPassword");
        expect(password.options.aliases).toEqual([password.urn.replace(/-value$/, "")]);
        expect(byName(plan, `db-credentials-${kind}`).options.aliases).toEqual([]);
    }
    expect(byName(plan, "db-primary-data").options.aliases).toEqual([]);
});

test("credentials: two generated passwords as SecureString parameters, readable by the database role", async () => {
    const plan = await planComponent(() => database());
    const params = ofType(plan, "aws:ssm/parameter:Parameter");
    expect(params.map((p) => [p.inputs.name, p.inputs.type])).toEqual([
        ["/foobar/test/db/app-password", "SecureString"],
        ["/foobar/test/db/replication-password", "SecureString"],
    ]);
    expect(
        ofType(plan, "random:index/randomPassword:RandomPassword").every((p) => p.inputs.special === false && p.inputs.length === 32),
    ).toBe(true);
    const allowed = JSON.parse(byName(plan, "db-read-parameters").inputs.policy as string).Statement[0].Resource;
    expect(allowed).toEqual(params.map((p) => p.outputs.arn));
});

test("without deletion protection nothing is protected; user-data, AMI and key pair drift are still ignored, and a replacement deletes first", async () => {
    const plan = await planComponent(() => database({ deletionProtection: false }));
    expect(byName(plan, "db-primary").options).toMatchObject({
        protect: false,
        ignoreChanges: ["ami", "userData", "userDataBase64", "keyName"],
        deleteBeforeReplace: true,
    });
    expect(byName(plan, "db-primary").inputs.disableApiTermination).toBe(false);
    expect(byName(plan, "db-primary-data").options.protect).toBe(false);
});

test.each([
    ["a replica placed as the primary", { primary: server("db-replica-1", "replica", "10.0.192.11") }, "primary.settings.role"],
    [
        "a primary placed as a replica",
        { replicas: [server("db-replica-1", "replica", "10.0.192.11"), primary] },
        "replicas[1].settings.role",
    ],
])("%s is an input property error", async (_, overrides, propertyPath) => {
    const error = await planComponent(() => database(overrides)).catch((e: unknown) => e);
    expect(pulumi.InputPropertyError.isInstance(error)).toBe(true);
    expect(error).toMatchObject({ propertyPath });
});

test("leaving out who may reach MySQL is a type error, not an open port", () => {
    const credentials = {} as DatabaseCredentials;
    // @ts-expect-error -- clientIngress is required; `tsc` (npm run build) fails here if it ever becomes optional.
    const unchecked: DatabaseArgs = {
        ...tier,
        primary,
        replicas: [],
        volumeSizeGiB: 8,
        credentials,
        publicAddresses: false,
        internalZoneId: "Z",
        endpoints: {},
        deletionProtection: true,
    };
    expect(unchecked).not.toHaveProperty("clientIngress");
});
