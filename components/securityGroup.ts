/** The security group every tier uses: its own ingress, SSH only from the admin CIDR, narrow egress. */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { TierRole } from "../roles";
import { roleExporters } from "../userdata/monitoring";
import { TierArgs } from "./instance";
import { resourceTags } from "./tags";

export type IngressRule = aws.types.input.ec2.SecurityGroupIngress;

/**
 * Who may reach a tier's service port: the security group of the tier in
 * front, or (the whiteboard's "no firewall") anyone. Required wherever it is
 * taken, so leaving it out is a type error, never an open port.
 */
export type IngressSource = { from: "securityGroup"; securityGroupId: pulumi.Input<string> } | { from: "anywhere" };

export const anywhere = { cidrBlocks: ["0.0.0.0/0"], ipv6CidrBlocks: ["::/0"] };

export function tcpIngress(port: number, description: string, from: Partial<IngressRule>): IngressRule {
    return { protocol: "tcp", fromPort: port, toPort: port, description, ...from };
}

/** A service port open to `source`; `sourceName` says in the rule's description which tier the group is. */
export function serviceIngress(port: number, service: string, source: IngressSource, sourceName: string): IngressRule {
    switch (source.from) {
        case "securityGroup":
            return tcpIngress(port, `${service} from ${sourceName}`, { securityGroups: [source.securityGroupId] });
        case "anywhere":
            return tcpIngress(port, `${service} from anywhere`, anywhere);
    }
}

export function createTierSecurityGroup(
    name: string,
    role: TierRole | "monitoring",
    ingress: IngressRule[],
    args: Pick<TierArgs, "stack" | "vpcId" | "vpcCidrBlocks" | "adminCidr" | "monitoring">,
    opts: pulumi.CustomResourceOptions,
) {
    const ssh = args.adminCidr ? [tcpIngress(22, "SSH from the admin network", { cidrBlocks: [args.adminCidr] })] : [];
    // The role's exporters, to the monitoring instance's fixed address only.
    const { monitoring } = args;
    const exporters = monitoring.enabled
        ? roleExporters[role].map((e) =>
              tcpIngress(e.port, `${e.job} exporter from the monitoring instance`, { cidrBlocks: [`${monitoring.scraperIp}/32`] }),
          )
        : [];
    return new aws.ec2.SecurityGroup(
        name,
        {
            vpcId: args.vpcId,
            description: `foobar ${role} tier`,
            ingress: [...ingress, ...exporters, ...ssh],
            egress: [
                // Debian's archive and the AWS APIs (SSM) are HTTP(S); everything else stays in the VPC.
                { protocol: "tcp", fromPort: 80, toPort: 80, cidrBlocks: ["0.0.0.0/0"], description: "HTTP (Debian archive)" },
                { protocol: "tcp", fromPort: 443, toPort: 443, cidrBlocks: ["0.0.0.0/0"], description: "HTTPS (AWS APIs)" },
                { protocol: "-1", fromPort: 0, toPort: 0, cidrBlocks: args.vpcCidrBlocks, description: "inside the VPC" },
            ],
            tags: resourceTags(role, name, args.stack),
        },
        opts,
    );
}
