/**
 * Pulumi mocks that stand in for AWS: every resource "creates" with
 * deterministic ids and the attributes the program reads back.
 */
import * as crypto from "crypto";
import * as pulumi from "@pulumi/pulumi";

const hash = (s: string, n = 17) => crypto.createHash("sha256").update(s).digest("hex").slice(0, n);

/** A fake secret, stable per resource name so plans compare across runs. */
export function mockSecret(name: string): string {
    return `Mock${hash(`secret:${name}`, 28)}`;
}

/**
 * How many availability zones the mocked region offers: three, as eu-west-1 and most regions do. The local cloud
 * lays its site out for the same number, so that its instances are the offline plan's.
 */
export const mockRegionZones = 3;

/**
 * The partition a region is in, as AWS names them (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference-arns.html):
 * the China regions and AWS GovCloud (US) have their own.
 */
export function partitionOf(region: string): string {
    if (region.startsWith("cn-")) return "aws-cn";
    if (region.startsWith("us-gov-")) return "aws-us-gov";
    return "aws";
}

export class AwsMocks implements pulumi.runtime.Mocks {
    private readonly partition: string;

    constructor(
        private readonly region: string,
        private readonly account = "123456789012",
        /** Fewer stands for an account that sees two zones in a region (some do in us-west-1). */
        private readonly zoneCount = mockRegionZones,
    ) {
        this.partition = partitionOf(region);
    }

    newResource(args: pulumi.runtime.MockResourceArgs): { id: string | undefined; state: Record<string, unknown> } {
        const inputs = args.inputs as Record<string, unknown>;
        const id = `${args.name}-${hash(args.type + args.name, 8)}`;
        const arn = `arn:${this.partition}:${args.type.split(":")[1].split("/")[0]}:${this.region}:${this.account}:${args.name}`;
        const state: Record<string, unknown> = { ...inputs, arn };
        switch (args.type) {
            case "aws:ec2/instance:Instance":
                return { id: `i-${hash(args.name)}`, state };
            case "aws:ec2/eip:Eip":
                // Documentation range (RFC 5737): never a real address.
                return {
                    id: `eipalloc-${hash(args.name)}`,
                    state: { ...state, publicIp: `203.0.113.${(parseInt(hash(args.name, 2), 16) % 254) + 1}` },
                };
            case "aws:ebs/volume:Volume":
                return { id: `vol-${hash(args.name)}`, state };
            case "aws:ssm/parameter:Parameter":
                return {
                    id: String(inputs.name),
                    state: { ...state, arn: `arn:${this.partition}:ssm:${this.region}:${this.account}:parameter${inputs.name}` },
                };
            case "aws:route53/zone:Zone":
                return {
                    id: `Z${hash(args.name, 13).toUpperCase()}`,
                    state: { ...state, zoneId: `Z${hash(args.name, 13).toUpperCase()}` },
                };
            case "random:index/randomPassword:RandomPassword":
                return { id, state: { ...state, result: mockSecret(args.name) } };
            case "tls:index/privateKey:PrivateKey":
                return {
                    id,
                    state: {
                        ...state,
                        privateKeyPem: `-----BEGIN PRIVATE KEY-----\n${mockSecret(args.name)}\n-----END PRIVATE KEY-----\n`,
                    },
                };
            case "tls:index/selfSignedCert:SelfSignedCert":
                return {
                    id,
                    state: { ...state, certPem: `-----BEGIN CERTIFICATE-----\n${hash(args.name, 40)}\n-----END CERTIFICATE-----\n` },
                };
            // IAM and KMS ARNs as AWS forms them: the IAM simulation (tests/iam) matches policies against them.
            case "aws:iam/role:Role":
            case "aws:iam/instanceProfile:InstanceProfile": {
                const kind = args.type.endsWith("Role") ? "role" : "instance-profile";
                const name = inputs.name ?? args.name;
                return {
                    id: args.name,
                    state: { ...state, name, arn: `arn:${this.partition}:iam::${this.account}:${kind}/${String(name)}` },
                };
            }
            case "aws:kms/key:Key": {
                const keyId = [8, 4, 4, 4, 12].map((n, i) => hash(`${args.name}:${i}`, n)).join("-");
                return {
                    id: keyId,
                    state: { ...state, keyId, arn: `arn:${this.partition}:kms:${this.region}:${this.account}:key/${keyId}` },
                };
            }
            default:
                return { id: args.custom === false ? undefined : id, state };
        }
    }

    call(args: pulumi.runtime.MockCallArgs): Record<string, unknown> {
        switch (args.token) {
            case "aws:index/getAvailabilityZones:getAvailabilityZones":
                // With Local or Wavelength Zones opted in, EC2 lists them too: the program must ask for zones proper.
                if (JSON.stringify(args.inputs.filters) !== JSON.stringify([{ name: "opt-in-status", values: ["opt-in-not-required"] }])) {
                    throw new Error("getAvailabilityZones without the opt-in-status filter would list Local and Wavelength Zones");
                }
                // The list must not change with a zone's momentary state: the zones after a dropped one would shift.
                if (args.inputs.state !== undefined) {
                    throw new Error(
                        `getAvailabilityZones with state ${String(args.inputs.state)} would shift the zones while one is impaired`,
                    );
                }
                return {
                    names: Array.from({ length: this.zoneCount }, (_, i) => `${this.region}${String.fromCharCode(97 + i)}`),
                    zoneIds: [],
                };
            case "aws:ec2/getAmi:getAmi": {
                // As EC2 answers an exact name: that one image. A pattern with mostRecent would float to newer builds.
                const filters = (args.inputs.filters ?? []) as { name: string; values: string[] }[];
                const name = filters.find((f) => f.name === "name")?.values;
                if (args.inputs.mostRecent || name?.length !== 1 || /[*?]/.test(name[0])) {
                    throw new Error(
                        `getAmi must ask for one exact AMI name, not ${JSON.stringify(name)} (a floating AMI replaces instances)`,
                    );
                }
                const architecture = filters.find((f) => f.name === "architecture")?.values[0] ?? "x86_64";
                // One id per name, so moving amiRelease shows in the plan as a new image.
                return { id: `ami-${hash(`ami:${name[0]}`)}`, name: name[0], architecture };
            }
            case "aws:index/getCallerIdentity:getCallerIdentity":
                return { accountId: this.account, arn: `arn:${this.partition}:iam::${this.account}:user/mock`, userId: "mock" };
            case "aws:index/getPartition:getPartition":
                return {
                    partition: this.partition,
                    dnsSuffix: this.partition === "aws-cn" ? "amazonaws.com.cn" : "amazonaws.com",
                    id: this.partition,
                    reverseDnsPrefix: this.partition === "aws-cn" ? "cn.com.amazonaws" : "com.amazonaws",
                };
            default:
                return args.inputs;
        }
    }
}
