#!/usr/bin/env bash
# Prepare a fresh Debian machine to run vigia from this checkout:
#   - Debian packages vigia and its test suite use (only those missing; needs root)
#   - a virtualenv in .venv with vigia installed in editable mode (+ test extras)
# Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

want_tests=0
[[ "${1:-}" == "--tests" ]] && want_tests=1

# Debian packages: iproute2 for the network lab, fping for the ICMP benchmark,
# iptables to blackhole lab hosts, Prometheus/promtool, blackbox_exporter (benchmark peer) and
# node_exporter, dnsmasq and net-snmp for lab servers, chromium (driven by playwright-core from npm)
# for the status page's browser test, wrk for its load test, gcc to build the lab's skewed clock
# (tests/native/clockshift.c).
debs=(iproute2 procps libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core)
if (( want_tests )); then
  debs+=(curl fping iptables prometheus prometheus-alertmanager prometheus-blackbox-exporter prometheus-node-exporter dnsmasq-base snmpd snmp freeradius freeradius-postgresql freeradius-utils chromium wrk gcc libc6-dev)
fi
missing=()
for p in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if (( ${#missing[@]} )); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "bootstrap: missing Debian packages: ${missing[*]} (run as root to install them)" >&2
  else
    echo "bootstrap: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # policy-rc.d keeps package scripts from starting system services we start ourselves in tests.
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    rm -f /usr/sbin/policy-rc.d
  fi
fi

PY=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
  "$PY" -m venv .venv
fi
extras=""
(( want_tests )) && extras="[test]"
.venv/bin/pip install -q --disable-pip-version-check -e ".${extras}"
if (( want_tests )) && [[ ! -d tests/browser/node_modules/playwright-core ]]; then
  (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
fi
echo "bootstrap: ready (.venv/bin/vigia)"
