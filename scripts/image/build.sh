#!/usr/bin/env bash
# Builds the service's image with podman, as a user would, and prints its size
# and the build time. --format docker keeps the HEALTHCHECK (podman's default
# OCI format drops it). Needs the Dockerfile's base image: from a registry, or
# made locally by make-base.sh.
#   bash scripts/image/build.sh [TAG] [podman build options, e.g. --build-arg EMBEDDED_POSTGRES=false]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
export CONTAINERS_CONF=${CONTAINERS_CONF:-$here/containers.conf}
tag=${1:-crm-service}
shift || true
# A TLS-intercepting proxy's CA (NODE_EXTRA_CA_CERTS on this machine) is
# mounted into the build so npm ci inside it trusts the registry too.
ca=()
if [ -n "${NODE_EXTRA_CA_CERTS:-}" ] && [ -f "$NODE_EXTRA_CA_CERTS" ]; then
  ca=(--volume "$NODE_EXTRA_CA_CERTS:/run/build-ca.crt:ro" --build-arg NODE_EXTRA_CA_CERTS=/run/build-ca.crt)
fi
started=$(date +%s)
podman build --format docker -t "$tag" "${ca[@]}" "$@" "$root"
echo "build: $(( $(date +%s) - started )) s; image $tag: $(podman image inspect --format '{{.Size}}' "$tag" | awk '{ printf "%.0f MB", $1 / 1e6 }')"
