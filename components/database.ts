/**
 * The database tier, "RDS-style" on EC2: a MariaDB primary and its replicas,
 * data on encrypted EBS volumes, writer and reader endpoints in the private
 * DNS zone, and the generated credentials in SSM.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { DatabaseUserDataArgs, mysqlPort, renderDatabaseUserData } from "../userdata/database";
import { WithoutTarget } from "../userdata/site";
import { createTierInstance, resourceTags, TierArgs } from "./instance";
import { createInstanceProfile, createSecretParameter } from "./instanceRole";
import { anywhere, createTierSecurityGroup, tcpIngress } from "./securityGroup";

export interface SecretParameter {
    name: pulumi.Output<string>;
    arn: pulumi.Output<string>;
    resource: aws.ssm.Parameter;
}

export interface DatabaseCredentialsArgs {
    stack: string;
    appPasswordParameter: string;
    replicationPasswordParameter: string;
}

/**
 * Generated passwords as SecureString parameters. Separate from the servers so
 * the web tier can be granted its parameter before the database tier exists.
 */
export class DatabaseCredentials extends pulumi.ComponentResource {
    public readonly appPassword: SecretParameter;
    public readonly replicationPassword: SecretParameter;

    constructor(name: string, args: DatabaseCredentialsArgs, opts?: pulumi.ComponentResourceOptions) {
        super("foobar:database:DatabaseCredentials", name, {}, opts);
        const tags = resourceTags("db", name, args.stack);
        const parameter = (kind: string, parameterName: string): SecretParameter => {
            // Alphanumeric only: the value is embedded in SQL by the setup script.
            const password = new random.RandomPassword(`${name}-${kind}`, { length: 32, special: false }, { parent: this });
            const p = createSecretParameter(`${name}-${kind}`, parameterName, password.result, tags, { parent: this });
            return { name: p.name, arn: p.arn, resource: p };
        };
        this.appPassword = parameter("app-password", args.appPasswordParameter);
        this.replicationPassword = parameter("replication-password", args.replicationPasswordParameter);
        this.registerOutputs({ appPassword: this.appPassword, replicationPassword: this.replicationPassword });
    }
}

export interface DatabaseServerPlacement {
    name: string;
    /** Role, address, grants and parameter names of this server. */
    settings: WithoutTarget<DatabaseUserDataArgs>;
    subnetId: pulumi.Input<string>;
    availabilityZone: pulumi.Input<string>;
}

export interface DatabaseArgs extends TierArgs {
    /** The primary first, then the replicas. */
    servers: DatabaseServerPlacement[];
    volumeSizeGiB: number;
    credentials: DatabaseCredentials;
    /** The web tier's security group: the only client; from anywhere when unset (the whiteboard's "no firewall"). */
    clientSecurityGroupId?: pulumi.Input<string>;
    /** Whiteboard mode: servers get public addresses. */
    publicAddresses: boolean;
    internalZoneId: pulumi.Input<string>;
    /** Private DNS names and the addresses behind them (writer, reader). */
    endpoints: Record<string, string[]>;
    deletionProtection: boolean;
    alarmTopicArn?: pulumi.Input<string>;
}

export class Database extends pulumi.ComponentResource {
    public readonly endpoints: string[];
    public readonly primaryInstanceId: pulumi.Output<string>;
    public readonly replicaInstanceIds: pulumi.Output<string>[];
    public readonly securityGroupId: pulumi.Output<string>;

    constructor(name: string, args: DatabaseArgs, opts?: pulumi.ComponentResourceOptions) {
        super("foobar:database:Database", name, {}, opts);
        const parent = { parent: this };
        const tags = resourceTags("db", name, args.stack);
        if (args.servers[0]?.settings.role !== "primary") throw new Error("the database tier needs its primary first");

        const clients =
            args.clientSecurityGroupId !== undefined
                ? tcpIngress(mysqlPort, "MySQL from the web tier", { securityGroups: [args.clientSecurityGroupId] })
                : tcpIngress(mysqlPort, "MySQL from anywhere", anywhere);
        const peers = tcpIngress(mysqlPort, "MySQL replication between database servers", { self: true });
        const securityGroup = createTierSecurityGroup(`${name}-sg`, "db", [clients, peers], args, parent);
        const { appPassword, replicationPassword } = args.credentials;
        const profile = createInstanceProfile(name, [appPassword.arn, replicationPassword.arn], tags, parent);
        const protect = args.deletionProtection;

        const instances = args.servers.map((server) => {
            const volume = new aws.ebs.Volume(
                `${server.name}-data`,
                {
                    availabilityZone: server.availabilityZone,
                    size: args.volumeSizeGiB,
                    type: "gp3",
                    encrypted: true,
                    tags: resourceTags("db", `${server.name}-data`, args.stack),
                },
                { parent: this, protect },
            );
            const userData = volume.id.apply((volumeId) =>
                renderDatabaseUserData({
                    ...server.settings,
                    target: { kind: "aws", region: args.region, dataDevice: ebsDevicePath(volumeId) },
                }),
            );
            const { instance } = createTierInstance(
                server.name,
                "db",
                args,
                {
                    subnetId: server.subnetId,
                    privateIp: server.settings.privateIp,
                    securityGroupIds: [securityGroup.id],
                    userData,
                    instanceProfile: profile.name,
                    associatePublicIp: args.publicAddresses,
                    disableApiTermination: protect,
                    replaceOnUserDataChange: false,
                },
                // A routine preview must never propose to replace a database.
                {
                    parent: this,
                    protect,
                    ignoreChanges: ["ami", "userData", "userDataBase64"],
                    dependsOn: [appPassword.resource, replicationPassword.resource],
                },
            );
            new aws.ec2.VolumeAttachment(
                `${server.name}-data`,
                { instanceId: instance.id, volumeId: volume.id, deviceName: "/dev/sdf" },
                parent,
            );
            return instance;
        });

        for (const [endpoint, addresses] of Object.entries(args.endpoints)) {
            new aws.route53.Record(
                `${name}-${endpoint.split(".")[0]}`,
                { zoneId: args.internalZoneId, name: endpoint, type: "A", ttl: 30, records: addresses },
                parent,
            );
        }

        this.endpoints = Object.keys(args.endpoints);
        this.primaryInstanceId = instances[0].id;
        this.replicaInstanceIds = instances.slice(1).map((i) => i.id);
        this.securityGroupId = securityGroup.id;
        this.registerOutputs({
            endpoints: this.endpoints,
            primaryInstanceId: this.primaryInstanceId,
            replicaInstanceIds: this.replicaInstanceIds,
            securityGroupId: this.securityGroupId,
        });
    }
}

export function ebsDevicePath(volumeId: string): string {
    return `/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_${volumeId.replace("-", "")}`;
}
