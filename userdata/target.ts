/**
 * Where an instance runs. Both targets fetch secrets alike, from SSM (the local cloud
 * emulates it: tools/local-cloud/aws.ts). The target decides only
 * its own identity (its data volume), the addresses behind the
 * private DNS names and where the monitoring instance's Alertmanager sends
 * alerts (the stack's SNS topic on AWS; in the local cloud, which has no SNS,
 * a webhook to a receiver a test runs in the VPC namespace, so it can read
 * every alert and its resolution) and how the public address follows the
 * load balancer that is VRRP master (userdata/keepalived.ts); every other byte of the user-data is the same
 * (tests/userdata/target.test.ts holds that promise).
 */
import { bundledFile, envFile, WriteFile } from "./files";
import { keepalivedPublicAddressPath, publicAddressFiles } from "./keepalived";

export type Target =
    | {
          kind: "aws";
          region: string;
          /** The EBS device this instance formats and mounts for its data, if any. */
          dataDevice?: string;
          /** The monitoring instance: the SNS topic Alertmanager publishes to. */
          alarmTopicArn?: string;
          /** A load balancer of the pair: the Elastic IP it associates with itself when it becomes master. */
          elasticIpAllocationId?: string;
      }
    | {
          kind: "local";
          /** The stack's region, as on AWS: the local cloud serves its endpoint names. */
          region: string;
          /** Name → address, written to /etc/hosts in place of the private hosted zone. */
          hosts: Record<string, string[]>;
          /** The loop device the local cloud hands this instance as its data volume, if any. */
          dataDevice?: string;
          /** The monitoring instance: the URL Alertmanager posts alerts to (webhook format). */
          alertWebhookUrl?: string;
          /** A load balancer of the pair: the virtual address keepalived holds on the master (the public address maps to it). */
          virtualAddress?: string;
      };

/** Paths of the files whose content depends on the target. */
export const targetFilePaths = [
    "/etc/foobar/target.env",
    "/etc/hosts",
    // The monitoring instance's receiver (userdata/monitoring.ts alertReceiverOf).
    "/etc/prometheus/alertmanager.yml",
    // The load-balancer pair's address move (userdata/keepalived.ts).
    keepalivedPublicAddressPath,
    "/usr/local/sbin/foobar-take-public-address",
] as const;

/** Every target's secret fetcher: SSM's GetParameter with the instance role's credentials. */
const secretFetcher: WriteFile = {
    path: "/usr/local/sbin/foobar-fetch-secret",
    content: bundledFile("scripts/fetch-secret-aws.py"),
    permissions: "0755",
};

export function targetFiles(target: Target): WriteFile[] {
    if (target.kind === "aws") {
        const allocation = target.elasticIpAllocationId;
        return [
            {
                path: "/etc/foobar/target.env",
                content: envFile({
                    TARGET: "aws",
                    AWS_DEFAULT_REGION: target.region,
                    DATA_DEVICE: target.dataDevice ?? "",
                    ...(allocation ? { PUBLIC_ADDRESS_ALLOCATION_ID: allocation } : {}),
                }),
                permissions: "0644",
            },
            secretFetcher,
            ...(allocation ? publicAddressFiles({ kind: "elastic-ip" }) : []),
        ];
    }
    const hosts = Object.entries(target.hosts)
        .sort(([a], [b]) => a.localeCompare(b))
        .flatMap(([name, addresses]) => addresses.map((a) => `${a} ${name}\n`))
        .join("");
    return [
        {
            path: "/etc/foobar/target.env",
            content: envFile({ TARGET: "local", AWS_DEFAULT_REGION: target.region, DATA_DEVICE: target.dataDevice ?? "" }),
            permissions: "0644",
        },
        secretFetcher,
        ...(hosts ? [{ path: "/etc/hosts", content: hosts, permissions: "0644", append: true }] : []),
        ...(target.virtualAddress ? publicAddressFiles({ kind: "virtual-address", address: target.virtualAddress }) : []),
    ];
}
