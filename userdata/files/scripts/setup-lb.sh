#!/bin/sh
# Load balancer setup, run once by cloud-init after haproxy is installed and
# /etc/haproxy/haproxy.cfg is written.
set -eu
. /etc/foobar/foobar.env

log() { echo "foobar-setup-lb: $*"; }

if [ -n "$TLS_PARAMETER" ]; then
    log "fetching the TLS certificate from $TLS_PARAMETER"
    install -d -m 0750 -o root -g haproxy "$(dirname "$TLS_CERTIFICATE_PATH")"
    umask 027
    /usr/local/sbin/foobar-fetch-secret "$TLS_PARAMETER" > "$TLS_CERTIFICATE_PATH.tmp"
    chgrp haproxy "$TLS_CERTIFICATE_PATH.tmp"
    mv "$TLS_CERTIFICATE_PATH.tmp" "$TLS_CERTIFICATE_PATH"
fi

haproxy -c -q -f /etc/haproxy/haproxy.cfg
# Picks up the restart drop-in cloud-init wrote after the package started haproxy.
systemctl daemon-reload
systemctl enable haproxy
systemctl restart haproxy
log "haproxy is running"
# The site's configuration comes from the deploy's parameter, installed and reloaded by this timer.
systemctl enable --now foobar-lb-config.timer
