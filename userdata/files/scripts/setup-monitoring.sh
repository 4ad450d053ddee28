#!/bin/sh
# Monitoring instance setup, run once by cloud-init after Prometheus, Alertmanager and the blackbox exporter are
# installed and their rendered configuration written: check the configuration with the packages' own tools,
# put Debian's example console libraries where the console finds them, restart with the rendered files.
set -eu
. /etc/foobar/foobar.env

log() { echo "foobar-setup-monitoring: $*"; }

promtool check config --syntax-only /etc/prometheus/prometheus.yml
promtool check rules /etc/prometheus/rules/*.yml
amtool check-config /etc/prometheus/alertmanager.yml
for lib in /usr/share/doc/prometheus/examples/console_libraries/*.lib; do
    install -m 0644 "$lib" /etc/prometheus/console_libraries/
done

# Picks up the restart drop-ins cloud-init wrote after the packages started their daemons.
systemctl daemon-reload
# The package started Prometheus with its example configuration (job prometheus, localhost:9090) before ours was
# written; those series would linger for the 5-minute lookback as a target nobody configured. This runs once, on
# the instance's first boot, so the database holds nothing else yet.
systemctl stop prometheus
find /var/lib/prometheus/metrics2 -mindepth 1 -delete
for unit in prometheus prometheus-alertmanager prometheus-blackbox-exporter prometheus-node-exporter; do
    systemctl enable "$unit"
    systemctl restart "$unit"
done

ready() { python3 -c 'import sys, urllib.request; sys.exit(urllib.request.urlopen(sys.argv[1], timeout=2).status != 200)' "$1" 2>/dev/null; }
for _ in $(seq 1 60); do
    if ready "http://127.0.0.1:$PROMETHEUS_PORT/-/ready" && ready "http://127.0.0.1:$ALERTMANAGER_PORT/-/ready"; then
        log "prometheus and alertmanager are ready"
        exit 0
    fi
    sleep 1
done
log "prometheus or alertmanager is not ready after 60 s; see: journalctl -u prometheus -u prometheus-alertmanager"
exit 1
