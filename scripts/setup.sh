#!/usr/bin/env bash
# Installs the Debian packages the validators, the tests and the local cloud use, and the AWS
# stand-ins the tests of the AWS scripts run on loopback (moto's server in a virtualenv, AWS's
# IMDS mock from the Go module proxy). Idempotent: installs only what is missing. Needs root.
set -euo pipefail

# The stand-ins, pinned (tests/awsStandIns.ts runs them).
moto_venv=/opt/foobar-moto
moto_version=5.2.6
imds_mock_dir=/opt/foobar-go/bin
imds_mock_version=v1.13.0
install_stand_ins() {
    if [ "$("$moto_venv/bin/python" -c 'import importlib.metadata as m; print(m.version("moto"))' 2>/dev/null)" != "$moto_version" ]; then
        echo "setup: installing moto[server]==$moto_version in $moto_venv"
        /usr/bin/python3 -m venv "$moto_venv"
        "$moto_venv/bin/pip" install -q "moto[server]==$moto_version"
    fi
    if [ "$("$imds_mock_dir/ec2-metadata-mock" --version 2>/dev/null)" != "$imds_mock_version" ]; then
        command -v go > /dev/null || { echo "setup: the Go toolchain is needed to install ec2-metadata-mock $imds_mock_version" >&2; exit 1; }
        echo "setup: installing ec2-metadata-mock $imds_mock_version in $imds_mock_dir"
        GOBIN="$imds_mock_dir" go install "github.com/aws/amazon-ec2-metadata-mock/cmd/ec2-metadata-mock@$imds_mock_version"
    fi
}

packages=(
    cloud-init haproxy nginx mariadb-server mariadb-client shellcheck openssl systemd
    python3 python3-flask python3-pymysql gunicorn
    keepalived python3-boto3 python3-venv curl awscli
    debootstrap systemd-container iproute2 nftables wrk unbound
    prometheus prometheus-alertmanager prometheus-node-exporter prometheus-mysqld-exporter prometheus-blackbox-exporter
)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
    echo "setup: all ${#packages[@]} Debian packages are installed"
    install_stand_ins
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
install_stand_ins
