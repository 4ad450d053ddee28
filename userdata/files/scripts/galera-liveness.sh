#!/bin/sh
# A Galera node's liveness check (foobar-galera-liveness.timer; its period and
# the grace below are galeraLiveness in userdata/database.ts):
# restarts MariaDB when it runs but has left its cluster for good.
#
# Galera closes its group connection after an error it cannot recover from in
# process, and MariaDB then runs on, out of the cluster, until something
# restarts it. Seen here: two nodes joining at once after a full outage, one
# took an incremental transfer from the other, which had just joined itself,
# and got "Receiving IST failed, node restart required: IST didn't contain all
# write sets" (mariadb-corporation/galera#364). Such a node says
# wsrep_cluster_status Disconnected (and wsrep_connected OFF). A node cut off
# from its peers does not: it stays connected (non-Primary) and rejoins by
# itself when the network is back, so it is left alone.
#
# A restart joins the cluster as any start of mariadb.service does; it never
# starts a new one. Argument: the seconds MariaDB must have run first (a
# starting server is briefly disconnected while it opens its connection).
set -eu

grace=${1:?usage: foobar-galera-liveness GRACE_SECONDS}
log() { echo "foobar-galera-liveness: $*"; }

systemctl is-active --quiet mariadb || exit 0
# A server that does not answer is systemd's business (it restarts a crashed one), not this check's.
status=$(mariadb --protocol=socket --user=root -N -B -e "SHOW GLOBAL VARIABLES LIKE 'wsrep_on'; SHOW GLOBAL STATUS WHERE Variable_name IN ('Uptime', 'wsrep_cluster_status')" 2>/dev/null) || exit 0
value() { printf '%s\n' "$status" | awk -v name="$1" '$1 == name { print $2 }'; }

uptime=$(value Uptime)
if [ "$(value wsrep_on)" = ON ] && [ "$(value wsrep_cluster_status)" = Disconnected ] && [ "${uptime:-0}" -ge "$grace" ]; then
    log "MariaDB has run for $uptime s outside its cluster (wsrep_cluster_status Disconnected): restarting it to rejoin"
    systemctl restart mariadb
    log "MariaDB restarted"
fi
