#!/bin/sh
# net-snmp "pass" helper for the tests: serves the 32-bit ifInOctets/ifOutOctets of a made-up
# interface (ifIndex 9999) from files the test rewrites, so a counter can wrap on demand.
DIR=${VIGIA_SNMP_PASS_DIR:?}
if [ "$1" = "-g" ]; then
  case "$2" in
    .1.3.6.1.2.1.2.2.1.10.9999) echo "$2"; echo counter; cat "$DIR/in" ;;
    .1.3.6.1.2.1.2.2.1.16.9999) echo "$2"; echo counter; cat "$DIR/out" ;;
  esac
fi
exit 0
