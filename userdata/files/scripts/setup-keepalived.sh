#!/bin/sh
# A load balancer of the pair, after setup-lb.sh: keepalived learns what only
# this instance knows (its interface, the VRRP password) from a file of its
# own, readable by root only, and starts. Its track script keeps it in FAULT,
# away from the public address, until HAProxy serves the site.
set -eu
. /etc/foobar/foobar.env

log() { echo "foobar-setup-keepalived: $*"; }

interface=$(ip -o -4 route show default | awk '{ print $5; exit }')
[ -n "$interface" ] || { log "no default route: cannot tell keepalived its interface"; exit 1; }
umask 077
password=$(/usr/local/sbin/foobar-fetch-secret "$VRRP_PASSWORD_PARAMETER")
# keepalived's parameter definitions (\044 is a dollar sign, which keepalived reads and the shell leaves alone).
printf '\044INTERFACE=%s\n\044VRRP_PASSWORD=%s\n' "$interface" "$password" > /etc/keepalived/runtime.conf.tmp
mv /etc/keepalived/runtime.conf.tmp /etc/keepalived/runtime.conf
systemctl daemon-reload
systemctl enable keepalived
systemctl restart keepalived
log "keepalived is running on $interface"
