import { Network } from "../../components/network";
import { planTopology } from "../../topology";
import { devConfig } from "../helpers";
import { named, ofType, planComponent } from "./helpers";

const subnets = planTopology(devConfig()).subnets;

test.each([true, false])("natGateway %s: four subnets over two AZs, public ones routed to the internet gateway", async (natGateway) => {
    const plan = await planComponent(
        () =>
            new Network("vpc", {
                stack: "test",
                cidrBlock: "10.0.0.0/16",
                subnets,
                availabilityZones: ["eu-west-1a", "eu-west-1b"],
                natGateway,
                internalZone: "foobar.internal",
            }),
    );
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
    expect(named(plan, "vpc-public").inputs.routes).toEqual([{ cidrBlock: "0.0.0.0/0", gatewayId: named(plan, "vpc-igw").outputs.id }]);
    expect(ofType(plan, "aws:ec2/natGateway:NatGateway")).toHaveLength(natGateway ? 1 : 0);
    expect(ofType(plan, "aws:ec2/routeTableAssociation:RouteTableAssociation")).toHaveLength(natGateway ? 4 : 2);
    expect(named(plan, "vpc-internal").inputs).toMatchObject({
        name: "foobar.internal",
        vpcs: [{ vpcId: named(plan, "vpc-vpc").outputs.id }],
    });
});
