/** Runs one component alone under the mocks and returns what it registered. */
import * as pulumi from "@pulumi/pulumi";
import { OfflinePlan, recordPlan } from "../../tools/preview/plan";
import { TierArgs } from "../../components/instance";

export function planComponent(create: () => unknown): Promise<OfflinePlan> {
    return recordPlan({ project: "foobar", stack: "test", config: { "aws:region": "eu-west-1" } }, async () => {
        create();
    });
}

export const tier: TierArgs = {
    stack: "test",
    region: "eu-west-1",
    vpcId: "vpc-123",
    vpcCidr: "10.0.0.0/16",
    ami: "ami-0123456789abcdef0",
    instanceType: "t3.small",
};

export const ofType = (plan: OfflinePlan, type: string) => plan.resources.filter((r) => r.type === type);
export const named = (plan: OfflinePlan, name: string) => plan.resources.find((r) => r.name === name)!;
export const childrenOf = (plan: OfflinePlan, name: string) => plan.resources.filter((r) => r.parent === named(plan, name).urn);
export type Rule = { fromPort: number; cidrBlocks?: string[]; securityGroups?: string[]; self?: boolean };
export const output = pulumi.output;
