#!/bin/sh
# The readiness signal of a web server: once the app answers through nginx
# (what the load balancer checks), print the marker to the console, where
# the deploy reads it (ec2:GetConsoleOutput; the local cloud's console log).
# The deploy replaces web servers one at a time and touches the next only
# after this marker (components/readiness.ts).
#
# Usage: foobar-ready [URL [ATTEMPTS]] (one attempt a second).
set -u
url=${1:-http://127.0.0.1/healthz}
attempts=${2:-180}
i=0
while [ "$i" -lt "$attempts" ]; do
    if python3 -c 'import sys, urllib.request; sys.exit(urllib.request.urlopen(sys.argv[1], timeout=2).status != 200)' "$url" 2>/dev/null; then
        echo "foobar-ready"
        exit 0
    fi
    i=$((i + 1))
    sleep 1
done
echo "foobar-not-ready: $url did not answer 200 within $attempts attempts; see journalctl -u foobar-app -u nginx"
exit 1
