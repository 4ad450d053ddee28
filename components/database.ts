/**
 * The database tier, "RDS-style" on EC2: a MariaDB primary and its replicas,
 * data on encrypted EBS volumes, writer and reader endpoints in the private
 * DNS zone, and the generated credentials in SSM.
 */
import * as aws from "@pulumi/aws";
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { DatabaseRole, DatabaseServerSettings, galeraPorts, mysqlPort, renderDatabaseUserData } from "../userdata/database";
import { createTierInstance, TierArgs } from "./instance";
import { createInstanceProfile, createSecretParameter } from "./instanceRole";
import { createTierSecurityGroup, IngressRule, IngressSource, serviceIngress, tcpIngress } from "./securityGroup";
import { resourceTags } from "./tags";

export interface SecretParameter {
    name: pulumi.Output<string>;
    arn: pulumi.Output<string>;
    resource: aws.ssm.Parameter;
}

export interface DatabaseCredentialsArgs {
    stack: string;
    appPasswordParameter: string;
    replicationPasswordParameter: string;
    /** With service-level monitoring: the MariaDB exporter's own password. */
    exporterPasswordParameter?: string;
}

/**
 * Generated passwords as SecureString parameters. Separate from the servers so
 * the web tier can be granted its parameter before the database tier exists.
 */
export class DatabaseCredentials extends pulumi.ComponentResource {
    public readonly appPassword: SecretParameter;
    public readonly replicationPassword: SecretParameter;
    public readonly exporterPassword?: SecretParameter;

    constructor(name: string, args: DatabaseCredentialsArgs, opts?: pulumi.ComponentResourceOptions) {
        super("foobar:database:DatabaseCredentials", name, {}, opts);
        const tags = resourceTags("db", name, args.stack);
        const parameter = (kind: string, parameterName: string, renamedFrom?: string): SecretParameter => {
            // Alphanumeric only: the value is embedded in SQL by the setup script.
            // Named apart from its parameter (names are unique across types); an alias keeps a value generated under the old name.
            const password = new random.RandomPassword(
                `${name}-${kind}-value`,
                { length: 32, special: false },
                { parent: this, aliases: renamedFrom ? [{ name: renamedFrom }] : [] },
            );
            const p = createSecretParameter(`${name}-${kind}`, parameterName, password.result, tags, { parent: this });
            return { name: p.name, arn: p.arn, resource: p };
        };
        this.appPassword = parameter("app-password", args.appPasswordParameter, `${name}-app-password`);
        this.replicationPassword = parameter("replication-password", args.replicationPasswordParameter, `${name}-replication-password`);
        if (args.exporterPasswordParameter) this.exporterPassword = parameter("exporter-password", args.exporterPasswordParameter);
        this.registerOutputs({
            appPassword: this.appPassword,
            replicationPassword: this.replicationPassword,
            exporterPassword: this.exporterPassword,
        });
    }
}

export interface DatabaseServerPlacement {
    /** As the topology plan names it. */
    name: string;
    /** Role, address, grants and parameter names of this server. */
    settings: DatabaseServerSettings;
    subnetId: pulumi.Input<string>;
    /** The data volume's zone: the subnet's. */
    availabilityZone: pulumi.Input<string>;
}

export interface DatabaseArgs extends TierArgs {
    /** The writer: its settings' role is `primary`; or a Galera cluster's first node (role `galera`), which bootstraps it. */
    primary: DatabaseServerPlacement;
    /** Read replicas of the primary (role `replica`); or the cluster's other nodes (role `galera`). */
    replicas: DatabaseServerPlacement[];
    volumeSizeGiB: number;
    credentials: DatabaseCredentials;
    /** Who may reach MySQL: the web tier's group, or anyone (the whiteboard's "no firewall"). */
    clientIngress: IngressSource;
    /** Whiteboard mode: servers get public addresses. */
    publicAddresses: boolean;
    internalZoneId: pulumi.Input<string>;
    /** Private DNS names and the addresses behind them (writer, reader). */
    endpoints: Record<string, string[]>;
    deletionProtection: boolean;
}

/** A placement whose settings' role contradicts its place in the arguments is an argument error. */
function checkRole(server: DatabaseServerPlacement, role: DatabaseRole, propertyPath: string): void {
    if (server.settings.role !== role) {
        throw new pulumi.InputPropertyError({
            propertyPath: `${propertyPath}.settings.role`,
            reason: `${server.name} is placed as a ${role}, but its settings say ${server.settings.role}`,
        });
    }
}

export class Database extends pulumi.ComponentResource {
    public readonly endpoints: string[];
    public readonly primaryInstanceId: pulumi.Output<string>;
    public readonly replicaInstanceIds: pulumi.Output<string>[];
    public readonly securityGroupId: pulumi.Output<string>;
    /** One gate per server, in order: each completes when its server runs and passes EC2's status checks. */
    public readonly readiness: pulumi.Resource[];

