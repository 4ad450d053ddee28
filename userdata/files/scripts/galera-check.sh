#!/bin/bash
# Galera health check for the web servers' HAProxy (option httpchk), run by
# systemd once per connection with the connection on stdin and stdout.
# 200 when this node is synced (wsrep_local_state 4) in the primary
# component, 503 otherwise: a donor, a joiner, a node cut off from the
# majority, or a stopped server. The request is read to its end first: an
# answer to an unread request ends in a TCP reset, which HAProxy counts as a
# failed check.
set -u

while IFS= read -r -t 2 line; do
    line=${line%$'\r'}
    [ -z "$line" ] && break
done

status=$(mariadb --protocol=socket --connect-timeout=2 -N -B \
    -e "SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_local_state', 'wsrep_cluster_status')" 2>/dev/null)
local_state=$(printf '%s\n' "$status" | awk '$1 == "wsrep_local_state" { print $2 }')
cluster_status=$(printf '%s\n' "$status" | awk '$1 == "wsrep_cluster_status" { print $2 }')

if [ "$local_state" = 4 ] && [ "$cluster_status" = Primary ]; then
    code="200 OK"
    body="synced in the primary component"
else
    code="503 Service Unavailable"
    body="not serving: wsrep_local_state=${local_state:-unknown} wsrep_cluster_status=${cluster_status:-unknown}"
fi
printf 'HTTP/1.1 %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s\n' \
    "$code" "$((${#body} + 1))" "$body"
