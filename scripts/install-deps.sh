#!/usr/bin/env bash
# Installs, from Debian's packages, whatever the build, the tests, the demo and
# the benchmark need and the machine does not have yet. Safe to run again:
# packages already installed are skipped without touching the network.
#
#   scripts/install-deps.sh          build, tests and demo
#   scripts/install-deps.sh bench    the same, plus what make bench uses
set -euo pipefail

packages=(
  postgresql-15 postgresql-server-dev-15 postgresql-15-pgq3
  g++ make nlohmann-json3-dev libcurl4-openssl-dev libssl-dev libpq-dev
  googletest libgtest-dev libipc-run-perl
  prometheus-postgres-exporter prometheus   # the metrics pipeline's tests (exporter, promtool)
)
# The benchmark's receiver (nginx), load tool (wrk), plot (gnuplot) and
# profiler (perf, for the module's share of the CPU): not needed, and not
# installed, for make test.
if [ "${1:-}" = bench ]; then
  packages+=(gnuplot-nox nginx-light wrk linux-perf)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages: ${missing[*]}; run as root (or install them) first" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian's postgresql-15 package creates and starts a "main" cluster; nothing of
# ours uses it (every test and the demo start their own), so stop it to keep
# the port and the CPU free.
if command -v pg_ctlcluster >/dev/null && pg_lsclusters -h 2>/dev/null | grep -q '^15 main .* online'; then
  pg_ctlcluster 15 main stop || true
fi
# Likewise Debian's prometheus packages start their daemons where systemd
# runs; the tests start their own exporter and only use promtool.
if command -v systemctl >/dev/null && systemctl is-system-running >/dev/null 2>&1; then
  systemctl disable --now prometheus prometheus-postgres-exporter 2>/dev/null || true
fi
# Likewise Debian's nginx package may start a server on port 80; make bench
# runs its own.
if command -v nginx >/dev/null && [ -f /run/nginx.pid ]; then
  nginx -s quit 2>/dev/null || true
fi
