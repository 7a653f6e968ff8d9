#!/usr/bin/env bash
# What the scale-out tests and bench/cluster.py need beyond the virtualenv: Debian's nginx (the proxy in
# front of the webhook workers). PostgreSQL and Redis are the machine's own services (127.0.0.1).
set -euo pipefail
if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
  echo "setup: installing nginx (Debian package) …" >&2
  (apt-get -qq update && DEBIAN_FRONTEND=noninteractive apt-get -qq install -y nginx >/dev/null) \
    || { echo "error: could not install nginx; the cluster tests need it" >&2; exit 1; }
fi
