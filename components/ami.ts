/** The AMI every instance runs: pinned by the stack, by id or by the build of Debian's official Debian 12 AMI. */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { Architecture } from "../config";

/** Debian's official AMIs are published by this account (https://wiki.debian.org/Cloud/AmazonEC2Image/Bookworm). */
export const debianAmiOwner = "136693071363";

/**
 * The name of Debian 12's official AMI of a build: `debian-12-<amd64|arm64>-<YYYYMMDD>-<serial>`, e.g.
 * debian-12-amd64-20250316-2053; Debian publishes the same name in every region
 * (https://wiki.debian.org/Cloud/AmazonEC2Image/Bookworm).
 */
export function debianAmiName(architecture: Architecture, release: string): string {
    return `debian-12-${architecture === "arm64" ? "arm64" : "amd64"}-${release}`;
}

/** The stack's AMI: `amiId` as given, else the id of the Debian 12 AMI of build `amiRelease` in the stack's region. */
export function debianAmi(architecture: Architecture, pin: { amiId?: string; amiRelease?: string }): pulumi.Output<string> {
    if (pin.amiId) return pulumi.output(pin.amiId);
    if (!pin.amiRelease) throw new Error("debianAmi: the stack pins no AMI (config.ts requires amiId or amiRelease)");
    // An exact name, not mostRecent over a pattern: a newer build never replaces instances without a reviewed change.
    return aws.ec2
        .getAmiOutput({
            owners: [debianAmiOwner],
            filters: [
                { name: "name", values: [debianAmiName(architecture, pin.amiRelease)] },
                { name: "architecture", values: [architecture] },
                { name: "virtualization-type", values: ["hvm"] },
            ],
        })
        .apply((ami) => ami.id);
}
