# Shared settings for the container scripts (sourced, not run).
# shellcheck shell=bash

# Everything slow is cached here, keyed by a hash of its inputs. CI keeps this directory between runs.
CACHE_DIR=${SIP_EXPORTER_CI_CACHE:-/var/cache/sip-response-exporter-ci}
# The base image name the Dockerfile's FROM uses. Elsewhere it is pulled from Docker Hub; here it is
# assembled locally (build-base.sh) because no registry can be reached for images.
BASE_IMAGE=${BASE_IMAGE:-docker.io/library/node:24-bookworm-slim}
# The base of the demo proxy image (deploy/kamailio/Dockerfile), assembled the same way.
DEBIAN_IMAGE=${DEBIAN_IMAGE:-docker.io/library/debian:bookworm-slim}
IMAGE=${IMAGE:-localhost/sip-response-exporter:ci}
# A buildah store of our own inside the cache, so the base image and the build's layer cache survive
# between CI runs and nothing of anyone else's is touched. Wiped when it grows past STORE_MAX_MB.
STORE_ROOT=${SIP_EXPORTER_CI_STORE:-$CACHE_DIR/storage}
STORE_RUNROOT=${SIP_EXPORTER_CI_RUNROOT:-/run/sip-response-exporter-ci/storage}
STORE_MAX_MB=${STORE_MAX_MB:-6000}

bh() { buildah --root "$STORE_ROOT" --runroot "$STORE_RUNROOT" --storage-driver overlay "$@"; }

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Prints seconds since the given `date +%s.%N` stamp, one decimal.
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

need_cmd() {
  local c
  for c in "$@"; do
    command -v "$c" >/dev/null 2>&1 || [ -x "/usr/sbin/$c" ] || [ -x "/sbin/$c" ] ||
      die "$c is not installed (scripts/install-test-deps.sh installs it)"
  done
}

need_root() { [ "$(id -u)" = 0 ] || die "must run as root (debootstrap, chroot and buildah's chroot isolation need it)"; }

# build_image DOCKERFILE CONTEXT TAG LOGFILE [buildah build args...]
# Builds with buildah (chroot isolation, layer cache, Docker format so HEALTHCHECK is kept, never
# pulling: the bases come from build-base.sh). Where this machine reaches the npm registry through a
# TLS-inspecting proxy, the host trusts it through npm's `cafile` or Node's NODE_EXTRA_CA_CERTS; the
# same trust (and a non-default registry) goes to the RUN steps as read-only build-time volumes, so
# nothing of it ends up in an image and the Dockerfiles stay unchanged. npm's cafile replaces the
# default roots, so the system bundle goes in too.
build_image() {
  local dockerfile=$1 context=$2 tag=$3 logfile=$4 dir cafile registry f
  shift 4
  dir=$(dirname "$logfile")
  local opts=()
  cafile=$(npm config get cafile 2>/dev/null || true)
  case "$cafile" in null | undefined) cafile='' ;; esac
  registry=$(npm config get registry 2>/dev/null || true)
  : >"$dir/npmrc"
  if [ -n "$cafile" ] || [ -n "${NODE_EXTRA_CA_CERTS:-}" ]; then
    : >"$dir/ca.pem"
    for f in "$cafile" "${NODE_EXTRA_CA_CERTS:-}" /etc/ssl/certs/ca-certificates.crt; do
      if [ -n "$f" ] && [ -r "$f" ]; then cat "$f" >>"$dir/ca.pem"; fi
    done
    echo "cafile=/usr/local/etc/ci-npm-ca.pem" >>"$dir/npmrc"
    opts+=(-v "$dir/ca.pem:/usr/local/etc/ci-npm-ca.pem:ro")
  fi
  if [ -n "$registry" ] && [ "$registry" != "https://registry.npmjs.org/" ]; then echo "registry=$registry" >>"$dir/npmrc"; fi
  if [ -s "$dir/npmrc" ]; then opts+=(-v "$dir/npmrc:/usr/local/etc/npmrc:ro"); fi
  bh build --layers --force-rm --isolation chroot --pull=never --format docker "${opts[@]}" "$@" \
    -f "$dockerfile" -t "$tag" "$context" >"$logfile" 2>&1 ||
    { tail -n 40 "$logfile" >&2; die "buildah build of $dockerfile failed (log above)"; }
  log "built $tag ($(grep -c 'Using cache' "$logfile" || true) steps from the layer cache)"
}

# image_json IMAGE PATH: a field of `buildah inspect`, one element per line for arrays, JSON for objects.
image_json() {
  bh inspect --type image "$1" | node -e '
    const j = JSON.parse(require("fs").readFileSync(0, "utf8"));
    const v = process.argv[1].split(".").reduce((o, k) => (o == null ? o : o[k]), j);
    if (Array.isArray(v)) for (const x of v) console.log(x); else if (v !== undefined && v !== null) console.log(typeof v === "object" ? JSON.stringify(v) : v);
  ' "$2"
}

# free_ports N: N distinct loopback ports free for TCP and UDP alike, on one line.
free_ports() {
  node -e '
    const net = require("net"), dgram = require("dgram");
    const tcp = () => new Promise((r) => { const s = net.createServer().listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => r(p)); }); });
    const udpFree = (p) => new Promise((r) => { const s = dgram.createSocket("udp4"); s.once("error", () => r(false)); s.bind(p, "127.0.0.1", () => s.close(() => r(true))); });
    (async () => { const out = []; while (out.length < Number(process.argv[1])) { const p = await tcp(); if (!out.includes(p) && (await udpFree(p))) out.push(p); } console.log(out.join(" ")); })();' "$1"
}

# uidgid ROOTFS USER: "uid:gid" of USER in the image's /etc/passwd (numeric users pass through).
uidgid() {
  case "$2" in
    '' | root) echo 0:0 ;;
    *[!0-9:]*) awk -F: -v u="$2" '$1 == u { print $3 ":" $4 }' "$1/etc/passwd" ;;
    *) echo "$2" ;;
  esac
}

# lock_builds / unlock_builds: one base assembly or image build at a time per cache (the smoke and
# stack tests may run in parallel; they share the base tarballs, the store and the image tags).
lock_builds() {
  mkdir -p "$CACHE_DIR"
  exec 9>"$CACHE_DIR/build.lock"
  flock 9
}
unlock_builds() { exec 9>&-; }
