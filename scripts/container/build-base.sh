#!/usr/bin/env bash
# Makes the base images our Dockerfiles name available without a registry, tagged with the exact
# names their FROM lines use:
#
#   docker.io/library/debian:bookworm-slim   Debian bookworm from debootstrap (the Debian mirror apt
#                                            uses here), slimmed like the official slim image;
#                                            FROM of deploy/kamailio/Dockerfile
#   docker.io/library/node:24-bookworm-slim  the same plus the Node 24 binary from the npm package
#                                            `node` (the project's devDependency) and npm from the
#                                            npm package `npm`; FROM of the exporter's Dockerfile
#
# The node image provides what our Dockerfile relies on from the real one: /usr/local/bin/node, npm
# and npx, a `node` user and group with uid/gid 1000 and home /home/node, /bin/sh, PATH, and the same
# docker-entrypoint.sh/CMD. (The real image also carries yarn and corepack; we use neither.)
#
# Cached by a hash of every input (this script, node binary, npm tarball, suite, mirror): the rootfs
# tarballs live in $CACHE_DIR/base/, the .debs in $CACHE_DIR/debs/, and an image is re-imported from
# its tarball in seconds when only the buildah store was lost.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"

SUITE=${DEBIAN_SUITE:-bookworm}
NPM_VERSION=${NPM_VERSION:-11.19.1}
NODE_BIN=${NODE_BIN:-$ROOT/node_modules/node/bin/node}

need_root
need_cmd buildah debootstrap tar sha256sum

# The Debian mirror apt uses on this machine (deb822 .sources or one-line sources.list).
debian_mirror() {
  local f uri
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -e "$f" ] || continue
    uri=$(awk -v s="$SUITE" '
      /^URIs:/ { u = $2 } /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == s) hit = 1 }
      /^$/ { if (hit && u != "") { print u; exit } u = ""; hit = 0 }
      END { if (hit && u != "") print u }' "$f" | head -n1)
    [ -n "$uri" ] && { echo "$uri"; return; }
  done
  uri=$(awk -v s="$SUITE" '$1 == "deb" && $0 !~ /security/ { for (i = 2; i <= NF; i++) if ($i == s) { print $(i - 1); exit } }' \
    /etc/apt/sources.list 2>/dev/null | sed 's/^\[.*\]$//' | head -n1)
  echo "${uri:-http://deb.debian.org/debian}"
}
MIRROR=${DEBIAN_MIRROR:-$(debian_mirror)}

[ -x "$NODE_BIN" ] || die "no Node binary at $NODE_BIN (run npm ci: the devDependency \`node\` ships it)"
NODE_VERSION=$("$NODE_BIN" --version | sed 's/^v//')
case "$NODE_VERSION" in 24.*) ;; *) die "expected Node 24 at $NODE_BIN, found $NODE_VERSION" ;; esac

mkdir -p "$CACHE_DIR/downloads" "$CACHE_DIR/base" "$CACHE_DIR/debs"
NPM_TGZ="$CACHE_DIR/downloads/npm-$NPM_VERSION.tgz"
if [ ! -s "$NPM_TGZ" ]; then
  log "fetching npm $NPM_VERSION from the npm registry"
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "npm@$NPM_VERSION" >/dev/null)
  mv "$tmp/npm-$NPM_VERSION.tgz" "$NPM_TGZ"
  rm -rf "$tmp"
fi

KEY=$( {
  sha256sum "$HERE/build-base.sh" | cut -d' ' -f1
  sha256sum "$NODE_BIN" | cut -d' ' -f1
  sha256sum "$NPM_TGZ" | cut -d' ' -f1
  echo "$SUITE $MIRROR $NODE_VERSION $NPM_VERSION"
} | sha256sum | cut -c1-16)
TARBALL="$CACHE_DIR/base/node-$NODE_VERSION-$SUITE-$KEY.tar"
DEBIAN_TARBALL="$CACHE_DIR/base/debian-$SUITE-$KEY.tar"
LABEL=org.sip-response-exporter.ci.base-key

