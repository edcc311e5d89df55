#!/bin/bash
# Entrypoint of the demo Kamailio image (deploy/kamailio/Dockerfile).
#
# Runs Kamailio in the foreground (-DD), logging to stderr (-E), and copies every log line both to
# the container's stderr (docker logs / kubectl logs) and to $KAMAILIO_LOG_FILE on the volume shared
# with the exporter, which follows it. The file is rotated by renaming it to .1 when it reaches
# $KAMAILIO_LOG_MAX_BYTES, so a shared emptyDir or volume cannot fill up; the exporter follows the
# rename and the new file.
#
# This script stays PID 1 and passes SIGTERM/SIGINT/SIGHUP on to Kamailio: the log copier must not
# be Kamailio's child (Kamailio waits for all its children at shutdown, and the copier only ends
# when Kamailio's stderr closes).
#
# Extra arguments go to kamailio, e.g. -A 'HEP_URI="sip:127.0.0.1:9060;transport=tcp"'.
set -euo pipefail

LOG_FILE=${KAMAILIO_LOG_FILE:-/var/log/kamailio/kamailio.log}
LOG_MAX_BYTES=${KAMAILIO_LOG_MAX_BYTES:-52428800}
CFG=${KAMAILIO_CFG:-/etc/kamailio/kamailio.cfg}
mkdir -p "$(dirname "$LOG_FILE")"
size=$(stat -c %s "$LOG_FILE" 2>/dev/null || echo 0)

# Kamailio drops to the kamailio user after binding its ports, when started as root.
run_as=()
if [ "$(id -u)" = 0 ] && id kamailio >/dev/null 2>&1; then run_as=(-u kamailio -g kamailio); fi

copy_log() {
  exec awk -W interactive -v f="$LOG_FILE" -v max="$LOG_MAX_BYTES" -v n="$size" '
    {
      print > "/dev/stderr"
      print >> f
      fflush(f)
      n += length($0) + 1
      if (n >= max) { close(f); system("mv -f \"" f "\" \"" f ".1\""); n = 0 }
    }'
}

# The copier is started by this shell (not by the background job, whose exec would make it
# Kamailio's child); this shell then drops its own end of the pipe, so the copier sees EOF when
# Kamailio exits.
exec 3> >(copy_log)
kamailio -DD -E "${run_as[@]}" -f "$CFG" "$@" 2>&3 3>&- &
pid=$!
exec 3>&-
for sig in TERM INT HUP; do
  # shellcheck disable=SC2064
  trap "kill -$sig $pid 2>/dev/null || true" "$sig"
done
# Forwarding needs the right to signal Kamailio after it switched users: root with CAP_KILL (Docker's
# default set has it; add KILL where capabilities are dropped, see deploy/kubernetes).
# wait returns early (status > 128) when a trapped signal arrives: keep waiting while Kamailio lives.
while :; do
  wait "$pid" && status=0 || status=$?
  if [ "$status" -gt 128 ] && [ -e "/proc/$pid" ]; then continue; fi
  break
done
exit "$status"
