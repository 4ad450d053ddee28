#!/usr/bin/python3
"""Prints one SSM SecureString parameter, decrypted, to stdout.

Usage: foobar-fetch-secret PARAMETER_NAME
The instance role allows GetParameter on this tier's own parameters only.
Retries for a while: the role's credentials can lag the first boot by seconds.
"""
import os
import sys
import time

import boto3
import botocore.exceptions


def main() -> int:
    if len(sys.argv) != 2:
        print("usage: foobar-fetch-secret PARAMETER_NAME", file=sys.stderr)
        return 2
    name = sys.argv[1]
    ssm = boto3.client("ssm", region_name=os.environ.get("AWS_DEFAULT_REGION"))
    for attempt in range(1, 31):
        try:
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
