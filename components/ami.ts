/** The Debian 12 AMI every instance runs, unless the stack pins one. */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { Architecture } from "../config";

/** Debian's official AMIs are published by this account. */
export const debianAmiOwner = "136693071363";

export function debianAmi(architecture: Architecture, amiId?: string): pulumi.Output<string> {
    if (amiId) return pulumi.output(amiId);
    const arch = architecture === "arm64" ? "arm64" : "amd64";
    return aws.ec2
        .getAmiOutput({
            owners: [debianAmiOwner],
            mostRecent: true,
            filters: [
                { name: "name", values: [`debian-12-${arch}-*`] },
                { name: "architecture", values: [architecture] },
                { name: "virtualization-type", values: ["hvm"] },
            ],
        })
        .apply((ami) => ami.id);
}
