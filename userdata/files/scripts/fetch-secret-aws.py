#!/usr/bin/python3
"""Prints one SSM SecureString parameter, decrypted, to stdout.

Usage: foobar-fetch-secret PARAMETER_NAME
The instance role allows GetParameter on this tier's own parameters only.
Retries for a while: the role's credentials can lag the first boot by seconds.
The region is the instance's own, from IMDSv2, unless AWS_DEFAULT_REGION is set:
no caller has to export it (Debian 12's botocore 1.29 never asks IMDS for a
client's region and raises NoRegionError instead).
Environment (tests only): SSM_ENDPOINT_URL.
"""
import os
import sys
import time

import boto3
import botocore.exceptions
import botocore.utils


def region(session: boto3.Session) -> str:
    """AWS_DEFAULT_REGION, else the instance's region from IMDSv2 (botocore's own fetcher; None if unreachable)."""
    return session.region_name or botocore.utils.IMDSRegionProvider(session._session).provide()


def main() -> int:
    if len(sys.argv) != 2:
        print("usage: foobar-fetch-secret PARAMETER_NAME", file=sys.stderr)
        return 2
    name = sys.argv[1]
    session = boto3.Session()
    for attempt in range(1, 31):
        try:
            ssm = session.client("ssm", region_name=region(session), endpoint_url=os.environ.get("SSM_ENDPOINT_URL"))
            value = ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
            sys.stdout.write(value)
            return 0
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as err:
            # The error names the parameter, never its value.
            print(f"foobar-fetch-secret: {name}: attempt {attempt}/30: {err}", file=sys.stderr)
            time.sleep(5)
    return 1


if __name__ == "__main__":
    sys.exit(main())
