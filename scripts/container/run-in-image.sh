#!/usr/bin/env bash
# Runs a command in a mounted image's root filesystem the way a container engine would start it,
# without one: a PID namespace of its own (the command is PID 1), a private mount namespace with
# /proc, /dev and bind-mounted volumes, optionally a read-only root, chroot, a clean environment,
# the image's user and working directory. The network namespace is the host's: use loopback ports.
#
#   run-in-image.sh ROOTFS UID:GID WORKDIR [--ro-root] [-v SRC:DST[:ro]]... [-e NAME=VALUE]... -- CMD [ARG...]
#
# A missing DST is created in ROOTFS first, as a container engine does. Everything mounted here
# disappears with the namespace when the command exits. Exit status: the command's.
set -euo pipefail
[ $# -ge 4 ] || { echo "usage: $0 ROOTFS UID:GID WORKDIR [--ro-root] [-v SRC:DST[:ro]]... [-e K=V]... -- CMD..." >&2; exit 2; }
ROOTFS=$1 IDS=$2 WD=$3
shift 3
RO_ROOT=0
VOLS=()
ENVS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --ro-root) RO_ROOT=1; shift ;;
    -v) VOLS+=("$2"); shift 2 ;;
    -e) ENVS+=("$2"); shift 2 ;;
    --) shift; break ;;
    *) echo "run-in-image.sh: unexpected $1" >&2; exit 2 ;;
  esac
done
[ $# -gt 0 ] || { echo "run-in-image.sh: no command" >&2; exit 2; }
[ -d "$ROOTFS/usr" ] || { echo "run-in-image.sh: $ROOTFS is not a root filesystem" >&2; exit 2; }

# Arguments to the inner script: ROOTFS RO_ROOT NVOLS VOL... NENV ENV... CMD...
exec unshare --mount --pid --fork --kill-child --propagation private -- /bin/bash -c '
  set -e
  root=$1 ro=$2 ids=$3 wd=$4 nv=$5; shift 5
  vols=("${@:1:nv}"); shift "$nv"
  ne=$1; shift
  envs=("${@:1:ne}"); shift "$ne"
  mount --bind "$root" "$root"
  mount -t proc proc "$root/proc"
  mount --rbind /dev "$root/dev"
  ros=()
  for v in "${vols[@]}"; do
    IFS=: read -r src dst mode <<<"$v"
    # like a container engine: a missing mount point is created in the container layer
    if [ ! -e "$root$dst" ]; then
      if [ -d "$src" ]; then mkdir -p "$root$dst"; else mkdir -p "$(dirname "$root$dst")"; : >"$root$dst"; fi
    fi
    mount --bind "$src" "$root$dst"
    [ "$mode" = ro ] && ros+=("$root$dst")
  done
  [ "$ro" = 1 ] && mount -o remount,bind,ro "$root"
  for m in "${ros[@]}"; do mount -o remount,bind,ro "$m"; done
  exec chroot --userspec="$ids" "$root" /usr/bin/env -i -C "$wd" "${envs[@]}" "$@"
' run-in-image "$ROOTFS" "$RO_ROOT" "$IDS" "$WD" "${#VOLS[@]}" "${VOLS[@]}" "${#ENVS[@]}" "${ENVS[@]}" "$@"
