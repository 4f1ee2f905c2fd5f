"""Several instances on one database: who is there, who leads."""

from __future__ import annotations

import argparse

from monitor.cli.common import config_arguments, load_config


def cmd_instances(args: argparse.Namespace) -> int:
    from monitor.version import vigia_version
    from store.db import Store
    from store.lease import Identity, Lease

    conf = load_config(args.config, state_dir=args.state_dir)
    if conf is None:
        return 1
    with Store.opened(conf.store_url(), conf.instance) as store:
        lease = Lease(store.engine, Identity.mine(conf.instance, conf.ha_group, vigia_version()))
        now, lead, members = lease.database_time(), lease.current(), lease.members()
    if lead.holder is None or lead.expires_at is None:
        print("leader: none yet")
    else:
        left = lead.expires_at - now
        state = f"expires in {left:.1f}s" if left > 0 else f"expired {-left:.1f}s ago"
        print(f"leader: {lead.holder} (epoch {lead.epoch}, {state})")
    shown = [m for m in members if args.all or m.role != "stopped"]
    header = ("INSTANCE", "HA GROUP", "HOST", "PID", "ROLE", "EPOCH", "HEARTBEAT", "VERSION")
    rows = [
        (m.who.instance, m.who.ha_group or "-", m.who.host, str(m.who.pid), m.role,
         "-" if m.epoch is None else str(m.epoch), f"{m.heartbeat_age:.1f}s ago", m.who.version)
        for m in shown
    ]  # fmt: skip
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, *rows]:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())
    return 0


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "instances",
        help="the vigia processes on this database: role, epoch, heartbeat age",
        description="List the vigia processes sharing the store (PostgreSQL for several), the lease holder, "
        "each one's role, epoch and heartbeat age (on the database's clock).",
    )
    config_arguments(p)
    p.add_argument("--all", action="store_true", help="also processes that stopped")
    p.set_defaults(func=cmd_instances)
