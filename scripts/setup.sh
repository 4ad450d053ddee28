#!/usr/bin/env bash
# Installs the Debian packages the validators, the tests and the local cloud use.
# Idempotent: installs only what is missing. Needs root (apt).
set -euo pipefail

packages=(
    cloud-init haproxy nginx mariadb-server mariadb-client shellcheck openssl systemd
    python3 python3-flask python3-pymysql gunicorn
    keepalived python3-boto3 curl
    debootstrap systemd-container iproute2 nftables wrk unbound
    prometheus prometheus-alertmanager prometheus-node-exporter prometheus-mysqld-exporter prometheus-blackbox-exporter
)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
    echo "setup: all ${#packages[@]} Debian packages are installed"
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing Debian packages: ${missing[*]}; run as root (or: sudo apt-get install ${missing[*]})" >&2
    exit 1
fi
echo "setup: installing ${missing[*]}"
# Services these packages ship must not start on the build machine: tests run the binaries themselves.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod +x "$policy"
    created_policy=1
fi
trap '[ "$created_policy" -eq 1 ] && rm -f "$policy"' EXIT
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
