#!/bin/sh
# Run by the deploy (a @pulumi/command local.Command, on the machine running
# `pulumi up`) before lb-1 of the load-balancer pair is created or replaced:
# waits until the site's Elastic IP is held by an instance that stays.
#
# - On lb-2 (INSTANCE_ID): lb-1 may go. This is the case on a new pair and on
#   the way from one load balancer to two, where lb-2 is VRRP master alone and
#   its notify script must have taken the address from the old lb-1. If it
#   cannot (its role may not associate the address), deleting lb-1 would leave
#   the site without its address: the gate times out and lb-1 is not touched.
# - On another instance tagged MEMBER_TAG_KEY=MEMBER_TAG_VALUE: a member of the
#   pair (lb-1, master after lb-2's own replacement); keepalived on lb-2 takes
#   the address when lb-1 leaves.
# - Nowhere, or on an instance of no pair (a lone load balancer's): wait.
#
# Environment:
#   ALLOCATION_ID, INSTANCE_ID, AWS_REGION   the address, lb-2, where
#   MEMBER_TAG_KEY, MEMBER_TAG_VALUE         the tag every member of the pair carries
#   TIMEOUT_SECONDS, POLL_SECONDS            bounds of the wait (default 900 and 10)
#   EC2_ENDPOINT_URL                         tests only: another EC2 endpoint
# Calls ec2:DescribeAddresses and ec2:DescribeTags (neither takes a resource).
set -u
: "${ALLOCATION_ID:?}" "${INSTANCE_ID:?}" "${AWS_REGION:?}" "${MEMBER_TAG_KEY:?}" "${MEMBER_TAG_VALUE:?}"
timeout=${TIMEOUT_SECONDS:-900}
poll=${POLL_SECONDS:-10}
if ! command -v aws > /dev/null 2>&1; then
    echo "wait-for-address-holder: the aws CLI is not installed on the machine running pulumi up" >&2
    exit 1
fi
ec2() {
    if [ -n "${EC2_ENDPOINT_URL:-}" ]; then
        aws ec2 --region "$AWS_REGION" --endpoint-url "$EC2_ENDPOINT_URL" --output text "$@"
    else
        aws ec2 --region "$AWS_REGION" --output text "$@"
    fi
}
deadline=$(($(date +%s) + timeout))
attempt=0
holder=
while :; do
    attempt=$((attempt + 1))
    if holder=$(ec2 describe-addresses --allocation-ids "$ALLOCATION_ID" --query 'Addresses[0].InstanceId' 2>&1); then
        # The CLI's text output says an unassociated address's InstanceId is "None" (v1) or "" (v2).
        [ "$holder" != None ] || holder=
        if [ "$holder" = "$INSTANCE_ID" ]; then
            echo "$ALLOCATION_ID is on $INSTANCE_ID (after $attempt polls)"
            exit 0
        fi
        if [ -n "$holder" ]; then
            if member=$(ec2 describe-tags --filters "Name=resource-id,Values=$holder" "Name=key,Values=$MEMBER_TAG_KEY" \
                --query 'Tags[0].Value' 2>&1); then
                if [ "$member" = "$MEMBER_TAG_VALUE" ]; then
                    echo "$ALLOCATION_ID is on $holder, $INSTANCE_ID's peer: keepalived on $INSTANCE_ID takes it when $holder leaves"
                    exit 0
                fi
            else
                echo "$ALLOCATION_ID: describe-tags failed (poll $attempt): $member" >&2
            fi
        fi
    else
        # Transient API errors and IAM propagation heal; a lasting AccessDenied ends in the timeout below, with its text.
        echo "$ALLOCATION_ID: describe-addresses failed (poll $attempt): $holder" >&2
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
        echo "timed out after ${timeout}s waiting for $ALLOCATION_ID to move to $INSTANCE_ID (held by: '${holder:-none}');" \
            "lb-1 is not touched. See keepalived and foobar-take-public-address in $INSTANCE_ID's journal" >&2
        exit 1
    fi
    sleep "$poll"
done