current() { [ "$(bh inspect --type image --format "{{index .OCIv1.Config.Labels \"$LABEL\"}}" "$1" 2>/dev/null || true)" = "$KEY" ]; }
if current "$BASE_IMAGE" && current "$DEBIAN_IMAGE"; then
  log "base images $BASE_IMAGE and $DEBIAN_IMAGE are current (key $KEY)"
  exit 0
fi

if [ ! -s "$TARBALL" ] || [ ! -s "$DEBIAN_TARBALL" ]; then
  t0=$(date +%s.%N)
  log "assembling the base rootfs: debootstrap $SUITE from $MIRROR + node $NODE_VERSION + npm $NPM_VERSION"
  work=$(mktemp -d /var/tmp/sip-exporter-base.XXXXXX)
  cleanup() {
    # debootstrap mounts proc/sys inside the target; never leave them behind.
    for m in proc sys dev/pts dev; do umount -l "$work/rootfs/$m" 2>/dev/null || true; done
    rm -rf --one-file-system "$work"
  }
  trap cleanup EXIT
  rootfs="$work/rootfs"
  debootstrap --variant=minbase --cache-dir="$CACHE_DIR/debs" "$SUITE" "$rootfs" "$MIRROR" >"$work/debootstrap.log" 2>&1 ||
    { tail -n 30 "$work/debootstrap.log" >&2; die "debootstrap failed (log above)"; }
  log "debootstrap done in $(since "$t0") s"

  # Slim it down the way debian:*-slim does: no docs, man pages, locales or apt lists.
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb \
    "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/var/log/*.log
  find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name 'locale.alias' -exec rm -rf {} + 2>/dev/null || true
  for m in proc sys dev/pts dev; do umount -l "$rootfs/$m" 2>/dev/null || true; done
  tar -C "$rootfs" --numeric-owner --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' -cf "$DEBIAN_TARBALL.part" .
  mv "$DEBIAN_TARBALL.part" "$DEBIAN_TARBALL"

  # Node and npm where the official image has them.
  install -m 0755 "$NODE_BIN" "$rootfs/usr/local/bin/node"
  mkdir -p "$rootfs/usr/local/lib/node_modules/npm"
  tar -xzf "$NPM_TGZ" -C "$rootfs/usr/local/lib/node_modules/npm" --strip-components=1 --no-same-owner
  ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
  ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"

  # The `node` user of the official image (uid/gid 1000, bash, home directory).
  chroot "$rootfs" groupadd --gid 1000 node
  chroot "$rootfs" useradd --uid 1000 --gid node --shell /bin/bash --create-home node

  # Same behaviour as the official docker-entrypoint.sh: flags or a non-command run under node.
  cat >"$rootfs/usr/local/bin/docker-entrypoint.sh" <<'SH'
#!/bin/sh
set -e
if [ "${1#-}" != "${1}" ] || [ -z "$(command -v "${1}")" ] || { [ -f "${1}" ] && ! [ -x "${1}" ]; }; then
  set -- node "$@"
fi
exec "$@"
SH
  chmod 0755 "$rootfs/usr/local/bin/docker-entrypoint.sh"

  chroot "$rootfs" /usr/local/bin/node --version >/dev/null || die "node does not run inside the new rootfs"
  chroot "$rootfs" /usr/local/bin/npm --version >/dev/null || die "npm does not run inside the new rootfs"

  for m in proc sys dev/pts dev; do umount -l "$rootfs/$m" 2>/dev/null || true; done
  t1=$(date +%s.%N)
  tar -C "$rootfs" --numeric-owner --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' -cf "$TARBALL.part" .
  mv "$TARBALL.part" "$TARBALL"
  log "rootfs tarball $(du -m "$TARBALL" | cut -f1) MB written in $(since "$t1") s"
  # Older tarballs of this cache are superseded.
  find "$CACHE_DIR/base" -name '*.tar' ! -path "$TARBALL" ! -path "$DEBIAN_TARBALL" -delete
  cleanup
  trap - EXIT
fi

# import TARBALL IMAGE CONFIG-ARGS...: a one-layer image from a rootfs tarball.
import_image() {
  local tarball=$1 image=$2 t ctr
  shift 2
  t=$(date +%s.%N)
  ctr=$(bh from --pull=false scratch)
  bh add "$ctr" "$tarball" / >/dev/null || { bh rm "$ctr" >/dev/null; die "cannot add $tarball"; }
  bh config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@" \
    --label "$LABEL=$KEY" \
    --label org.sip-response-exporter.ci.note="local stand-in for $image, built by scripts/container/build-base.sh" \
    "$ctr"
  bh commit --quiet --rm "$ctr" "$image" >/dev/null
  log "imported $image (key $KEY) in $(since "$t") s"
}
current "$DEBIAN_IMAGE" || import_image "$DEBIAN_TARBALL" "$DEBIAN_IMAGE" --cmd bash
current "$BASE_IMAGE" || import_image "$TARBALL" "$BASE_IMAGE" \
  --env NODE_VERSION="$NODE_VERSION" --entrypoint '["docker-entrypoint.sh"]' --cmd node
