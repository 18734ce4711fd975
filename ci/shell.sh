#!/usr/bin/env bash
# A shell as hermes in a fresh container of hermes-s6:latest, removed on exit.
set -euo pipefail
name="hermes-shell-$$"
docker run -d --name "$name" hermes-s6:latest >/dev/null
trap 'docker rm -f "$name" >/dev/null 2>&1 || true' EXIT
# Wait (bounded) for the per-boot readiness marker, as the suite does.
for _ in $(seq 1 300); do
  docker exec -u hermes "$name" test -e /run/hermes/ready 2>/dev/null && break
  sleep 0.1
done
echo "container $name: you are hermes (uid 10000); s6 programs are under /command; exit to remove it"
docker exec -it -u hermes -w /opt/data "$name" sh
