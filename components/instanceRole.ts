/** An instance role per tier that may read only that tier's own SSM parameters. */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

export function createInstanceProfile(
    name: string,
    parameterArns: pulumi.Input<string>[],
    tags: Record<string, string>,
    opts: pulumi.CustomResourceOptions,
): aws.iam.InstanceProfile {
    // SecureStrings use the account's aws/ssm key, whose key policy already allows decryption through SSM.
    return createScopedInstanceProfile(name, "read-parameters", [{ actions: ["ssm:GetParameter"], resources: parameterArns }], tags, opts);
}

/** What a role may do: these actions on these resources. */
export interface Grant {
    actions: string[];
    resources: pulumi.Input<string>[];
    /** An IAM condition block, when the resources alone cannot name what is allowed. */
    condition?: Record<string, Record<string, pulumi.Input<string>>>;
}

/**
 * An instance profile whose role may do what `grants` say and nothing else: one inline policy,
 * named `${name}-${policyName}`. `grants` may name the profile's own ARN (the `ec2:InstanceProfile`
 * condition key is how a policy singles out the instances that run with it).
 */
export function createScopedInstanceProfile(
    name: string,
    policyName: string,
    grants: Grant[] | ((profileArn: pulumi.Output<string>) => Grant[]),
    tags: Record<string, string>,
    opts: pulumi.CustomResourceOptions,
): aws.iam.InstanceProfile {
    const role = new aws.iam.Role(
        `${name}-role`,
        {
            assumeRolePolicy: JSON.stringify({
                Version: "2012-10-17",
                Statement: [{ Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" }],
            }),
            tags,
        },
        opts,
    );
    const profile = new aws.iam.InstanceProfile(`${name}-profile`, { role: role.name, tags }, opts);
    const granted = typeof grants === "function" ? grants(profile.arn) : grants;
    new aws.iam.RolePolicy(
        `${name}-${policyName}`,
        {
            role: role.id,
            policy: pulumi
                .all(granted.map((g) => pulumi.all([pulumi.output(g.resources), pulumi.output(g.condition ?? {})])))
                .apply((resolved) =>
                    JSON.stringify({
                        Version: "2012-10-17",
                        Statement: granted.map((g, i) => ({
                            Effect: "Allow",
                            Action: g.actions,
                            Resource: resolved[i][0],
                            ...(g.condition ? { Condition: resolved[i][1] } : {}),
                        })),
                    }),
                ),
        },
        opts,
    );
    return profile;
}

/** A SecureString parameter holding a generated secret. */
export function createSecretParameter(
    name: string,
    parameterName: string,
    value: pulumi.Input<string>,
    tags: Record<string, string>,
    opts: pulumi.CustomResourceOptions,
): aws.ssm.Parameter {
    return new aws.ssm.Parameter(name, { name: parameterName, type: "SecureString", value: pulumi.secret(value), tags }, opts);
}
