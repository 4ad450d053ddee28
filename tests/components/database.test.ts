import { Database, DatabaseCredentials } from "../../components/database";
import { DatabaseUserDataArgs } from "../../userdata/database";
import { WithoutTarget } from "../../userdata/site";
import { named, ofType, planComponent, Rule, tier } from "./helpers";

const server = (name: string, role: "primary" | "replica", ip: string) => {
    const settings: WithoutTarget<DatabaseUserDataArgs> = {
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

function database(servers: ReturnType<typeof server>[], deletionProtection = true) {
    const credentials = new DatabaseCredentials("db-credentials", {
        stack: "test",
        appPasswordParameter: "/foobar/test/db/app-password",
        replicationPasswordParameter: "/foobar/test/db/replication-password",
    });
    return new Database("db", {
        ...tier,
        servers,
        volumeSizeGiB: 50,
        credentials,
        clientSecurityGroupId: "sg-web",
        publicAddresses: false,
        internalZoneId: "Z123",
        endpoints: { "db-writer.foobar.internal": ["10.0.128.12"], "db-reader.foobar.internal": ["10.0.192.11", "10.0.128.11"] },
        deletionProtection,
    });
}

test("each server gets its own encrypted volume in its AZ, attached, named in its user-data", async () => {
    const plan = await planComponent(() =>
        database([
            server("db-primary", "primary", "10.0.128.12"),
            server("db-replica-1", "replica", "10.0.192.11"),
            server("db-replica-2", "replica", "10.0.128.11"),
        ]),
    );
    for (const [name, az] of [
        ["db-primary", "eu-west-1a"],
        ["db-replica-1", "eu-west-1b"],
    ]) {
        const volume = named(plan, `${name}-data`);
        expect(volume.type).toBe("aws:ebs/volume:Volume");
        expect(volume.inputs).toMatchObject({ availabilityZone: az, encrypted: true, size: 50, type: "gp3" });
        const volumeId = String(volume.outputs.id);
        expect(named(plan, name).inputs.userData).toContain(
            `DATA_DEVICE="/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_${volumeId.replace("-", "")}"`,
        );
        const attachment = ofType(plan, "aws:ec2/volumeAttachment:VolumeAttachment").find((a) => a.inputs.volumeId === volumeId)!;
        expect(attachment.inputs.instanceId).toBe(named(plan, name).outputs.id);
    }
    expect(ofType(plan, "aws:route53/record:Record").map((r) => [r.inputs.name, r.inputs.records])).toEqual([
        ["db-writer.foobar.internal", ["10.0.128.12"]],
        ["db-reader.foobar.internal", ["10.0.192.11", "10.0.128.11"]],
    ]);
    expect(named(plan, "db-sg").inputs.ingress as Rule[]).toEqual([
        expect.objectContaining({ fromPort: 3306, securityGroups: ["sg-web"] }),
        expect.objectContaining({ fromPort: 3306, self: true }),
    ]);
});

test("credentials: two generated passwords as SecureString parameters, readable by the database role", async () => {
    const plan = await planComponent(() => database([server("db-primary", "primary", "10.0.128.12")]));
    const params = ofType(plan, "aws:ssm/parameter:Parameter");
    expect(params.map((p) => [p.inputs.name, p.inputs.type])).toEqual([
        ["/foobar/test/db/app-password", "SecureString"],
        ["/foobar/test/db/replication-password", "SecureString"],
    ]);
    expect(
        ofType(plan, "random:index/randomPassword:RandomPassword").every((p) => p.inputs.special === false && p.inputs.length === 32),
    ).toBe(true);
    const allowed = JSON.parse(named(plan, "db-read-parameters").inputs.policy as string).Statement[0].Resource;
    expect(allowed).toEqual(params.map((p) => p.outputs.arn));
});

test("without deletion protection nothing is protected; user-data and AMI drift are still ignored", async () => {
    const plan = await planComponent(() => database([server("db-primary", "primary", "10.0.128.12")], false));
    expect(named(plan, "db-primary").options).toEqual({ protect: false, ignoreChanges: ["ami", "userData", "userDataBase64"] });
    expect(named(plan, "db-primary").inputs.disableApiTermination).toBe(false);
    expect(named(plan, "db-primary-data").options.protect).toBe(false);
});

test("the primary must come first", async () => {
    await expect(planComponent(() => database([server("db-replica-1", "replica", "10.0.192.11")]))).rejects.toThrow(/primary first/);
});
