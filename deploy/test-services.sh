#!/usr/bin/env bash
# Start the local servers the test suite talks to, when they are installed but stopped.
# PostgreSQL and MariaDB are part of this machine kind; their start commands are the ones it uses.
set -uo pipefail
if command -v pg_ctlcluster >/dev/null 2>&1 && ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  ver=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -1)
  if [[ -n "$ver" ]]; then
    pg_ctlcluster --skip-systemctl-redirect "$ver" main start || echo "test-services: could not start PostgreSQL" >&2
  fi
fi
if [[ -x /usr/sbin/mariadbd ]] && ! mariadb-admin -h 127.0.0.1 -uroot status >/dev/null 2>&1; then
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || echo "test-services: could not start MariaDB" >&2
  for _ in $(seq 1 50); do mariadb-admin -h 127.0.0.1 -uroot status >/dev/null 2>&1 && break; sleep 0.2; done
fi
exit 0
