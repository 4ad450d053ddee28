#!/bin/sh
# keepalived's track script: this load balancer may hold the public address
# only while HAProxy answers with the site's configuration (the stats
# frontend, whose URL keepalived.conf passes, exists only there, not in the
# package's default configuration).
# curl, not an interpreter: keepalived gives the script 1 s, and a Python
# start alone takes 0.6-0.9 s on a saturated 2-core host, which made the pair
# drop its address while a busy machine booted.
# Usage: foobar-lb-healthy URL
exec curl --silent --fail --output /dev/null --max-time 1 "$1"
