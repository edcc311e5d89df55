#!/usr/bin/env bash
# CI smoke test of the container image, without a Docker engine:
#
#   1. base     make docker.io/library/node:24-bookworm-slim available locally (build-base.sh; cached)
#   2. build    build the repository's Dockerfile, unchanged, with buildah (chroot isolation, layer cache)
#   3. inspect  image metadata: non-root user, 0.0.0.0 listen addresses, EXPOSE, HEALTHCHECK, OCI labels,
#               no dev dependencies in the runtime stage
#   4. commands `--version` and `explain 486` through the image's entrypoint (buildah run)
#   5. daemon   the image's entrypoint as PID 1 of its own PID namespace (unshare + chroot into the
#               mounted image, root filesystem read-only, state directory as a volume), configured
#               by a flag, environment variables and a mounted config file,
#               on free loopback ports; probe.mjs checks /metrics, /-/healthy, /-/ready and that a
#               hand-built HEP packet (UDP and TCP), a log line and a syslog message are counted by
#               every input that is up; the image's HEALTHCHECK command passes; SIGHUP reloads;
#               SIGTERM stops it gracefully with exit status 0 and read positions saved; the
#               HEALTHCHECK then fails.
#
# Needs root, buildah, debootstrap, unshare and chroot (scripts/install-test-deps.sh installs what is
# missing) and a Node on PATH for probe.mjs. Everything slow is cached in $SIP_EXPORTER_CI_CACHE
# (default /var/cache/sip-response-exporter-ci). Exit status 0 = image works.
#
#   SMOKE_CONTEXT=DIR   build context (default: the repository this script is in)
#   SMOKE_KEEP=1        keep the work directory (daemon logs) for a look afterwards
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"
CONTEXT=$(cd "${SMOKE_CONTEXT:-$ROOT}" && pwd)

need_root
need_cmd buildah debootstrap unshare chroot mount node
T_ALL=$(date +%s.%N)
declare -a TIMES=()
step_start() { STEP_NAME=$1; STEP_T=$(date +%s.%N); log "== $1"; }
step_end() { TIMES+=("$(printf '%-9s %6ss' "$STEP_NAME" "$(since "$STEP_T")")"); }

WORK=$(mktemp -d /var/tmp/sip-exporter-smoke.XXXXXX)
CTR=''
NS_PID=''
cleanup() {
  local rc=$?
  if [ -n "$NS_PID" ] && kill -0 "$NS_PID" 2>/dev/null; then kill -KILL "$NS_PID" 2>/dev/null || true; fi
  if [ -n "$CTR" ]; then
    bh umount "$CTR" >/dev/null 2>&1 || true
    bh rm "$CTR" >/dev/null 2>&1 || true
  fi
  if [ "$rc" != 0 ] && [ -s "$WORK/daemon.out" ]; then
    log "daemon stdout (last 40 lines):"; tail -n 40 "$WORK/daemon.out" >&2 || true
    log "daemon stderr:"; tail -n 40 "$WORK/daemon.err" >&2 || true
  fi
  if [ "${SMOKE_KEEP:-}" = 1 ]; then log "work directory kept: $WORK"; else rm -rf "$WORK"; fi
  exit "$rc"
}
trap cleanup EXIT

# ---------------------------------------------------------------------------------------------------
step_start base
lock_builds
mkdir -p "$STORE_ROOT"
store_mb=$(du -sm "$STORE_ROOT" 2>/dev/null | cut -f1)
if [ "${store_mb:-0}" -gt "$STORE_MAX_MB" ]; then
  log "buildah store is ${store_mb} MB (> $STORE_MAX_MB): emptying it (the base is re-imported from its cached tarball)"
  bh rmi --all --force >/dev/null 2>&1 || true
fi
bash "$HERE/build-base.sh"
step_end

# ---------------------------------------------------------------------------------------------------
step_start build
VERSION=$(node -p 'require(process.argv[1]).version' "$CONTEXT/package.json")
REVISION=$(git -C "$CONTEXT" rev-parse HEAD 2>/dev/null || echo unknown)
build_image "$CONTEXT/Dockerfile" "$CONTEXT" "$IMAGE" "$WORK/build.log" \
  --build-arg VERSION="$VERSION" --build-arg REVISION="$REVISION" \
  --build-arg CREATED="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
unlock_builds
step_end

