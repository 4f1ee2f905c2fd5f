#!/usr/bin/env bash
# Start the local servers the test suite talks to, when they are installed but stopped.
# PostgreSQL is part of this machine kind; its start command is the one the machine uses.
set -uo pipefail
if command -v pg_ctlcluster >/dev/null 2>&1 && ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  ver=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -1)
  if [[ -n "$ver" ]]; then
    pg_ctlcluster --skip-systemctl-redirect "$ver" main start || echo "test-services: could not start PostgreSQL" >&2
  fi
fi
exit 0
