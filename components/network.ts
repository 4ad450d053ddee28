/** The VPC: public and private subnets in two AZs (three with a Galera cluster), routes, and the private DNS zone. */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { cidrWithin } from "../config";
import { SubnetPlan } from "../topology";
import { resourceTags } from "./tags";

export interface NetworkArgs {
    stack: string;
    /** The VPC's primary IPv4 block. */
    cidrBlock: string;
    /** Further IPv4 blocks associated with the VPC (the third zone's); every subnet lies in one of the blocks. */
    secondaryCidrBlocks: string[];
    subnets: SubnetPlan[];
    /** Availability zone names, indexed by `SubnetPlan.az`. */
    availabilityZones: pulumi.Input<string[]>;
    /** Private subnets reach the internet (Debian's archive, SSM) through a NAT gateway. */
    natGateway: boolean;
    internalZone: string;
}

export class Network extends pulumi.ComponentResource {
    public readonly vpcId: pulumi.Output<string>;
    /**
     * Subnet ids by plan name (`public-a`, `private-b`, ...), each known only once the subnet's route to the
     * internet is in place: an instance launched into it waits for that, so cloud-init's apt can reach Debian.
     */
    public readonly subnetIds: Record<string, pulumi.Output<string>>;
    public readonly internalZoneId: pulumi.Output<string>;

    constructor(name: string, args: NetworkArgs, opts?: pulumi.ComponentResourceOptions) {
        super("foobar:network:Network", name, {}, opts);
        const parent = { parent: this };
        const tags = (n: string) => resourceTags("network", n, args.stack);

        const vpc = new aws.ec2.Vpc(
            `${name}-vpc`,
            { cidrBlock: args.cidrBlock, enableDnsHostnames: true, enableDnsSupport: true, tags: tags(`${name}-vpc`) },
            parent,
        );
        // A subnet in a secondary block depends on the block's association: created after it (before, EC2 answers
        // InvalidSubnet.Range), deleted before it (else InvalidCidrBlock.InUse).
        const blocks = [
            { cidr: args.cidrBlock, dependsOn: [] as pulumi.Resource[] },
            ...args.secondaryCidrBlocks.map((cidr, i) => ({
                cidr,
                dependsOn: [new aws.ec2.VpcIpv4CidrBlockAssociation(`${name}-cidr-${i + 2}`, { vpcId: vpc.id, cidrBlock: cidr }, parent)],
            })),
        ];
        const igw = new aws.ec2.InternetGateway(`${name}-igw`, { vpcId: vpc.id, tags: tags(`${name}-igw`) }, parent);
        const publicRoutes = new aws.ec2.RouteTable(
            `${name}-public`,
            { vpcId: vpc.id, routes: [{ cidrBlock: "0.0.0.0/0", gatewayId: igw.id }], tags: tags(`${name}-public`) },
            parent,
        );

        this.subnetIds = {};
        const subnets: Record<string, aws.ec2.Subnet> = {};
        for (const plan of args.subnets) {
            const subnetName = `${name}-${plan.name}`;
            const block = blocks.find((b) => cidrWithin(plan.cidr, b.cidr));
            if (!block) {
                throw new pulumi.InputPropertyError({
                    propertyPath: "subnets",
                    reason: `subnet ${plan.name} (${plan.cidr}) lies in none of the VPC's blocks (${blocks.map((b) => b.cidr).join(", ")})`,
                });
            }
            const subnet = new aws.ec2.Subnet(
                subnetName,
                {
                    vpcId: vpc.id,
                    cidrBlock: plan.cidr,
                    availabilityZone: pulumi.output(args.availabilityZones).apply((zones) => zones[plan.az]),
                    // Instances ask for a public address explicitly; nothing gets one by default.
                    mapPublicIpOnLaunch: false,
                    tags: { ...tags(subnetName), Tier: plan.public ? "public" : "private" },
                },
                { parent: this, dependsOn: block.dependsOn },
            );
            subnets[plan.name] = subnet;
        }
        // Named apart from their subnets (names are unique across types); the alias keeps the existing association.
        const routed: Record<string, aws.ec2.RouteTableAssociation> = {};
        const associate = (plans: SubnetPlan[], routeTable: aws.ec2.RouteTable) => {
            for (const plan of plans) {
                routed[plan.name] = new aws.ec2.RouteTableAssociation(
                    `${name}-${plan.name}-routes`,
                    { subnetId: subnets[plan.name].id, routeTableId: routeTable.id },
                    { parent: this, aliases: [{ name: `${name}-${plan.name}` }] },
                );
            }
        };
        const publicPlans = args.subnets.filter((s) => s.public);
        const privatePlans = args.subnets.filter((s) => !s.public);
        associate(publicPlans, publicRoutes);
        if (args.natGateway) {
            if (publicPlans.length === 0) {
                throw new pulumi.InputPropertyError({ propertyPath: "subnets", reason: "a NAT gateway needs a public subnet" });
            }
            // Named apart from the gateway (names are unique across types); the alias keeps the existing address.
            const eip = new aws.ec2.Eip(
                `${name}-nat-eip`,
                { domain: "vpc", tags: tags(`${name}-nat-eip`) },
                { parent: this, aliases: [{ name: `${name}-nat` }] },
            );
            const nat = new aws.ec2.NatGateway(
                `${name}-nat`,
                { allocationId: eip.id, subnetId: subnets[publicPlans[0].name].id, tags: tags(`${name}-nat`) },
                { parent: this, dependsOn: [igw] },
            );
            const privateRoutes = new aws.ec2.RouteTable(
                `${name}-private`,
                { vpcId: vpc.id, routes: [{ cidrBlock: "0.0.0.0/0", natGatewayId: nat.id }], tags: tags(`${name}-private`) },
                parent,
            );
            associate(privatePlans, privateRoutes);
        }
        // The association waits for its table, and the table for its gateway (a NAT gateway's create returns once it is
        // available): the id carries them all, so whatever is launched into the subnet is created after its route.
        for (const [plan, subnet] of Object.entries(subnets)) {
            const association = routed[plan];
            this.subnetIds[plan] = association ? pulumi.all([subnet.id, association.id]).apply(([id]) => id) : subnet.id;
        }

        const zone = new aws.route53.Zone(
            `${name}-internal`,
            {
                name: args.internalZone,
                comment: `private endpoints of the foobar ${args.stack} stack`,
                vpcs: [{ vpcId: vpc.id }],
                forceDestroy: true,
                tags: tags(`${name}-internal`),
            },
            parent,
        );

        this.vpcId = vpc.id;
        this.internalZoneId = zone.zoneId;
        this.registerOutputs({ vpcId: this.vpcId, subnetIds: this.subnetIds, internalZoneId: this.internalZoneId });
    }
}