# ---------------------------------------------------------------------------------------------------
step_start inspect
expect() { # expect DESCRIPTION ACTUAL_MULTILINE PATTERN
  grep -qxE -- "$3" <<<"$2" || die "image $1: expected a line matching /$3/, got: $(tr '\n' ' ' <<<"$2")"
}
USER_NAME=$(image_json "$IMAGE" Docker.config.User)
[ "$USER_NAME" = node ] || die "image user is '$USER_NAME', expected the unprivileged 'node'"
ENVS=$(image_json "$IMAGE" Docker.config.Env)
expect env "$ENVS" 'SIP_EXPORTER_HEP_LISTEN_ADDRESS=0\.0\.0\.0:9060'
expect env "$ENVS" 'SIP_EXPORTER_SYSLOG_LISTEN_ADDRESS=0\.0\.0\.0:5514'
PORTS=$(image_json "$IMAGE" Docker.config.ExposedPorts | node -e 'for (const k of Object.keys(JSON.parse(require("fs").readFileSync(0, "utf8")))) console.log(k)')
for p in 9468/tcp 9060/udp 9060/tcp 5514/udp 5514/tcp; do expect EXPOSE "$PORTS" "$p"; done
HEALTH=$(image_json "$IMAGE" Docker.config.Healthcheck.Test)
[ "$(head -n1 <<<"$HEALTH")" = CMD ] || die "image has no HEALTHCHECK CMD (got: $HEALTH)"
LABELS=$(image_json "$IMAGE" Docker.config.Labels | node -e 'for (const [k, v] of Object.entries(JSON.parse(require("fs").readFileSync(0, "utf8")))) console.log(`${k}=${v}`)')
for l in title description licenses version revision created source; do
  [ "$l" = source ] && continue # no public repository URL yet; add org.opencontainers.image.source when there is one
  expect label "$LABELS" "org\.opencontainers\.image\.$l=.+"
done
expect label "$LABELS" "org\.opencontainers\.image\.version=$VERSION"
mapfile -t ENTRYPOINT < <(image_json "$IMAGE" Docker.config.Entrypoint)
mapfile -t CMD < <(image_json "$IMAGE" Docker.config.Cmd)
WORKDIR=$(image_json "$IMAGE" Docker.config.WorkingDir)
[ "$(image_json "$IMAGE" Docker.config.StopSignal)" = SIGTERM ] || die "image StopSignal is not SIGTERM"
CTR=$(bh from --pull=false "$IMAGE")
ROOTFS=$(bh mount "$CTR")
for dev in typescript vitest @types/node fast-check node; do
  [ ! -e "$ROOTFS$WORKDIR/node_modules/$dev" ] || die "dev dependency $dev is in the runtime image"
done
for prod in express prom-client pino yaml; do
  [ -e "$ROOTFS$WORKDIR/node_modules/$prod" ] || die "production dependency $prod is missing from the image"
done
[ ! -e "$ROOTFS/usr/local/etc/npmrc" ] || die "the build's npmrc leaked into the image"
UIDGID=$(uidgid "$ROOTFS" "$USER_NAME")
[ -n "$UIDGID" ] || die "user $USER_NAME not in the image's /etc/passwd"
[ "${UIDGID%%:*}" != 0 ] || die "user $USER_NAME is root"
[ "$(stat -c %u "$ROOTFS/var/lib/sip-response-exporter")" = "${UIDGID%%:*}" ] || die "/var/lib/sip-response-exporter does not belong to $USER_NAME"
owner=$(stat -c %u "$ROOTFS$WORKDIR/dist")
[ "$owner" = 0 ] || die "application files should belong to root (read-only for the runtime user), dist is owned by uid $owner"
log "image $(bh images --format '{{.Size}}' "$IMAGE" | head -n1), user $USER_NAME, entrypoint ${ENTRYPOINT[*]}"
step_end

# ---------------------------------------------------------------------------------------------------
step_start commands
out=$(bh run --isolation chroot --user "$USER_NAME" "$CTR" -- "${ENTRYPOINT[@]}" --version)
grep -qE "^sip-response-exporter $VERSION \(node v24\." <<<"$out" || die "--version printed: $out"
log "$out"
out=$(bh run --isolation chroot --user "$USER_NAME" "$CTR" -- "${ENTRYPOINT[@]}" explain 486)
grep -q 'Busy Here' <<<"$out" || die "explain 486 printed: $out"
step_end

# ---------------------------------------------------------------------------------------------------
step_start daemon
# Free loopback ports (TCP and UDP both free for the HEP and syslog ones).
read -r WEB_PORT HEP_PORT SYSLOG_PORT < <(free_ports 3)
mkdir -p "$WORK/logs"
: >"$WORK/logs/proxy.log"
chmod 0755 "$WORK/logs"; chmod 0644 "$WORK/logs/proxy.log"
# The three ways to configure the container at once: a mounted file, environment and a flag.
cat >"$WORK/config.yml" <<EOF
log:
  path:
    - /var/log/proxy/proxy.log
  dialect: auto
  position-file: /var/lib/sip-response-exporter/positions.json
logging:
  level: info
