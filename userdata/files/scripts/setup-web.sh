#!/bin/sh
# Web/app server setup, run once by cloud-init after nginx, gunicorn and the
# app's files are in place: fetch the database password, start the database
# sidecar (Galera), start gunicorn, put nginx in front of it.
set -eu
. /etc/foobar/foobar.env

log() { echo "foobar-setup-web: $*"; }

log "fetching the database password from $APP_PASSWORD_PARAMETER"
umask 027
password=$(/usr/local/sbin/foobar-fetch-secret "$APP_PASSWORD_PARAMETER")
printf 'DB_PASSWORD="%s"\n' "$password" > /etc/foobar/app.env.tmp
unset password
chgrp www-data /etc/foobar/app.env.tmp
mv /etc/foobar/app.env.tmp /etc/foobar/app.env
umask 022

systemctl daemon-reload
# With a Galera cluster, the app's database endpoints are the local HAProxy sidecar's: up before the app.
if [ -n "${DB_SIDECAR:-}" ]; then
    haproxy -c -q -f /etc/haproxy/haproxy.cfg
    systemctl enable haproxy
    systemctl restart haproxy
    log "the database sidecar (haproxy) listens on $DB_WRITER_HOST and $DB_READER_HOST"
fi
systemctl enable foobar-app.service
systemctl restart foobar-app.service

rm -f /etc/nginx/sites-enabled/default
ln -sf /etc/nginx/sites-available/foobar /etc/nginx/sites-enabled/foobar
nginx -t -q
systemctl enable nginx
systemctl restart nginx
# The console marker the deploy waits for before it touches the next web server.
systemctl enable --now --no-block foobar-ready.service

# Ready when the app answers through nginx, which is what the load balancer checks.
for _ in $(seq 1 30); do
    if python3 -c 'import sys, urllib.request; sys.exit(urllib.request.urlopen("http://127.0.0.1/healthz", timeout=2).status != 200)' 2>/dev/null; then
        log "the app answers on /healthz"
        exit 0
    fi
    sleep 1
done
log "the app does not answer on /healthz after 30 s; see: journalctl -u foobar-app -u nginx"
exit 1
