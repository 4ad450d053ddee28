/** Runs one component alone under the mocks and returns what it registered. */
import { TierArgs } from "../../components/instance";
import { OfflinePlan, recordPlan } from "../../tools/preview/plan";

export function planComponent(create: () => unknown): Promise<OfflinePlan> {
    return recordPlan({ project: "foobar", stack: "test", config: { "aws:region": "eu-west-1" } }, async () => {
        create();
    });
}

export const tier: TierArgs = {
    stack: "test",
    region: "eu-west-1",
    vpcId: "vpc-123",
    vpcCidrBlocks: ["10.0.0.0/16"],
    ami: "ami-0123456789abcdef0",
    instanceType: "t3.small",
    monitoring: { enabled: false },
};

export const alarmTopicArn = "arn:aws:sns:eu-west-1:1:alarms";
export const scraperIp = "10.0.192.20";
export const monitored: TierArgs = { ...tier, monitoring: { enabled: true, alarmTopicArn, scraperIp } };