EOF
# The state directory as a volume (the rest of the root filesystem is read-only below).
mkdir -p "$WORK/state"
chown "$UIDGID" "$WORK/state"
chmod 0644 "$WORK/config.yml"
RUN_ENV=("SIP_EXPORTER_WEB_LISTEN_ADDRESS=127.0.0.1:$WEB_PORT" "SIP_EXPORTER_SYSLOG_LISTEN_ADDRESS=127.0.0.1:$SYSLOG_PORT")
RUN_ARGS=("--hep.listen-address=127.0.0.1:$HEP_PORT")
mkdir -p "$ROOTFS/var/log/proxy"
mapfile -t IMG_ENV <<<"$ENVS"

# The entrypoint as PID 1 of its own PID namespace, read-only root, the log directory, config file
# and state directory as volumes (run-in-image.sh).
IMG_ENV_ARGS=()
for e in "${IMG_ENV[@]}" HOME=/home/node "${RUN_ENV[@]}"; do IMG_ENV_ARGS+=(-e "$e"); done
bash "$HERE/run-in-image.sh" "$ROOTFS" "$UIDGID" "$WORKDIR" --ro-root \
  -v "$WORK/logs:/var/log/proxy" -v "$WORK/config.yml:/etc/sip-response-exporter/config.yml:ro" \
  -v "$WORK/state:/var/lib/sip-response-exporter" "${IMG_ENV_ARGS[@]}" \
  -- "${ENTRYPOINT[@]}" "${CMD[@]}" "${RUN_ARGS[@]}" >"$WORK/daemon.out" 2>"$WORK/daemon.err" &
NS_PID=$!
started=''
for _ in $(seq 1 300); do
  if grep -q '"msg":"sip-response-exporter started"' "$WORK/daemon.out" 2>/dev/null; then started=1; break; fi
  kill -0 "$NS_PID" 2>/dev/null || die "the entrypoint exited before starting"
  sleep 0.1
done
[ -n "$started" ] || die "no start-up log line within 30 s"
DPID=$(pgrep -P "$NS_PID" | head -n1)
nspid=$(awk '/^NSpid:/ { print $NF }' "/proc/$DPID/status")
[ "$nspid" = 1 ] || die "the entrypoint is PID $nspid in its namespace, expected 1"
[ "$(readlink "/proc/$DPID/exe" | xargs basename)" = node ] || die "PID 1 is not node"
log "entrypoint is PID 1 (host PID $DPID), ports web $WEB_PORT hep $HEP_PORT syslog $SYSLOG_PORT"

node "$HERE/probe.mjs" --web="127.0.0.1:$WEB_PORT" --hep="127.0.0.1:$HEP_PORT" \
  --syslog="127.0.0.1:$SYSLOG_PORT" --log="$WORK/logs/proxy.log" | tee "$WORK/probe.json" >&2

mapfile -t HC < <(tail -n +2 <<<"$HEALTH")
HC_OPTS=(--isolation chroot --user "$USER_NAME" -v "$WORK/config.yml:/etc/sip-response-exporter/config.yml:ro")
for e in "${RUN_ENV[@]}"; do HC_OPTS+=(--env "$e"); done
hc_run() { bh run "${HC_OPTS[@]}" "$CTR" -- "${HC[@]}"; }
hc_run >"$WORK/health.out" 2>&1 || { cat "$WORK/health.out" >&2; die "the image's HEALTHCHECK failed against the running daemon"; }
log "HEALTHCHECK: $(tr -d '\n' <"$WORK/health.out")"

kill -HUP "$DPID"
node "$HERE/probe.mjs" --web="127.0.0.1:$WEB_PORT" --until='sip_exporter_config_reloads_total{result="success"}=1' >/dev/null ||
  die "SIGHUP did not reload the configuration"
log "SIGHUP: configuration reloaded"

kill -TERM "$DPID"
rc=''
for _ in $(seq 1 200); do
  if ! kill -0 "$NS_PID" 2>/dev/null; then
    set +e; wait "$NS_PID"; rc=$?; set -e
    break
  fi
  sleep 0.1
done
[ -n "$rc" ] || die "still running 20 s after SIGTERM"
NS_PID=''
[ "$rc" = 0 ] || die "exit status $rc after SIGTERM, expected 0"
grep -q '"msg":"stopped"' "$WORK/daemon.out" || die "no 'stopped' log line after SIGTERM"
grep -qv '^{' "$WORK/daemon.out" && die "non-JSON output on stdout: $(grep -v '^{' "$WORK/daemon.out" | head -n3)"
log "SIGTERM: graceful stop, exit status 0"
grep -q '/var/log/proxy/proxy.log' "$WORK/state/positions.json" 2>/dev/null ||
  die "no read positions in the state directory after the stop (read-only root, writable /var/lib/sip-response-exporter)"
log "read positions saved in the state volume (root filesystem read-only)"
if hc_run >"$WORK/health.out" 2>&1; then die "the HEALTHCHECK still passes after the daemon stopped"; fi
step_end

log "container smoke test passed"
TIMES+=("$(printf '%-9s %6ss' total "$(since "$T_ALL")")")
printf '%s\n' "${TIMES[@]}" | sed 's/^/[timing] /' >&2
