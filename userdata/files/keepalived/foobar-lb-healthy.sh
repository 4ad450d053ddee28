#!/bin/sh
# keepalived's track script: this load balancer may hold the public address
# only while HAProxy answers with the site's configuration (the stats
# frontend, whose URL keepalived.conf passes, exists only there, not in the
# package's default configuration).
# Usage: foobar-lb-healthy URL
exec python3 -c 'import sys, urllib.request; sys.exit(urllib.request.urlopen(sys.argv[1], timeout=1).status != 200)' "$1" 2>/dev/null
