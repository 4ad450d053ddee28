#!/usr/bin/python3
"""keepalived's notify script on AWS: moves the site's Elastic IP to this instance.

Run when this load balancer becomes VRRP master, and when a master sees a
lower-priority master's adverts (the end of a split brain). Gets the
instance id with an IMDSv2 token, associates the allocation with
--allow-reassociation (it may be on the other load balancer), and confirms
the association; bounded retries, every step logged to syslog.
The instance role may associate this one allocation with the pair's
instances and describe addresses, nothing more.

Usage: foobar-take-public-address [ignored keepalived arguments]
Environment (tests only): IMDS_URL, EC2_ENDPOINT_URL.
"""
import os
import sys
import syslog
import time
import urllib.request

import boto3
import botocore.exceptions

ATTEMPTS = 10


def log(message: str) -> None:
    syslog.syslog(message)
    print(f"foobar-take-public-address: {message}", file=sys.stderr)


def target_env(path: str = "/etc/foobar/target.env") -> dict:
    env = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            key, sep, value = line.strip().partition("=")
            if sep:
                env[key] = value.strip('"')
    return env


def instance_id(imds: str) -> str:
    token_request = urllib.request.Request(
        f"{imds}/latest/api/token", method="PUT", headers={"X-aws-ec2-metadata-token-ttl-seconds": "60"}
    )
    token = urllib.request.urlopen(token_request, timeout=2).read().decode()
    request = urllib.request.Request(f"{imds}/latest/meta-data/instance-id", headers={"X-aws-ec2-metadata-token": token})
    return urllib.request.urlopen(request, timeout=2).read().decode()


def main() -> int:
    syslog.openlog("foobar-take-public-address")
    env = target_env(os.environ.get("TARGET_ENV", "/etc/foobar/target.env"))
    allocation = env["PUBLIC_ADDRESS_ALLOCATION_ID"]
    ec2 = boto3.client("ec2", region_name=env["AWS_DEFAULT_REGION"], endpoint_url=os.environ.get("EC2_ENDPOINT_URL"))
    for attempt in range(1, ATTEMPTS + 1):
        try:
            me = instance_id(os.environ.get("IMDS_URL", "http://169.254.169.254"))
            ec2.associate_address(AllocationId=allocation, InstanceId=me, AllowReassociation=True)
            holder = ec2.describe_addresses(AllocationIds=[allocation])["Addresses"][0].get("InstanceId")
            if holder == me:
                log(f"{allocation} is associated with {me} (attempt {attempt})")
                return 0
            log(f"attempt {attempt}/{ATTEMPTS}: {allocation} is on {holder}, not {me}")
        except (OSError, botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as err:
            log(f"attempt {attempt}/{ATTEMPTS}: {err}")
        time.sleep(min(attempt, 3))
    log(f"gave up: {allocation} is not associated with this instance after {ATTEMPTS} attempts")
    return 1


if __name__ == "__main__":
    sys.exit(main())
