#!/usr/bin/env bash
# Restarts taskhub's processes on this VM one at a time: each restart (SIGTERM, the
# process drains, systemd starts it again) waits until the new process answers
# /healthz before the next, so nginx always has processes to pass requests to.
#   sudo scripts/rolling-restart.sh            every taskhub@PORT that taskhub.target wants
#   sudo scripts/rolling-restart.sh 8001 8002  just these
set -euo pipefail

ports=("$@")
if [ ${#ports[@]} -eq 0 ]; then
    mapfile -t ports < <(systemctl show --property=Wants --value taskhub.target \
        | tr ' ' '\n' | sed -n 's/^taskhub@\([0-9]\+\)\.service$/\1/p' | sort -n)
fi
[ ${#ports[@]} -gt 0 ] || { echo "no taskhub@PORT units found" >&2; exit 1; }

for port in "${ports[@]}"; do
    echo "restarting taskhub@$port" >&2
    systemctl restart "taskhub@$port.service"
    healthy=
    for _ in $(seq 1 120); do
        if curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$port/healthz"; then
            healthy=1
            break
        fi
        sleep 0.5
    done
    if [ -z "$healthy" ]; then
        echo "taskhub@$port is not healthy after 60 s; stopping here (see journalctl -u taskhub@$port)" >&2
        exit 1
    fi
done
echo "restarted ${#ports[@]} processes" >&2
