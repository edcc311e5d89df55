#!/usr/bin/env bash
# The compose recipe (deploy/compose/compose.yaml) without a container engine, as far as this machine
# allows:
#
#   1. base     both base images (build-base.sh; cached)
#   2. build    the exporter image from the Dockerfile and the demo proxy image from
#               deploy/kamailio/Dockerfile (apt-get install kamailio sip-tester), unchanged, with buildah
#   3. run      the compose services as containers (run-in-image.sh: each its own PID namespace,
#               chroot into its image, the compose file's volumes as shared host directories), with
#               the compose file's own environment and entrypoints; only ports are moved to free
#               loopback ones (all services share the host network, as the sidecars share the
#               proxy's): kamailio (image entrypoint), exporter (read-only root, log volume read-only,
#               HEP on 127.0.0.1), callee and caller (the demo sipp scenarios);
#               the exporter must count exactly the demo calls' final responses from the log AND
#               from HEP; the installed Prometheus, with deploy/compose/prometheus/prometheus.yml and
#               the shipped rules, must scrape it (job="sip-response-exporter") and load the rules;
#               SIGTERM stops kamailio (through its entrypoint) and the exporter with status 0.
#
# Grafana is not run (not installed here); its provisioning is checked by test/deploy/compose.test.ts.
# Needs root, buildah, debootstrap, unshare, chroot, node and prometheus.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"
CONTEXT=$(cd "${SMOKE_CONTEXT:-$ROOT}" && pwd)
COMPOSE="$CONTEXT/deploy/compose/compose.yaml"
KAMAILIO_IMAGE=${KAMAILIO_IMAGE:-localhost/sip-response-exporter-demo-kamailio:ci}
# A tag of its own, so a smoke test running at the same time keeps its image.
EXPORTER_IMAGE=${EXPORTER_IMAGE:-localhost/sip-response-exporter:ci-stack}

need_root
need_cmd buildah debootstrap unshare chroot mount node prometheus
T_ALL=$(date +%s.%N)
declare -a TIMES=()
step_start() { STEP_NAME=$1; STEP_T=$(date +%s.%N); log "== $1"; }
step_end() { TIMES+=("$(printf '%-9s %6ss' "$STEP_NAME" "$(since "$STEP_T")")"); }

WORK=$(mktemp -d /var/tmp/sip-exporter-stack.XXXXXX)
declare -a PIDS=() CTRS=()
cleanup() {
  local rc=$? p c
  # SIGTERM to what still runs: a service's PID 1 (the child of its unshare), else the process itself
  for p in "${PIDS[@]}"; do
    c=$(pgrep -P "$p" 2>/dev/null | head -n1 || true)
    kill -TERM "${c:-$p}" 2>/dev/null || true
  done
  for p in "${PIDS[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  for c in "${CTRS[@]}"; do
    bh umount "$c" >/dev/null 2>&1 || true
    bh rm "$c" >/dev/null 2>&1 || true
  done
  if [ "$rc" != 0 ]; then
    for f in kamailio.out exporter.out callee.out caller.out prometheus.out; do
      [ -s "$WORK/$f" ] && { log "$f (last 25 lines):"; tail -n 25 "$WORK/$f" >&2; }
    done
  fi
  if [ "${SMOKE_KEEP:-}" = 1 ]; then log "work directory kept: $WORK"; else rm -rf "$WORK"; fi
  exit "$rc"
}
trap cleanup EXIT

# container VAR IMAGE: a container of IMAGE, mounted; its root filesystem's path in VAR. (Not in a
# subshell: CTRS must reach the cleanup.)
container() {
  local c
  c=$(bh from --pull=false "$2")
  CTRS+=("$c")
  printf -v "$1" '%s' "$(bh mount "$c")"
}

# start NAME IMAGE ROOTFS [run-in-image options...] -- CMD...: one compose service, in the background,
# with the image's environment, user and working directory.
start() {
  local name=$1 image=$2 rootfs=$3 e
  shift 3
  local envs=()
  while IFS= read -r e; do [ -n "$e" ] && envs+=(-e "$e"); done < <(image_json "$image" Docker.config.Env)
  local ids wd
  ids=$(uidgid "$rootfs" "$(image_json "$image" Docker.config.User)")
  wd=$(image_json "$image" Docker.config.WorkingDir)
  bash "$HERE/run-in-image.sh" "$rootfs" "$ids" "${wd:-/}" "${envs[@]}" "$@" >"$WORK/$name.out" 2>&1 &
  PIDS+=($!)
  eval "PID_$name=$!"
}

