#!/usr/bin/env bash
# Runs the built image as a user would, against a PostgreSQL on this machine
# (a database of its own, dropped at the end), and says what it saw:
#   1. the migration command of docs/operations.md, without JWT_SECRET,
#   2. the server (no MIGRATE_ON_START), until its HEALTHCHECK says healthy,
#      /ready 200 and an API request answered 401 without a token,
#   3. `podman stop -t 15`: exit 0 and the "shutdown complete" log line.
#   bash scripts/image/smoke.sh [TAG]
# Env: ADMIN_URL (default postgresql://root@127.0.0.1:5432/test), PORT (default 3900).
# The container uses the host's network, so 127.0.0.1 is this machine's.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export CONTAINERS_CONF=${CONTAINERS_CONF:-$here/containers.conf}
tag=${1:-crm-service}
admin=${ADMIN_URL:-postgresql://root@127.0.0.1:5432/test}
port=${PORT:-3900}
db=crm_image_smoke_$$
url=${admin%/*}/$db
name=crm-smoke-$$
secret=smoke-secret-that-is-at-least-32-characters

cleanup () {
  podman rm -f "$name" >/dev/null 2>&1 || true
  psql -q "$admin" -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
}
trap cleanup EXIT
psql -q "$admin" -c "CREATE DATABASE $db"

echo "smoke: 1. migrate (NODE_ENV=production, no JWT_SECRET)"
podman run --rm --network host -e DATABASE_URL="$url" "$tag" node dist/src/cli/migrate.js

echo "smoke: 2. serve"
podman run -d --name "$name" --network host -e DATABASE_URL="$url" -e JWT_SECRET="$secret" -e PORT="$port" -e HOST=127.0.0.1 "$tag" >/dev/null
for _ in $(seq 1 60); do
  status=$(podman inspect --format '{{.State.Health.Status}}' "$name" 2>/dev/null || echo none)
  # No systemd timers here: run the image's HEALTHCHECK as the timer would.
  podman healthcheck run "$name" >/dev/null 2>&1 || true
  [ "$status" = healthy ] && break
  sleep 1
done
echo "smoke: health: $status (HEALTHCHECK: $(podman inspect --format '{{json .Config.Healthcheck.Test}}' "$name"))"
[ "$status" = healthy ] || { podman logs "$name" | tail -n 20; exit 1; }
echo "smoke: user: $(podman exec "$name" id -u), node $(podman exec "$name" node --version)"
echo "smoke: /ready: $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/ready"), /api/v1/users/me without a token: $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/api/v1/users/me")"

echo "smoke: 3. podman stop -t 15"
started=$(date +%s)
podman stop -t 15 "$name" >/dev/null
code=$(podman inspect --format '{{.State.ExitCode}}' "$name")
echo "smoke: stopped in $(( $(date +%s) - started )) s, exit code $code; last log line:"
podman logs "$name" 2>&1 | tail -n 1
[ "$code" = 0 ] && podman logs "$name" 2>&1 | tail -n 1 | grep -q '"shutdown complete"'
echo "smoke: passed"
