#!/bin/sh
# The Galera steps of a database server's setup; setup-db.sh runs them on
# Galera nodes, with the secret it fetched on stdin where one is needed.
#   start   write the snapshot transfer's login (password on stdin), start
#           MariaDB into the cluster through foobar-galera (and the liveness
#           check that restarts it if it ends outside), wait until synced;
#   writes  succeeds on the node that writes the schema and users: the one
#           that bootstraps the cluster (db-1); the cluster replicates them;
#   users   (that node) the snapshot transfer's login for mariabackup on the
#           donor and the health check's account (password on stdin);
#   open    answer the health check: last, so a node takes traffic, or serves
#           as a donor, once its setup is done.
set -eu
. /etc/foobar/foobar.env

log() { echo "foobar-galera-setup: $*"; }
fail() { log "$*"; exit 1; }
sql() { mariadb --protocol=socket --user=root "$@"; }
status() { sql -N -B -e "SHOW GLOBAL STATUS LIKE '$1'" | cut -f2; }

case "${1:-}" in
start)
    password=$(cat)
    # Readable by root and mysql only (the donor's snapshot script runs as mysql).
    umask 027
    printf '[mysqld]\nwsrep_sst_auth = %s:%s\n' "$REPLICATION_USER" "$password" > "$GALERA_SST_CONFIG.tmp"
    chgrp mysql "$GALERA_SST_CONFIG.tmp"
    mv "$GALERA_SST_CONFIG.tmp" "$GALERA_SST_CONFIG"
    umask 022
    id -u "$GALERA_CHECK_USER" >/dev/null 2>&1 \
        || useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$GALERA_CHECK_USER"
    # foobar-galera starts MariaDB at boot: mariadb.service alone would neither bootstrap nor wait for its turn.
    systemctl disable mariadb
    systemctl daemon-reload
    systemctl enable foobar-galera.service
    # From the first start on: a join can end outside the cluster for good (galera-liveness.sh says when).
    systemctl enable --now foobar-galera-liveness.timer
    systemctl start foobar-galera.service
    waited=0
    until [ "$(status wsrep_local_state 2>/dev/null)" = 4 ]; do
        [ "$waited" -ge 600 ] && fail "$GALERA_NODE_NAME is not synced with its cluster after 600 s; see: journalctl -u mariadb -u foobar-galera"
        sleep 2
        waited=$((waited + 2))
    done
    log "$GALERA_NODE_NAME is synced in a cluster of $(status wsrep_cluster_size) node(s)"
    ;;
writes)
    [ "$GALERA_BOOTSTRAP" = yes ]
    ;;
users)
    password=$(cat)
    {
        echo "CREATE USER IF NOT EXISTS '$REPLICATION_USER'@'localhost' IDENTIFIED BY '$password';"
        echo "ALTER USER '$REPLICATION_USER'@'localhost' IDENTIFIED BY '$password';"
        echo "GRANT RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR ON *.* TO '$REPLICATION_USER'@'localhost';"
        # Status only: no privilege, the OS user of the same name, the local socket.
        echo "CREATE USER IF NOT EXISTS '$GALERA_CHECK_USER'@'localhost' IDENTIFIED VIA unix_socket WITH MAX_USER_CONNECTIONS 10;"
    } | sql
    log "the snapshot transfer's login and the health check's account are in place"
    ;;
open)
    systemctl enable --now foobar-galera-check.socket
    log "the health check answers on port $GALERA_CHECK_PORT"
    ;;
*)
    fail "usage: foobar-galera-setup start|writes|users|open"
    ;;
esac
