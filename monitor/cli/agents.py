"""Zone agents from the command line: add (a token printed once), list, revoke."""

from __future__ import annotations

import argparse
import logging
import sys
import time

from monitor.cli.common import config_arguments, load_config, local_time, operator, row


def cmd_agent(args: argparse.Namespace) -> int:
    from kernel.errors import InputError
    from store.db import Store

    conf = load_config(args.config, state_dir=args.state_dir)
    if conf is None:
        return 1
    if args.action in ("add", "revoke") and args.zone not in {z.id for z in conf.zones}:
        raise InputError(f"no zone {args.zone!r} in {conf.file}")
    with Store.opened(conf.store_url(), conf.instance) as store:
        agents, now = store.agents(conf.ha_group), time.time()
        if args.action == "add":
            token = agents.add(args.zone, operator(), now)
            print(token)
            print(f"the token of zone {args.zone}'s agent, shown once: write it to the agent's token_file "
                  "(mode 0600); vigia keeps only its hash", file=sys.stderr)  # fmt: skip
        elif args.action == "revoke":
            agents.revoke(args.zone, operator(), now)
            print(f"agent of zone {args.zone} revoked: its token is refused within 10 s")
        else:
            row("zone", "state", "last push", "last seq", "skew s", "dropped", "version")
            for a in agents.listed():
                state = "revoked" if a.revoked_at is not None else "live"
                pushed = local_time(a.last_push_at, conf.timezone) if a.last_push_at else "never"
                row(a.zone, state, pushed, a.last_seq, f"{a.skew_seconds:.1f}", a.dropped_total, a.version or "-")
    return 0


def cmd_agent_run(args: argparse.Namespace) -> int:
    from kernel.errors import ConfigError
    from monitor.agent.run import Agent, one_malloc_arena
    from monitor.agent.settings import parse
    from monitor.cli.common import print_problems

    try:
        settings = parse(args.agent_config)
    except ConfigError as exc:
        print_problems(exc)
        return 1
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    one_malloc_arena()  # before any thread starts
    return Agent(settings).serve_forever()


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "agent",
        help="zone agents: add ZONE (prints its token once), list, revoke ZONE",
        description="The agents that measure each zone from inside it. A token is printed once and kept only "
        "as a hash; a zone has one live agent.",
    )
    config_arguments(p)
    acts = p.add_subparsers(dest="action", metavar="ACTION")
    acts.required = True
    a = acts.add_parser("add", help="register the zone's agent and print its token once")
    a.add_argument("zone")
    r = acts.add_parser("revoke", help="refuse the zone's agent's token from now on")
    r.add_argument("zone")
    ls = acts.add_parser("list", help="every agent: last push, last sequence stored, clock skew, drops, version")
    for q in (a, r, ls):
        config_arguments(q, after_action=True)
        q.set_defaults(func=cmd_agent)
    run = acts.add_parser("run", help="run the agent on a zone's LAN (its own file: zone, centre, token)")
    run.add_argument("--config", "-c", dest="agent_config", default="/etc/vigia/agent.yml", help="the agent's file")
    run.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    run.set_defaults(func=cmd_agent_run)
