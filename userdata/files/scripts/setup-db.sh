#!/bin/sh
# Database server setup, run once by cloud-init after MariaDB is installed and
# its configuration written. Idempotent: a second run changes nothing.
#  - both roles: move the data directory onto the data volume (AWS), restart
#    with the rendered configuration (binlog, GTID, server id);
#  - primary: schema, app user (web tier addresses only), replication user
#    (replica addresses only);
#  - replica: wait for the primary (bounded), then replicate from it by GTID;
#  - galera: foobar-galera-setup starts the node into its cluster; only the
#    node that bootstraps it (db-1) writes the schema and users, which the
#    cluster replicates: a joiner writes nothing, it takes a donor's snapshot.
# Passwords travel only through stdin and a root-only option file, never argv or logs.
set -eu
. /etc/foobar/foobar.env
. /etc/foobar/target.env

log() { echo "foobar-setup-db: $*"; }
fail() { log "$*"; exit 1; }

secret() {
    value=$(/usr/local/sbin/foobar-fetch-secret "$1")
    case "$value" in
        "" | *[!A-Za-z0-9]*) fail "secret $1 is empty or not alphanumeric" ;;
    esac
    printf '%s' "$value"
}

sql() { mariadb --protocol=socket --user=root "$@"; }

prepare_data_volume() {
    waited=0
    while [ ! -b "$DATA_DEVICE" ]; do
        [ "$waited" -ge 300 ] && fail "data volume $DATA_DEVICE did not appear within 300 s"
        sleep 5
        waited=$((waited + 5))
    done
    if mountpoint -q /var/lib/mysql; then
        return
    fi
    if ! blkid "$DATA_DEVICE" >/dev/null 2>&1; then
        log "formatting the new data volume $DATA_DEVICE and copying the data directory onto it"
        mkfs.ext4 -q -L foobar-data "$DATA_DEVICE"
        mkdir -p /mnt/foobar-data
        mount "$DATA_DEVICE" /mnt/foobar-data
        rmdir /mnt/foobar-data/lost+found
        cp -a /var/lib/mysql/. /mnt/foobar-data/
        chown mysql:mysql /mnt/foobar-data
        chmod 0755 /mnt/foobar-data
        umount /mnt/foobar-data
    fi
    uuid=$(blkid -s UUID -o value "$DATA_DEVICE")
    grep -q "^UUID=$uuid " /etc/fstab || echo "UUID=$uuid /var/lib/mysql ext4 defaults,nofail 0 2" >> /etc/fstab
    mount /var/lib/mysql
}

# Picks up the restart drop-in cloud-init wrote after the package started mariadb.
systemctl daemon-reload
systemctl stop mariadb
if [ -n "$DATA_DEVICE" ]; then
    prepare_data_volume
fi
if [ "$DB_ROLE" = galera ]; then
    secret "$REPLICATION_PASSWORD_PARAMETER" | /usr/local/sbin/foobar-galera-setup start
else
    systemctl enable mariadb
    systemctl start mariadb
    log "mariadb is running as $DB_ROLE"
fi

# Service-level monitoring: the exporter logs in over the local socket as its own user (created on the primary,
# replicated to the replicas), with a password only it and root can read.
if [ -n "$EXPORTER_USER" ]; then
    exporter_password=$(secret "$EXPORTER_PASSWORD_PARAMETER")
    install -d -m 0755 "$(dirname "$EXPORTER_CONFIG")"
    umask 027
    printf '[client]\nuser=%s\npassword=%s\nsocket=/run/mysqld/mysqld.sock\n' "$EXPORTER_USER" "$exporter_password" > "$EXPORTER_CONFIG.tmp"
    chgrp prometheus "$EXPORTER_CONFIG.tmp"
    mv "$EXPORTER_CONFIG.tmp" "$EXPORTER_CONFIG"
    umask 022
    systemctl daemon-reload
    systemctl enable prometheus-mysqld-exporter
    systemctl restart prometheus-mysqld-exporter
fi

