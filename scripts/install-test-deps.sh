#!/usr/bin/env bash
# Installs the real software the end-to-end tests drive (Debian packages), once. Idempotent: does
# nothing when everything is present. Runs as the `pretest` step of `npm test`.
set -euo pipefail

# command -> Debian package
declare -A NEED=(
  [kamailio]=kamailio
  [sipp]=sip-tester
  [prometheus]=prometheus
  [promtool]=prometheus
  [rsyslogd]=rsyslog
  [tshark]=tshark
  [buildah]=buildah
  [debootstrap]=debootstrap
  [systemd-analyze]=systemd
)
# Kamailio modules that live outside the base package.
MODULE_PKGS=(kamailio-extra-modules)

missing=()
for cmd in "${!NEED[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || missing+=("${NEED[$cmd]}")
done
for pkg in "${MODULE_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
# unique
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
echo "install-test-deps: installing ${missing[*]}" >&2
if [ "$(id -u)" != 0 ]; then
  echo "install-test-deps: need root to apt-get install ${missing[*]}; install them and re-run" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts the packaged services on install; the tests run their own instances, so stop those.
for svc in kamailio prometheus rsyslog; do
  if command -v systemctl >/dev/null 2>&1; then systemctl stop "$svc" 2>/dev/null || true; fi
done
