#!/bin/sh
# Run by the deploy (a @pulumi/command local.Command, on the machine running
# `pulumi up`): waits until an instance's console shows its readiness marker.
# There is no EC2 API that says an instance finished its user-data
# (terraform-provider-aws, aws_ec2_instance_state docs), so each instance
# prints a marker to its console once it serves, and this reads it back with
# ec2:GetConsoleOutput --latest (Nitro instance types; t3 and t4g are).
#
# Environment:
#   INSTANCE_ID, AWS_REGION       whose console, where
#   MARKER_PATTERN                ERE of every marker of this kind; the LAST match counts,
#                                 so an older marker (an earlier configuration) never passes
#   MARKER                        the match that means ready
#   FAILURE_MARKER                the match that means it will not get ready (optional)
#   TIMEOUT_SECONDS, POLL_SECONDS bounds of the wait (default 900 and 10)
# Exits 0 when ready; 1 with a message on failure or timeout, which fails the
# deploy step, so nothing that depends on this instance is touched.
set -u
: "${INSTANCE_ID:?}" "${AWS_REGION:?}" "${MARKER_PATTERN:?}" "${MARKER:?}"
timeout=${TIMEOUT_SECONDS:-900}
poll=${POLL_SECONDS:-10}
if ! command -v aws > /dev/null 2>&1; then
    echo "wait-for-console-marker: the aws CLI is not installed on the machine running pulumi up" >&2
    exit 1
fi
deadline=$(($(date +%s) + timeout))
attempt=0
while :; do
    attempt=$((attempt + 1))
    if output=$(aws ec2 get-console-output --region "$AWS_REGION" --instance-id "$INSTANCE_ID" --latest --output text --query Output 2>&1); then
        # A marker counts only as a line's message (`unit[pid]: marker`, as journald forwards it to the console):
        # systemd's own lines name the units ("Starting foobar-ready.service"), which a bare match would take for it.
        last=$(printf '%s\n' "$output" | tr -d '\r' | grep -oE "\]: ($MARKER_PATTERN)([^[:alnum:]_.-]|\$)" | tail -n 1 |
            sed -E 's/^\]: //; s/[^[:alnum:]_.-]$//')
        if [ "$last" = "$MARKER" ]; then
            echo "$INSTANCE_ID: $MARKER (after $attempt polls)"
            exit 0
        fi
        if [ -n "${FAILURE_MARKER:-}" ] && [ "$last" = "$FAILURE_MARKER" ]; then
            echo "$INSTANCE_ID reports $FAILURE_MARKER: see its console (aws ec2 get-console-output --latest)" >&2
            exit 1
        fi
    else
        # Transient API errors and IAM propagation heal; a lasting AccessDenied ends in the timeout below, with its text.
        echo "$INSTANCE_ID: get-console-output failed (poll $attempt): $output" >&2
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
        echo "timed out after ${timeout}s waiting for '$MARKER' on the console of $INSTANCE_ID (last marker: '${last:-none}')" >&2
        exit 1
    fi
    sleep "$poll"
done