# The schema and users: written by the primary, or by the Galera node that bootstraps the cluster.
if [ "$DB_ROLE" = primary ] || { [ "$DB_ROLE" = galera ] && /usr/local/sbin/foobar-galera-setup writes; }; then
    app_password=$(secret "$APP_PASSWORD_PARAMETER")
    replication_password=$(secret "$REPLICATION_PASSWORD_PARAMETER")
    {
        echo "CREATE DATABASE IF NOT EXISTS \`$DB_NAME\`;"
        echo "CREATE TABLE IF NOT EXISTS \`$DB_NAME\`.entries (
            id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
            body VARCHAR(280) NOT NULL,
            served_by VARCHAR(64) NOT NULL,
            created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;"
        for host in $APP_HOSTS; do
            echo "CREATE USER IF NOT EXISTS '$APP_USER'@'$host' IDENTIFIED BY '$app_password';"
            echo "ALTER USER '$APP_USER'@'$host' IDENTIFIED BY '$app_password';"
            echo "GRANT SELECT, INSERT ON \`$DB_NAME\`.* TO '$APP_USER'@'$host';"
            echo "GRANT SLAVE MONITOR ON *.* TO '$APP_USER'@'$host';"
        done
        for host in $REPLICA_HOSTS; do
            echo "CREATE USER IF NOT EXISTS '$REPLICATION_USER'@'$host' IDENTIFIED BY '$replication_password';"
            echo "ALTER USER '$REPLICATION_USER'@'$host' IDENTIFIED BY '$replication_password';"
            echo "GRANT REPLICATION SLAVE ON *.* TO '$REPLICATION_USER'@'$host';"
        done
        if [ -n "$EXPORTER_USER" ]; then
            # PROCESS, REPLICATION CLIENT and SELECT as the exporter asks; SLAVE MONITOR is what SHOW SLAVE STATUS
            # needs since MariaDB 10.5 (REPLICATION CLIENT no longer covers it). Local socket only, few connections.
            echo "CREATE USER IF NOT EXISTS '$EXPORTER_USER'@'localhost' IDENTIFIED BY '$exporter_password' WITH MAX_USER_CONNECTIONS 3;"
            echo "ALTER USER '$EXPORTER_USER'@'localhost' IDENTIFIED BY '$exporter_password';"
            echo "GRANT PROCESS, REPLICATION CLIENT, SLAVE MONITOR, SELECT ON *.* TO '$EXPORTER_USER'@'localhost';"
        fi
    } | sql
    log "schema $DB_NAME and users are in place (app from: $APP_HOSTS; replication from: ${REPLICA_HOSTS:-none})"
    [ "$DB_ROLE" = galera ] && printf '%s' "$replication_password" | /usr/local/sbin/foobar-galera-setup users
fi
if [ "$DB_ROLE" = galera ]; then
    /usr/local/sbin/foobar-galera-setup open
fi
[ "$DB_ROLE" = replica ] || exit 0

if [ -n "$(sql -N -e 'SHOW SLAVE STATUS')" ]; then
    log "replication is already configured"
else
    replication_password=$(secret "$REPLICATION_PASSWORD_PARAMETER")
    client_config=$(mktemp)
    trap 'rm -f "$client_config"' EXIT
    printf '[client]\nuser=%s\npassword=%s\n' "$REPLICATION_USER" "$replication_password" > "$client_config"
    # The primary's own setup creates the replication user; wait for it, bounded.
    attempts=60
    attempt=1
    until reason=$(mariadb --defaults-extra-file="$client_config" --host="$DB_WRITER_HOST" --connect-timeout=3 -N -e 'SELECT 1' 2>&1); do
        [ "$attempt" -ge "$attempts" ] && fail "gave up waiting for the primary $DB_WRITER_HOST after $attempts attempts: $reason"
        log "waiting for the primary $DB_WRITER_HOST ($attempt/$attempts): $reason"
        attempt=$((attempt + 1))
        sleep 5
    done
    {
        echo "CHANGE MASTER TO MASTER_HOST='$DB_WRITER_HOST', MASTER_USER='$REPLICATION_USER',"
        echo "  MASTER_PASSWORD='$replication_password', MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=5;"
    } | sql
fi
echo "START SLAVE;" | sql

waited=0
until sql -e 'SHOW SLAVE STATUS\G' | grep -q 'Slave_SQL_Running: Yes' \
    && sql -e 'SHOW SLAVE STATUS\G' | grep -q 'Slave_IO_Running: Yes'; do
    if [ "$waited" -ge 120 ]; then
        fail "replication did not start within 120 s: $(sql -e 'SHOW SLAVE STATUS\G' | grep -E 'Last_(IO|SQL)_Error:' | tr '\n' ' ')"
    fi
    sleep 2
    waited=$((waited + 2))
done
log "replicating from $DB_WRITER_HOST"
