#!/usr/bin/env bash
# Restart the webhook workers one at a time (a deploy): each is stopped with SIGTERM, started again, and
# the next waits until it listens. nginx sends the posts to the others meanwhile.
set -euo pipefail
ports=("${@:-8441 8442 8443}")
for port in ${ports[@]}; do
  systemctl restart "zhitong-worker@${port}"
  for _ in $(seq 1 120); do
    if (exec 3<>"/dev/tcp/127.0.0.1/${port}") 2>/dev/null; then break; fi
    sleep 1
  done
  echo "worker ${port} is back"
done
