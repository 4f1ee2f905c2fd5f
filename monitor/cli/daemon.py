"""The daemon's commands: run, check-config, hash-password, probe, version."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from kernel.errors import ConfigError, VigiaError
from kernel.redact import redact
from monitor.cli.common import (
    config_arguments,
    load_config,
    load_plan,
    print_problems,
    setup_logging,
)


def cmd_run(args: argparse.Namespace) -> int:
    from monitor.daemon import Daemon

    try:
        daemon = Daemon(args.config, state_dir=args.state_dir, listen=args.listen, web_config=args.web_config_file)
    except ConfigError as exc:  # the configuration, the continuity plan or the web config
        print_problems(exc)
        return 1
    except VigiaError as exc:  # the store URL cannot be read or used, a bad --listen
        print(f"vigia: cannot start: {redact(str(exc))}", file=sys.stderr)
        return 1
    setup_logging(args.log_level or daemon.config.log_level)
    try:
        return daemon.serve_forever()
    except VigiaError as exc:  # store unreachable, port in use, open-files limit: one line, no traceback
        logging.getLogger("vigia").error("cannot start: %s", exc)
        return 1


def cmd_check_config(args: argparse.Namespace) -> int:
    conf = load_config(args.file)
    if conf is None:
        return 1
    if conf.continuity_plan is not None:
        plan = load_plan(conf)
        if plan is None:
            return 1
        print(
            f"{conf.continuity_plan}: OK (plan {plan.version}: {len(plan.services)} services, "
            f"{len(plan.drills)} drills)"
        )
    print(f"{args.file}: OK ({len(conf.targets)} targets, {len(conf.maintenance)} maintenance windows)")
    from monitor.web.webconfig import parse as parse_web

    web_file = args.web_config_file or conf.web.config_file
    if web_file:
        try:
            web = parse_web(web_file)
        except ConfigError as exc:
            print_problems(exc)
            return 1
        print(f"{web_file}: OK (TLS {'on' if web.tls else 'off'}, {len(web.users)} basic auth users)")
    if args.check_store:
        from store.db import SCHEMA_VERSION, Store, safe_url

        store = Store(conf.store_url(), conf.instance)  # a StoreError is one line (main)
        try:
            found = store.reachable_schema()
        finally:
            store.close()
        status = "empty, vigia creates the schema at start" if found is None else f"schema version {found}"
        if found is not None and found > SCHEMA_VERSION:
            print(
                f"store {safe_url(store.url)}: schema {found} is newer than this vigia ({SCHEMA_VERSION})",
                file=sys.stderr,
            )
            return 1
        print(f"store {safe_url(store.url)}: reachable ({status})")
    return 0


def cmd_hash_password(args: argparse.Namespace) -> int:
    import getpass

    from monitor.web.webconfig import BCRYPT_MAX_PASSWORD, hash_password

    if sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            print("the two passwords differ", file=sys.stderr)
            return 1
    else:
        password = sys.stdin.readline().rstrip("\n")
    if not password or len(password.encode()) > BCRYPT_MAX_PASSWORD:
        print(f"the password must have 1 to {BCRYPT_MAX_PASSWORD} bytes", file=sys.stderr)
        return 1
    print(hash_password(password, args.cost))
    return 0


def cmd_probe(args: argparse.Namespace) -> int:
    from monitor.runtime.cycle import CycleRunner

    conf = load_config(args.config)
    if conf is None:
        return 1
    try:
        target = conf.target(args.target)
    except KeyError:
        known = ", ".join(t.id for t in conf.targets) or "none"
        print(f"{args.config}: no target {args.target!r} (targets: {known})", file=sys.stderr)
        return 2
    runner = CycleRunner(max_in_flight=max(target.settings.sockets(), 1))
    try:
        outcome = runner.run([target])
    finally:
        runner.close()
    res = outcome.results[0]
    if args.json:
        print(
            json.dumps(
                {
                    "target": res.target,
                    "probe": res.probe,
                    "started_at": res.started_at.isoformat(),
                    "duration_seconds": res.duration,
                    "success": res.success,
                    "reason": res.reason,
                    "message": res.message,
                    "values": res.values,
                    "labels": res.labels,
                    "series": [{"name": s.name, "labels": dict(s.labels), "value": s.value} for s in res.series],
                },
                indent=2,
                sort_keys=True,
            )
        )
    else:
        status = "OK" if res.success else f"FAIL ({res.reason})"
        print(f"{res.target} [{res.probe}] {status} in {res.duration * 1000:.1f} ms")
        if res.message:
            print(f"  {res.message}")
        for k, v in sorted(res.values.items()):
            print(f"  {k} = {v:g}")
        for k, text in sorted(res.labels.items()):
            print(f"  {k}: {text}")
        for s in res.series:
            lbl = ",".join(f"{k}={v}" for k, v in s.labels)
            print(f"  {s.name}{{{lbl}}} = {s.value:g}")
    return 0 if res.success else 3


def cmd_version(_args: argparse.Namespace) -> int:
    from monitor.version import vigia_version

    print(f"vigia {vigia_version()}")
    return 0


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = sub.add_parser(
        "run",
        help="run the daemon",
        description=(
            "Run the daemon in the foreground (systemd: Type=notify comes with the deploy unit). "
            "Probes every target on its interval, keeps state and history in the store and serves "
            "/metrics, /-/healthy and /-/ready. SIGHUP reloads the configuration (an invalid file keeps "
            "the running one); SIGTERM finishes the running cycle's writes and exits 0."
        ),
    )
    config_arguments(run)
    run.add_argument("--listen", help="address:port for the HTTP endpoints, overriding web.listen")
    run.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    run.add_argument(
        "--web.config.file",
        dest="web_config_file",
        metavar="FILE",
        help="TLS and basic auth (Prometheus exporter-toolkit format), overriding web.config_file",
    )
    run.set_defaults(func=cmd_run)

    check = sub.add_parser(
        "check-config",
        help="validate a configuration file",
        description=(
            "Validate a configuration file without running anything. Exit 0 when valid; otherwise print "
            "every problem as FILE:LINE:COLUMN: KEY: MESSAGE and exit 1."
        ),
    )
    check.add_argument("file", help="configuration file")
    check.add_argument(
        "--web.config.file", dest="web_config_file", metavar="FILE", help="also validate this web config file"
    )
    check.add_argument(
        "--check-store", action="store_true", help="also connect to the store and check its schema version"
    )
    check.set_defaults(func=cmd_check_config)

    hashpw = sub.add_parser(
        "hash-password",
        help="bcrypt hash for basic_auth_users in the web config",
        description="Read a password (prompted, or one line of standard input) and print its bcrypt hash.",
    )
    hashpw.add_argument("--cost", type=int, default=10, choices=range(10, 16), metavar="10..15")
    hashpw.set_defaults(func=cmd_hash_password)

    probe = sub.add_parser(
        "probe",
        help="probe one target once",
        description=(
            "Probe one configured target once, with its configured timeout, and print the result. "
            "Exit 0 if the probe succeeded, 3 if it failed, 1 for an invalid config, 2 for an unknown target."
        ),
    )
    config_arguments(probe, state_dir=False)
    probe.add_argument("--json", action="store_true", help="print the result as JSON")
    probe.add_argument("target", help="target id")
    probe.set_defaults(func=cmd_probe)


def add_version_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ver = sub.add_parser("version", help="print the version")
    ver.set_defaults(func=cmd_version)