# stop NAME: SIGTERM to the service's PID 1; its exit status in STOP_RC.
stop() {
  local ns pid1
  STOP_RC=''
  eval "ns=\$PID_$1"
  pid1=$(pgrep -P "$ns" | head -n1)
  [ -n "$pid1" ] || die "$1 is not running"
  kill -TERM "$pid1"
  for _ in $(seq 1 200); do
    if ! kill -0 "$ns" 2>/dev/null; then
      set +e; wait "$ns"; STOP_RC=$?; set -e
      break
    fi
    sleep 0.1
  done
  [ -n "$STOP_RC" ] || die "$1 still running 20 s after SIGTERM"
}

wait_for() { # wait_for DESCRIPTION SECONDS COMMAND...
  local what=$1 secs=$2
  shift 2
  for _ in $(seq 1 $((secs * 10))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  die "timed out after ${secs} s waiting for $what"
}

# ---------------------------------------------------------------------------------------------------
step_start base
lock_builds
bash "$HERE/build-base.sh"
step_end

step_start build
build_image "$CONTEXT/Dockerfile" "$CONTEXT" "$EXPORTER_IMAGE" "$WORK/build-exporter.log" \
  --build-arg VERSION="$(node -p 'require(process.argv[1]).version' "$CONTEXT/package.json")"
build_image "$CONTEXT/deploy/kamailio/Dockerfile" "$CONTEXT/deploy/kamailio" "$KAMAILIO_IMAGE" "$WORK/build-kamailio.log"
unlock_builds
step_end

# ---------------------------------------------------------------------------------------------------
step_start run
read -r SIP UAS UAC HEP WEB PROM < <(free_ports 6)
log "ports: sip $SIP callee $UAS caller $UAC hep $HEP web $WEB prometheus $PROM"
# The compose file's named volumes.
mkdir -p "$WORK/kamailio-logs" "$WORK/exporter-state"
chmod 0755 "$WORK/kamailio-logs"

container KROOT "$KAMAILIO_IMAGE"
container EROOT "$EXPORTER_IMAGE"
container CROOT "$KAMAILIO_IMAGE"
chown "$(uidgid "$EROOT" "$(image_json "$EXPORTER_IMAGE" Docker.config.User)")" "$WORK/exporter-state"

# kamailio: the image's entrypoint; -l and -A put it on this run's ports (compose: 5060, HEP 9060,
# callee 5070, all in one network namespace).
mapfile -t KEP < <(image_json "$KAMAILIO_IMAGE" Docker.config.Entrypoint)
KENV=()
while IFS= read -r e; do [ -n "$e" ] && KENV+=(-e "$e"); done < <(node "$HERE/stack-helper.mjs" env "$COMPOSE" kamailio)
start kamailio "$KAMAILIO_IMAGE" "$KROOT" -v "$WORK/kamailio-logs:/var/log/kamailio" "${KENV[@]}" -- \
  "${KEP[@]}" -l "udp:127.0.0.1:$SIP" -l "tcp:127.0.0.1:$SIP" \
  -A "HEP_URI=\"sip:127.0.0.1:$HEP\"" -A "UAS_URI=\"sip:127.0.0.1:$UAS\""
wait_for "the demo proxy to start" 30 grep -q 'demo proxy ready' "$WORK/kamailio-logs/kamailio.log"
log "kamailio up (its log is on the shared volume)"

# exporter: the compose environment, HEP moved to this run's port, HTTP on loopback.
mapfile -t EEP < <(image_json "$EXPORTER_IMAGE" Docker.config.Entrypoint)
EENV=()
while IFS= read -r e; do
  [ -n "$e" ] && EENV+=(-e "${e//127.0.0.1:9060/127.0.0.1:$HEP}")
done < <(node "$HERE/stack-helper.mjs" env "$COMPOSE" exporter)
EENV+=(-e "SIP_EXPORTER_WEB_LISTEN_ADDRESS=127.0.0.1:$WEB" -e HOME=/home/node)
start exporter "$EXPORTER_IMAGE" "$EROOT" --ro-root \
  -v "$WORK/kamailio-logs:/var/log/kamailio:ro" -v "$WORK/exporter-state:/var/lib/sip-response-exporter" \
  "${EENV[@]}" -- "${EEP[@]}"
wait_for "the exporter to start" 30 grep -q '"msg":"sip-response-exporter started"' "$WORK/exporter.out"
log "exporter up"

# callee and caller: the compose entrypoints, ports moved; the caller places each demo call once.
ports() { sed -e "s/-p 5070/-p $UAS/; s/-p 5080/-p $UAC/; s/127.0.0.1:5060/127.0.0.1:$SIP/"; }
mapfile -t CALLEE < <(node "$HERE/stack-helper.mjs" entrypoint "$COMPOSE" callee | ports)
start callee "$KAMAILIO_IMAGE" "$CROOT" -- "${CALLEE[@]}"
CALLS=$(($(wc -l <"$CONTEXT/deploy/kamailio/demo-users.csv") - 1))
mapfile -t CALLER < <(node "$HERE/stack-helper.mjs" entrypoint "$COMPOSE" caller | ports | sed -e "s/-r 1 /-r 20 -m $CALLS -timeout 60s /")
grep -q -- "-m $CALLS" <<<"${CALLER[*]}" || die "cannot adapt the caller's entrypoint: ${CALLER[*]}"
sleep 0.5
bash "$HERE/run-in-image.sh" "$CROOT" 0:0 / -e PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin -- \
  "${CALLER[@]}" >"$WORK/caller.out" 2>&1 || die "the demo caller failed (sipp exit status $?)"
log "caller placed $CALLS calls"

WANT=$(node "$HERE/stack-helper.mjs" expect "$CONTEXT/deploy/kamailio")
node "$HERE/probe.mjs" --web="127.0.0.1:$WEB" --expect="$WANT" --sources=log,hep | tee "$WORK/counts.json" >&2

# Prometheus with the compose recipe's config and the shipped rules, targets moved to this run.
mkdir -p "$WORK/prometheus/data"
sed -e "s/\"kamailio:9468\"/\"127.0.0.1:$WEB\"/; s/\"localhost:9090\"/\"127.0.0.1:$PROM\"/" \
  "$CONTEXT/deploy/compose/prometheus/prometheus.yml" >"$WORK/prometheus/prometheus.yml"
cp -r "$CONTEXT/rules" "$WORK/prometheus/rules"
prometheus --config.file="$WORK/prometheus/prometheus.yml" --storage.tsdb.path="$WORK/prometheus/data" \
  --web.listen-address="127.0.0.1:$PROM" >"$WORK/prometheus.out" 2>&1 &
PIDS+=($!)
PROM_PID=$!
query() { node -e '
  fetch(`http://127.0.0.1:${process.argv[1]}/api/v1/query?query=${encodeURIComponent(process.argv[2])}`)
    .then((r) => r.json()).then((j) => { const v = j.data?.result?.[0]?.value?.[1]; console.log(v ?? ""); process.exit(v === process.argv[3] ? 0 : 1); })
    .catch(() => process.exit(1));' "$PROM" "$1" "$2"; }
TOTAL=$(node -e 'console.log(2 * Object.values(JSON.parse(process.argv[1])).reduce((a, b) => a + b, 0))' "$WANT")
wait_for "Prometheus to scrape the exporter as job sip-response-exporter" 60 \
  query 'sum(sip_responses_total{job="sip-response-exporter",class!="1xx"})' "$TOTAL"
RULES=$(node -e 'fetch(`http://127.0.0.1:${process.argv[1]}/api/v1/rules`).then((r) => r.json()).then((j) => console.log(j.data.groups.map((g) => `${g.name}:${g.rules.length}`).join(" ")))' "$PROM")
[ -n "$RULES" ] || die "Prometheus loaded no rule groups"
log "Prometheus scraped $TOTAL final responses (log + hep) and loaded the rules: $RULES"
kill -TERM "$PROM_PID"

stop exporter; [ "$STOP_RC" = 0 ] || die "the exporter exited with $STOP_RC after SIGTERM"
grep -q 'kamailio.log' "$WORK/exporter-state/positions.json" || die "no read positions on the exporter-state volume"
stop kamailio; [ "$STOP_RC" = 0 ] || die "kamailio's entrypoint exited with $STOP_RC after SIGTERM"
log "SIGTERM: exporter and kamailio stopped gracefully"
step_end

log "compose stack test passed"
TIMES+=("$(printf '%-9s %6ss' total "$(since "$T_ALL")")")
printf '%s\n' "${TIMES[@]}" | sed 's/^/[timing] /' >&2
