#!/bin/sh
# Keeps HAProxy on the configuration the deploy publishes (an SSM parameter
# on AWS, a file in the local cloud; the target's fetcher reads either), so
# backends and balancing settings change without a new load balancer:
# fetch, check with `haproxy -c`, install atomically, reload (hitless: the
# Debian unit runs HAProxy master-worker, and a reload hands the listeners to
# new workers while old ones finish their connections), then print the
# marker the deploy waits for. A configuration HAProxy rejects is never
# installed: the running one stays, and the marker says it was rejected.
#
# Usage: foobar-lb-config [CONFIG [STATE_FILE [FETCHER]]] (the defaults are the instance's paths).
set -u
[ -n "${LB_CONFIG_PARAMETER:-}" ] || . /etc/foobar/foobar.env
config=${1:-/etc/haproxy/haproxy.cfg}
state=${2:-/var/lib/foobar/lb-config.sha256}
fetch=${3:-/usr/local/sbin/foobar-fetch-secret}

new=$(mktemp "$(dirname "$config")/.haproxy.cfg.XXXXXX") || exit 1
trap 'rm -f "$new"' EXIT
if ! "$fetch" "$LB_CONFIG_PARAMETER" > "$new"; then
    echo "foobar-lb-config: cannot read $LB_CONFIG_PARAMETER yet; trying again on the next tick" >&2
    exit 1
fi
digest=$(sha256sum "$new" | cut -c1-16)
if [ "$(cat "$state" 2>/dev/null)" = "$digest" ] && cmp -s "$new" "$config"; then
    exit 0
fi
if ! haproxy -c -q -f "$new"; then
    echo "foobar-lb-config-rejected $digest"
    exit 1
fi
chmod 0644 "$new"
mv "$new" "$config"
if ! systemctl reload-or-restart haproxy.service; then
    echo "foobar-lb-config-rejected $digest"
    exit 1
fi
mkdir -p "$(dirname "$state")"
echo "$digest" > "$state"
echo "foobar-lb-config $digest"
