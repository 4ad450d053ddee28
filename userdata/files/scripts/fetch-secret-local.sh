#!/bin/sh
# Prints one secret to stdout. In the local cloud the host bind-mounts each
# secret as a file (named after the parameter, slashes as underscores) into
# SECRETS_DIR, standing in for SSM Parameter Store.
set -eu
. /etc/foobar/target.env
if [ "$#" -ne 1 ]; then
    echo "usage: foobar-fetch-secret PARAMETER_NAME" >&2
    exit 2
fi
file="$SECRETS_DIR/$(printf '%s' "$1" | sed 's|^/*||; s|/|_|g')"
if [ ! -r "$file" ]; then
    echo "foobar-fetch-secret: $1: no such secret in $SECRETS_DIR" >&2
    exit 1
fi
cat "$file"
