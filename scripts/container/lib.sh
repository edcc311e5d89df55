# Shared settings for the container scripts (sourced, not run).
# shellcheck shell=bash

# Everything slow is cached here, keyed by a hash of its inputs. CI keeps this directory between runs.
CACHE_DIR=${SIP_EXPORTER_CI_CACHE:-/var/cache/sip-response-exporter-ci}
# The base image name the Dockerfile's FROM uses. Elsewhere it is pulled from Docker Hub; here it is
# assembled locally (build-base.sh) because no registry can be reached for images.
BASE_IMAGE=${BASE_IMAGE:-docker.io/library/node:24-bookworm-slim}
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
