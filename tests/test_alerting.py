"""The NOC's day with the real parts: Debian's Prometheus scrapes a lab vigia and evaluates the
shipped alert rules; Debian's Alertmanager runs the shipped routing, grouping and inhibition; a
local webhook receiver stands in for every receiver.

What is changed in the shipped files, and why: each receiver's Telegram and e-mail settings are
replaced by a webhook to this test (nothing here may reach Telegram or a mail server); alert hold
times (``for:``), rule intervals and Alertmanager's group timers are shortened so the test takes a
minute. Routes, group_by, inhibition rules and the alert expressions are the shipped ones; the hold
times themselves are checked by promtool (deploy/prometheus/tests/vigia-alerts.test.yml).

The lab: six zones in three localidades whose captive portals are HTTP servers this test stops
and starts; two of them hang from a data-centre uplink (a TCP target) that this test cuts.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import free_port, need_binary
from tests.servers import fast_rules, prometheus_api, prometheus_server
from tests.test_deploy_files import alertmanager_config
from tests.vigiaproc import ROOT, VigiaProcess

pytestmark = pytest.mark.server

HISTORICA, VIRGEN, INDUSTRIAL = "Histórica y del Caribe Norte", "De la Virgen y Turística", "Industrial de la Bahía"
# Group timers at a test's pace: the first notification of a group waits 3 s for the rest of it.
GROUP_WAIT, GROUP_INTERVAL = "3s", "3s"
SETTLE = 8.0  # seconds after a first notification in which no other may arrive


class Portal:
    """A captive portal answering 200 on a fixed port, which the test takes down and brings back."""

    def __init__(self) -> None:
        self.port = free_port()
        self.server: ThreadingHTTPServer | None = None
        self.up()

    def up(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = b"portal"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def down(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


@dataclass
class Hook:
    """The webhook receiver: every notification Alertmanager sends, with the receiver's name."""

    port: int = field(default_factory=free_port)
    seen: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def since(self, mark: int, status: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [n for n in self.seen[mark:] if status is None or n["status"] == status]

    def mark(self) -> int:
        with self.lock:
            return len(self.seen)


@contextmanager
def webhook() -> Iterator[Hook]:
    hook = Hook()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            body["path"] = self.path
            with hook.lock:
                hook.seen.append(body)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", hook.port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()


def hooked_config(tmp: Path, hook: Hook) -> Path:
    """The shipped Alertmanager configuration, its receivers all pointed at the hook."""
    doc = yaml.safe_load(alertmanager_config(tmp).read_text())
    for receiver in doc["receivers"]:
        name = receiver["name"]
        for key in [k for k in receiver if k.endswith("_configs")]:
            del receiver[key]
        receiver["webhook_configs"] = [{"url": f"http://127.0.0.1:{hook.port}/{name}", "send_resolved": True}]
    routes = [doc["route"], *doc["route"]["routes"]]
    for route in routes:
        route.update(group_wait=GROUP_WAIT, group_interval=GROUP_INTERVAL, repeat_interval="1h")
    (tmp / "alertmanager-test.yml").write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False))
    return tmp / "alertmanager-test.yml"