    constructor(name: string, args: DatabaseArgs, opts?: pulumi.ComponentResourceOptions) {
        super("foobar:database:Database", name, {}, opts);
        // A Galera cluster's nodes all have the role galera; a replication tier's primary and replicas theirs.
        const galera = args.primary.settings.role === "galera";
        checkRole(args.primary, galera ? "galera" : "primary", "primary");
        args.replicas.forEach((replica, i) => checkRole(replica, galera ? "galera" : "replica", `replicas[${i}]`));
        const parent = { parent: this };
        const tags = resourceTags("db", name, args.stack);

        const clients = serviceIngress(mysqlPort, "MySQL", args.clientIngress, "the web tier");
        const peers = tcpIngress(mysqlPort, "MySQL replication between database servers", { self: true });
        const securityGroup = createTierSecurityGroup(
            `${name}-sg`,
            "db",
            [clients, peers, ...(galera ? galeraIngress(args.clientIngress) : [])],
            args,
            parent,
        );
        const { appPassword, replicationPassword, exporterPassword } = args.credentials;
        const secrets = [appPassword, replicationPassword, ...(exporterPassword ? [exporterPassword] : [])];
        const profile = createInstanceProfile(
            name,
            secrets.map((p) => p.arn),
            tags,
            parent,
        );
        const protect = args.deletionProtection;

        // One server at a time: a changed dbInstanceType is applied in place by stop, modify, start (the provider's
        // ModifyInstanceAttribute), and Pulumi would run the servers in parallel. Each server waits for the previous
        // one's gate, which a new instance type replaces: it waits until EC2 reports that server running with both
        // status checks passed (README: Changes on a running stack).
        this.readiness = [];
        const createServer = (server: DatabaseServerPlacement) => {
            const previous = this.readiness.slice(-1);
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
                // A routine preview must never propose to replace a database: a new AMI, user-data or key pair
                // (keyName is ForceNew) applies to database servers created afterwards only.
                {
                    parent: this,
                    protect,
                    ignoreChanges: ["ami", "userData", "userDataBase64", "keyName"],
                    dependsOn: [...secrets.map((p) => p.resource), ...previous],
                },
            );
            this.readiness.push(instanceStatusGate(`${server.name}-running`, instance, args.region, { parent: this }));
            // Named apart from its volume (names are unique across types); the alias keeps the existing attachment.
            // Deleted first when the server goes (or moves): detaching a volume a running server has mounted can stay
            // "busy" indefinitely (https://docs.aws.amazon.com/ebs/latest/userguide/ebs-detaching-volume.html), so the
            // provider stops the server before it detaches.
            new aws.ec2.VolumeAttachment(
                `${server.name}-data-attachment`,
                { instanceId: instance.id, volumeId: volume.id, deviceName: "/dev/sdf", stopInstanceBeforeDetaching: true },
                { parent: this, aliases: [{ name: `${server.name}-data` }] },
            );
            return instance;
        };
        const primary = createServer(args.primary);
        const replicas = args.replicas.map(createServer);

        for (const [endpoint, addresses] of Object.entries(args.endpoints)) {
            new aws.route53.Record(
                `${name}-${endpoint.split(".")[0]}`,
                { zoneId: args.internalZoneId, name: endpoint, type: "A", ttl: 30, records: addresses },
                parent,
            );
        }

        this.endpoints = Object.keys(args.endpoints);
        this.primaryInstanceId = primary.id;
        this.replicaInstanceIds = replicas.map((i) => i.id);
        this.securityGroupId = securityGroup.id;
        this.registerOutputs({
            endpoints: this.endpoints,
            primaryInstanceId: this.primaryInstanceId,
            replicaInstanceIds: this.replicaInstanceIds,
            securityGroupId: this.securityGroupId,
        });
    }
}

/** What a Galera cluster needs besides MySQL: its own ports and the health check between the nodes, the health check from the web tier's sidecars. */
function galeraIngress(clients: IngressSource): IngressRule[] {
    const { groupCommunication, incrementalTransfer, snapshotTransfer, healthCheck } = galeraPorts;
    return [
        tcpIngress(groupCommunication, "Galera group communication between the nodes", { self: true }),
        { ...tcpIngress(groupCommunication, "Galera group communication between the nodes (UDP)", { self: true }), protocol: "udp" },
        tcpIngress(incrementalTransfer, "Galera incremental state transfer between the nodes", { self: true }),
        tcpIngress(snapshotTransfer, "Galera snapshot transfer (mariabackup) between the nodes", { self: true }),
        serviceIngress(healthCheck, "Galera health check", clients, "the web tier's HAProxy sidecars"),
        // A starting node asks its peers whether one is synced before it joins, or bootstraps (foobar-galera-start).
        tcpIngress(healthCheck, "Galera health check between the nodes", { self: true }),
    ];
}

/**
 * Waits until EC2 reports the instance running with its system and instance status checks passed
 * (`aws ec2 wait instance-status-ok`: every 15 s, at most 40 times; needs ec2:DescribeInstanceStatus). Its triggers
 * are the instance's id and type, so an instance type change, applied by stop, modify, start, makes it wait again.
 */
export function instanceStatusGate(
    name: string,
    instance: aws.ec2.Instance,
    region: string,
    opts: pulumi.CustomResourceOptions,
): command.local.Command {
    return new command.local.Command(
        name,
        {
            create: 'aws ec2 wait instance-status-ok --region "$AWS_REGION" --instance-ids "$INSTANCE_ID"',
            // The waiter's own limit (40 polls, 15 s apart), stated as every gate states its own: the deploy's bound reads it.
            environment: { INSTANCE_ID: instance.id, AWS_REGION: region, TIMEOUT_SECONDS: String(40 * 15) },
            triggers: [instance.id, instance.instanceType],
        },
        opts,
    );
}

export function ebsDevicePath(volumeId: string): string {
    return `/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_${volumeId.replace("-", "")}`;
}
