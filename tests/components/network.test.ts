import * as pulumi from "@pulumi/pulumi";
import { Network, NetworkArgs } from "../../components/network";
import { planTopology } from "../../topology";
import { byName, devConfig, ofType } from "../helpers";
import { planComponent } from "./helpers";
import { mockRegionZones } from "../../tools/preview/mocks";

const subnets = planTopology(devConfig(), mockRegionZones).subnets;
const args = (overrides: Partial<NetworkArgs> = {}): NetworkArgs => ({
    stack: "test",
    cidrBlock: "10.0.0.0/16",
    secondaryCidrBlocks: [],
    subnets,
    availabilityZones: ["eu-west-1a", "eu-west-1b"],
    natGateway: true,
    internalZone: "foobar.internal",
    ...overrides,
});

test.each([true, false])("natGateway %s: four subnets over two AZs, public ones routed to the internet gateway", async (natGateway) => {
    const plan = await planComponent(() => new Network("vpc", args({ natGateway })));
    expect(
        ofType(plan, "aws:ec2/subnet:Subnet").map((s) => [
            s.name,
            s.inputs.cidrBlock,
            s.inputs.availabilityZone,
            s.inputs.mapPublicIpOnLaunch,
        ]),
    ).toEqual([
        ["vpc-public-a", "10.0.0.0/18", "eu-west-1a", false],
        ["vpc-public-b", "10.0.64.0/18", "eu-west-1b", false],
        ["vpc-private-a", "10.0.128.0/18", "eu-west-1a", false],
        ["vpc-private-b", "10.0.192.0/18", "eu-west-1b", false],
    ]);
    expect(byName(plan, "vpc-public").inputs.routes).toEqual([{ cidrBlock: "0.0.0.0/0", gatewayId: byName(plan, "vpc-igw").outputs.id }]);
    expect(ofType(plan, "aws:ec2/natGateway:NatGateway")).toHaveLength(natGateway ? 1 : 0);
    const routed = natGateway ? subnets : subnets.filter((s) => s.public);
    expect(
        ofType(plan, "aws:ec2/routeTableAssociation:RouteTableAssociation").map((a) => [a.name, a.inputs.subnetId, a.inputs.routeTableId]),
    ).toEqual(
        routed.map((s) => [
            `vpc-${s.name}-routes`,
            byName(plan, `vpc-${s.name}`).outputs.id,
            byName(plan, s.public ? "vpc-public" : "vpc-private").outputs.id,
        ]),
    );
    expect(byName(plan, "vpc-internal").inputs).toMatchObject({
        name: "foobar.internal",
        vpcs: [{ vpcId: byName(plan, "vpc-vpc").outputs.id }],
    });
});

test("the NAT gateway's address is named apart from the gateway", async () => {
    const plan = await planComponent(() => new Network("vpc", args()));
    const eip = byName(plan, "vpc-nat-eip");
    expect(eip.type).toBe("aws:ec2/eip:Eip");
    expect(byName(plan, "vpc-nat").inputs.allocationId).toBe(eip.outputs.id);
});

test("renamed resources carry their old names as aliases, so existing stacks keep them", async () => {
    const plan = await planComponent(() => new Network("vpc", args()));
    const aliases = Object.fromEntries(plan.resources.filter((r) => r.options.aliases.length > 0).map((r) => [r.name, r.options.aliases]));
    const parent = "urn:pulumi:test::foobar::foobar:network:Network$";
    expect(aliases).toEqual({
        "vpc-nat-eip": [`${parent}aws:ec2/eip:Eip::vpc-nat`],
        ...Object.fromEntries(
            subnets.map((s) => [`vpc-${s.name}-routes`, [`${parent}aws:ec2/routeTableAssociation:RouteTableAssociation::vpc-${s.name}`]]),
        ),
    });
});

test("a NAT gateway without a public subnet is an input property error", async () => {
    const error = await planComponent(() => new Network("vpc", args({ subnets: subnets.filter((s) => !s.public) }))).catch(
        (e: unknown) => e,
    );
    expect(pulumi.InputPropertyError.isInstance(error)).toBe(true);
    expect(error).toMatchObject({ propertyPath: "subnets" });
});

describe("a third zone in a secondary block", () => {
    const galera = planTopology(devConfig({ database: "galera", replicaCount: "", firewall: "strict" }), mockRegionZones);
    const third = (overrides: Partial<NetworkArgs> = {}) =>
        args({
            secondaryCidrBlocks: galera.cidrBlocks.slice(1),
            subnets: galera.subnets,
            availabilityZones: ["eu-west-1a", "eu-west-1b", "eu-west-1c"],
            ...overrides,
        });

    test("its subnets wait for the block's association and route like their kind", async () => {
        const plan = await planComponent(() => new Network("vpc", third()));
        const association = byName(plan, "vpc-cidr-2");
        expect(association.type).toBe("aws:ec2/vpcIpv4CidrBlockAssociation:VpcIpv4CidrBlockAssociation");
        expect(association.inputs).toEqual({ vpcId: byName(plan, "vpc-vpc").outputs.id, cidrBlock: "10.1.0.0/17" });
        const subnet = (name: string) => byName(plan, `vpc-${name}`);
        expect(["public-c", "private-c"].map((n) => [subnet(n).inputs.cidrBlock, subnet(n).inputs.availabilityZone])).toEqual([
            ["10.1.0.0/18", "eu-west-1c"],
            ["10.1.64.0/18", "eu-west-1c"],
        ]);
        // Created after the association (EC2 refuses a subnet of a block not yet associated), deleted before it.
        for (const n of ["public-c", "private-c"]) expect(subnet(n).options.dependsOn).toEqual([association.urn]);
        for (const n of ["public-a", "private-b"]) expect(subnet(n).options.dependsOn).toEqual([]);
        expect(byName(plan, "vpc-private-c-routes").inputs.routeTableId).toBe(byName(plan, "vpc-private").outputs.id);
        expect(byName(plan, "vpc-public-c-routes").inputs.routeTableId).toBe(byName(plan, "vpc-public").outputs.id);
    });

    test("a subnet outside every block is an input property error that names it", async () => {
        const error = await planComponent(() => new Network("vpc", third({ secondaryCidrBlocks: [] }))).catch((e: unknown) => e);
        expect(pulumi.InputPropertyError.isInstance(error)).toBe(true);
        expect(error).toMatchObject({
            propertyPath: "subnets",
            message: expect.stringMatching(/public-c \(10\.1\.0\.0\/18\) lies in none/),
        });
    });
});