@contextmanager
def alertmanager(config: Path, tmp: Path) -> Iterator[int]:
    binary = need_binary("prometheus-alertmanager", "prometheus-alertmanager")
    port = free_port()
    with open(tmp / "alertmanager.log", "wb") as log:
        proc = subprocess.Popen(
            [binary, f"--config.file={config}", f"--storage.path={tmp / 'am-data'}",
             f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
            stdout=subprocess.DEVNULL, stderr=log,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert proc.poll() is None, (tmp / "alertmanager.log").read_text()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=1):
                    break
            except OSError:
                time.sleep(0.2)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def alerts_in_alertmanager(port: int) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/alerts", timeout=5) as resp:
        return list(json.load(resp))


def wait_until(what: Callable[[], bool], timeout: float, message: str, logs: list[Path]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if what():
                return
        except OSError:  # a server still starting
            pass
        time.sleep(0.25)
    tails = "\n".join(f"--- {p.name} ---\n{p.read_text()[-3000:]}" for p in logs if p.exists())
    raise AssertionError(f"timed out: {message}\n{tails}")


def names(notification: dict[str, Any], status: str = "firing") -> list[str]:
    return sorted(a["labels"]["alertname"] for a in notification["alerts"] if a["status"] == status)


def zone(zid: str, localidad: str, portal: Portal, lat: float, extra: str = "") -> str:
    return (
        f'  - {{id: {zid}, name: "Zona {zid}", barrio: "Barrio {zid}", localidad: "{localidad}", lat: {lat},'
        f' lon: -75.5, portal_url: "http://127.0.0.1:{portal.port}/"{extra}}}\n'
    )


def test_one_message_per_cause_and_the_all_clear(tmp_path: Path) -> None:
    prometheus = need_binary("prometheus", "prometheus")
    with ExitStack() as stack:
        historica, virgen, industrial, uplink = Portal(), Portal(), Portal(), Portal()
        for p in (historica, virgen, industrial, uplink):
            stack.callback(p.down)
        config = (
            "instance: lab\nstate_dir: {state}\n"
            "defaults: {interval: 1s, timeout: 500ms, failures_before_down: 1}\n"
            "targets:\n"
            "  - {id: enlace-virgen, probe: tcp, group: datacenter, description: Enlace metro Ethernet La Virgen,"
            f" tcp: {{host: 127.0.0.1, port: {uplink.port}}}}}\n"
            "zones:\n"
            + zone("ZD-01", HISTORICA, historica, 10.42)
            + zone("ZD-02", HISTORICA, historica, 10.43)
            + zone("ZD-03", HISTORICA, historica, 10.44)
            + zone("ZD-04", VIRGEN, virgen, 10.45, ", uplink: enlace-virgen")
            + zone("ZD-05", VIRGEN, virgen, 10.46, ", uplink: enlace-virgen")
            + zone("ZD-06", INDUSTRIAL, industrial, 10.47)
        )
        vigia = VigiaProcess(config, tmp_path)
        vigia.start()
        stack.callback(vigia.stop)
        vigia.wait_ready(timeout=30)
        hook = stack.enter_context(webhook())
        am_port = stack.enter_context(alertmanager(hooked_config(tmp_path, hook), tmp_path))
        rules = [
            fast_rules(ROOT / "deploy/prometheus/rules" / name, tmp_path / name)
            for name in ("vigia-alerts.yml", "vigia-recording.yml")
        ]
        (tmp_path / "prometheus.yml").write_text(yaml.safe_dump({
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(r) for r in rules],
            "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]}]},
            "scrape_configs": [{"job_name": "vigia", "static_configs": [{"targets": [f"127.0.0.1:{vigia.port}"]}]}],
        }))  # fmt: skip
        prom = stack.enter_context(prometheus_server(prometheus, tmp_path / "prometheus.yml", tmp_path))
        logs = [tmp_path / "alertmanager.log", tmp_path / "prometheus.log", vigia.log]

        def zones_up() -> float:
            query = 'sum(vigia_zone_up) and on() vigia_target_up{target="enlace-virgen"} == 1'
            got = prometheus_api(prom, "query", query=query)
            return float(got[0]["value"][1]) if got else 0.0

        wait_until(lambda: zones_up() == 6, 40, "Prometheus sees the six zones and the uplink up", logs)
        time.sleep(3)  # anything the start-up made fire would be sent within the group wait
        assert hook.since(0, "firing") == [], hook.seen

        def one_message(cut: Callable[[], None], expected: str, receiver: str) -> dict[str, Any]:
            """Cut something; exactly one firing notification arrives, for ``expected`` alone."""
            mark = hook.mark()
            cut()
            wait_until(lambda: bool(hook.since(mark, "firing")), 40, f"a notification for {expected}", logs)
            time.sleep(SETTLE)
            firing = hook.since(mark, "firing")
            assert len(firing) == 1, [(n["path"], names(n)) for n in firing]
            [message] = firing
            assert names(message) == [expected] and message["path"] == f"/{receiver}", (message["path"], names(message))
            return dict(message["alerts"][0]["labels"])

        def all_clear(bring_back: Callable[[], None], alertname: str) -> None:
            mark = hook.mark()
            bring_back()
            wait_until(
                lambda: any(alertname in names(n, "resolved") for n in hook.since(mark, "resolved")),
                40, f"the resolved notification of {alertname}", logs,
            )  # fmt: skip
            assert hook.since(mark, "firing") == [], [names(n) for n in hook.since(mark, "firing")]
            # All clear means nothing left active: an alert the cut inhibited (a localidad behind the
            # uplink) resolves a cycle after its source on a loaded machine; the next step starts clean.
            wait_until(lambda: alerts_in_alertmanager(am_port) == [], 40, "no alert left active", logs)

        def inhibited() -> set[tuple[str, str]]:
            out = set()
            for a in alerts_in_alertmanager(am_port):
                if a["status"]["inhibitedBy"]:
                    labels = a["labels"]
                    out.add((labels["alertname"], labels.get("zone") or labels.get("localidad") or labels["target"]))
            return out

        # A localidad cut: its three zones are down, one message names the localidad.
        labels = one_message(historica.down, "VigiaLocalidadDown", "noc")
        assert labels["localidad"] == HISTORICA and "zone" not in labels
        # The single-zone alerts fired in Prometheus and reached Alertmanager, inhibited there.
        assert {("VigiaZoneDown", z) for z in ("ZD-01", "ZD-02", "ZD-03")} <= inhibited()
        all_clear(historica.up, "VigiaLocalidadDown")

        # The uplink cut: its zones go down with it; the uplink's alert stands for them all, and for
        # its own data-centre service alert.
        def cut_uplink() -> None:
            uplink.down()
            virgen.down()

        def restore_uplink() -> None:
            uplink.up()
            virgen.up()

        labels = one_message(cut_uplink, "VigiaUplinkDown", "noc")
        assert labels["uplink"] == "enlace-virgen" and labels["description"] == "Enlace metro Ethernet La Virgen"
        wait_until(
            lambda: {("VigiaZoneDown", "ZD-04"), ("VigiaZoneDown", "ZD-05"), ("VigiaLocalidadDown", VIRGEN)}
            <= inhibited(),
            20, "the zone and localidad alerts behind the uplink inhibited", logs,
        )  # fmt: skip
        # The link's own service alert is not fired at all (fired to be inhibited, it raced the
        # uplink's alert on the way back and reached the NOC as new).
        service = 'ALERTS{alertname="VigiaDatacenterServiceDown"}'
        assert prometheus_api(prom, "query", query=service) == []
        all_clear(restore_uplink, "VigiaUplinkDown")

        # vigia itself stops: VigiaDown alone, to the sysadmins; back, and it is resolved.
        labels = one_message(vigia.stop, "VigiaDown", "sistemas")
        assert labels["instance"] == f"127.0.0.1:{vigia.port}"
        all_clear(vigia.start, "VigiaDown")
