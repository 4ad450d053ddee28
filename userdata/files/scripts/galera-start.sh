#!/bin/sh
# Starts MariaDB into its Galera cluster, by MariaDB's own means: a plain
# start joins the cluster (wsrep_cluster_address), galera_new_cluster starts
# a new one. A new cluster is started only where no other node can hold newer
# data:
#  - a node that finds a synced peer joins it (incremental transfer when the
#    peer's cache still has what it missed, else a snapshot);
#  - db-1 (GALERA_BOOTSTRAP=yes) starts a new cluster when it has no Galera
#    state at all (grastate.dat) and no peer answers: the cluster's first boot;
#  - any other node without Galera state is new: it waits (bounded) until the
#    nodes before it are synced, so a new cluster's nodes take their snapshots
#    one at a time, each from a donor that has finished its own setup;
#  - a node whose grastate.dat says safe_to_bootstrap: 1 (the last to leave a
#    cleanly stopped cluster) starts it again when no peer answers;
#  - after all nodes crashed, pc.recovery (gvwstate.dat) forms the cluster
#    again once every node is back;
#  - otherwise the node waits for a peer, bounded, then starts and joins what
#    it finds. README "Recovery after a full outage" has the one command for
#    the case none of this decides.
# Idempotent: a running server is left alone.
set -eu
. /etc/foobar/foobar.env

log() { echo "foobar-galera-start: $*"; }
state=/var/lib/mysql/grastate.dat
view=/var/lib/mysql/gvwstate.dat

# The number of peers whose health check says synced in the primary component.
synced_peers() {
    n=0
    for peer in $GALERA_PEERS; do
        if python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' \
            "http://$peer:$GALERA_CHECK_PORT/" >/dev/null 2>&1; then
            n=$((n + 1))
        fi
    done
    echo "$n"
}

if systemctl is-active --quiet mariadb; then
    log "mariadb is already running"
    exit 0
fi

join() {
    log "$1: joining the cluster"
    systemctl start mariadb
}
bootstrap() {
    log "$1: starting a new cluster (galera_new_cluster)"
    galera_new_cluster
}

# Waits (bounded) until at least $1 peers are synced; echoes the seconds waited.
wait_for_peers() {
    waited=0
    while [ "$(synced_peers)" -lt "$1" ] && [ "$waited" -lt "$2" ]; do
        sleep 5
        waited=$((waited + 5))
    done
    echo "$waited"
}

if [ ! -e "$state" ] && [ "$GALERA_BOOTSTRAP" != yes ]; then
    join "a new node, after waiting $(wait_for_peers "$GALERA_JOIN_AFTER" 480) s for the $GALERA_JOIN_AFTER node(s) before it to be synced"
elif [ "$(synced_peers)" -gt 0 ]; then
    join "a peer is synced"
elif [ ! -e "$state" ]; then
    bootstrap "no Galera state here and no synced peer"
elif grep -q '^safe_to_bootstrap: *1' "$state"; then
    bootstrap "this node left the cluster last (safe_to_bootstrap: 1) and no peer is synced"
elif [ -e "$view" ]; then
    join "the cluster crashed as a whole; pc.recovery forms it again from $view once every node is back"
else
    join "no peer is synced yet; waited $(wait_for_peers 1 120) s for one"
fi
