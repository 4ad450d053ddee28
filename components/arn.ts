/**
 * ARNs of what the stack names before it exists (by name or wildcard, for its roles' policies), in the
 * partition of the stack's region: `aws`, `aws-cn` (cn-north-1, cn-northwest-1) or `aws-us-gov`
 * (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference-arns.html). An ARN written with the
 * commercial partition would name nothing in the others.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

export interface StackArns {
    partition: pulumi.Output<string>;
    account: pulumi.Output<string>;
    /** `arn:<partition>:<service>:<region>:<account>:<resource>` */
    regional(service: string, region: string, resource: pulumi.Input<string>): pulumi.Output<string>;
}

/** Asks the provider (of `opts`' parent) for its partition and account once per component. */
export function stackArns(opts: pulumi.InvokeOutputOptions): StackArns {
    const partition = aws.getPartitionOutput({}, opts).partition;
    const account = aws.getCallerIdentityOutput({}, opts).accountId;
    return {
        partition,
        account,
        regional: (service, region, resource) => pulumi.interpolate`arn:${partition}:${service}:${region}:${account}:${resource}`,
    };
}
