"""The shipped Prometheus rules and configuration pass promtool; every alert has a unit test, a
runbook and links; the Alertmanager configuration passes amtool and routes each kind of alert to
its receivers; the Grafana dashboards are the ones deploy/grafana/dashboards.py builds, and
provisioning points at them."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from tests.conftest import need_binary
from tests.vigiaproc import ROOT

PROM = ROOT / "deploy" / "prometheus"
GRAFANA = ROOT / "deploy" / "grafana"


def test_promtool_checks_the_rules() -> None:
    promtool = need_binary("promtool", "prometheus")
    rules = sorted(str(p) for p in (PROM / "rules").glob("*.yml"))
    done = subprocess.run([promtool, "check", "rules", *rules], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("SUCCESS") == len(rules)


def test_promtool_unit_tests_pass_and_cover_every_alert() -> None:
    promtool = need_binary("promtool", "prometheus")
    done = subprocess.run(
        [promtool, "test", "rules", "tests/vigia-alerts.test.yml"], capture_output=True, text=True, cwd=PROM
    )
    assert done.returncode == 0, done.stdout + done.stderr
    alerts = {
        r["alert"] for f in (PROM / "rules").glob("*.yml") for g in yaml.safe_load(f.read_text())["groups"]
        for r in g["rules"] if "alert" in r
    }  # fmt: skip
    tests = yaml.safe_load((PROM / "tests" / "vigia-alerts.test.yml").read_text())["tests"]
    fired = {a["alertname"] for t in tests for a in t.get("alert_rule_test", []) if a.get("exp_alerts")}
    quiet = {a["alertname"] for t in tests for a in t.get("alert_rule_test", []) if not a.get("exp_alerts")}
    assert alerts == fired, f"alerts without a firing test: {alerts - fired}"
    # Every alert that waits (for:) is also shown not to fire before its time.
    waiting = {
        r["alert"] for f in (PROM / "rules").glob("*.yml") for g in yaml.safe_load(f.read_text())["groups"]
        for r in g["rules"] if "alert" in r and "for" in r
    }  # fmt: skip
    assert waiting <= quiet, f"alerts whose hold time is not tested: {waiting - quiet}"
    for f in (PROM / "rules").glob("*.yml"):
        for g in yaml.safe_load(f.read_text())["groups"]:
            for r in g["rules"]:
                if "alert" in r:
                    assert {"severity", "component"} <= set(r["labels"]), r["alert"]
                    assert r["labels"]["severity"] in ("critical", "warning", "info"), r["alert"]
                    links = {"summary", "description", "runbook_url", "dashboard_url"}
                    assert links <= set(r["annotations"]), r["alert"]


def alert_rules() -> list[dict[str, object]]:
    doc = yaml.safe_load((PROM / "rules" / "vigia-alerts.yml").read_text())
    return [r for g in doc["groups"] for r in g["rules"] if "alert" in r]


RUNBOOKS = ROOT / "docs" / "runbooks"
SECTIONS = ("## What it means", "## First checks", "## Whom to call", "## How it ends")


def test_every_alert_has_its_runbook_and_every_runbook_an_alert() -> None:
    names = {str(r["alert"]) for r in alert_rules()}
    pages = {p.stem for p in RUNBOOKS.glob("*.md")}
    assert names - pages == set(), f"alerts without a runbook in docs/runbooks: {sorted(names - pages)}"
    assert pages - names == set(), f"runbooks of no alert: {sorted(pages - names)}"
    boards = {json.loads(p.read_text())["uid"] for p in (GRAFANA / "dashboards").glob("*.json")}
    for r in alert_rules():
        name, notes = str(r["alert"]), r["annotations"]
        assert isinstance(notes, dict)
        text = (RUNBOOKS / f"{name}.md").read_text()
        assert text.startswith(f"# {name} — "), name
        for section in SECTIONS:
            assert section in text, f"{name}.md lacks {section!r}"
        assert notes["runbook_url"] == f"http://localhost:9842/runbooks/{name}.md", name
        board = str(notes["dashboard_url"]).removeprefix("http://localhost:3000/d/").split("?")[0]
        assert board in boards, f"{name}: dashboard_url names no shipped dashboard ({board})"


AM = ROOT / "deploy" / "alertmanager"


def alertmanager_config(tmp: Path) -> Path:
    """The shipped configuration with its template and secret files where this test put them."""
    text = (AM / "alertmanager.yml").read_text()
    text = text.replace("/etc/prometheus/alertmanager_templates/vigia.tmpl", str(AM / "vigia.tmpl"))
    for secret in ("smtp-password", "webhook-token"):
        (tmp / secret).write_text("x\n")
    text = text.replace("/etc/prometheus/secrets/", f"{tmp}/")
    (tmp / "alertmanager.yml").write_text(text)
    return tmp / "alertmanager.yml"


def test_amtool_checks_the_alertmanager_config(tmp_path: Path) -> None:
    amtool = need_binary("amtool", "prometheus-alertmanager")
    done = subprocess.run([amtool, "check-config", str(alertmanager_config(tmp_path))], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "4 inhibit rules" in done.stdout and "1 templates" in done.stdout
    for name in ("vigia.subject", "vigia.telegram", "vigia.email"):
        shown = subprocess.run(
            [amtool, "template", "render", f"--template.glob={AM / 'vigia.tmpl'}",
             f'--template.text={{{{ template "{name}" . }}}}'],
            capture_output=True, text=True,
        )  # fmt: skip
        assert shown.returncode == 0 and shown.stdout.strip(), (name, shown.stderr)


def test_each_kind_of_alert_reaches_its_receiver(tmp_path: Path) -> None:
    amtool = need_binary("amtool", "prometheus-alertmanager")
    config = str(alertmanager_config(tmp_path))
    cases = {
        ("alertname=VigiaZoneDown", "severity=critical", "component=zonas-digitales"): "noc",
        ("alertname=VigiaUplinkDown", "severity=critical", "component=centro-datos"): "noc",
        ("alertname=VigiaZoneDegraded", "severity=info", "component=zonas-digitales"): "informativo",
        ("alertname=VigiaDown", "severity=critical", "component=monitoreo"): "sistemas",
        ("alertname=VigiaDrillOverdue", "severity=warning", "component=continuidad"): "oficina",
        ("alertname=VigiaCertificateExpiringSoon", "severity=warning", "component=seguridad"): "oficina",
    }
    for labels, receiver in cases.items():
        done = subprocess.run(
            [amtool, "config", "routes", "test", f"--config.file={config}", *labels], capture_output=True, text=True
        )
        assert done.stdout.strip() == receiver, (labels, done.stdout, done.stderr)
    # Every alert of the rules is routed by its labels somewhere other than the catch-all's defaults.
    for r in alert_rules():
        labels = r["labels"]
        assert isinstance(labels, dict)
        args = [f"alertname={r['alert']}", *(f"{k}={v}" for k, v in labels.items())]
        done = subprocess.run(
            [amtool, "config", "routes", "test", f"--config.file={config}", *args], capture_output=True, text=True
        )
        assert done.stdout.strip() in ("noc", "sistemas", "oficina", "informativo"), (r["alert"], done.stdout)


def test_promtool_checks_the_scrape_config(tmp_path: Path) -> None:
    promtool = need_binary("promtool", "prometheus")
    # The example names files of a Debian server; put them where promtool can find them.
    text = (PROM / "prometheus.yml").read_text().replace("/etc/prometheus/", f"{tmp_path}/")
    (tmp_path / "rules").mkdir()
    for rules in (PROM / "rules").glob("*.yml"):
        shutil.copy(rules, tmp_path / "rules" / rules.name)
    (tmp_path / "vigia-ca.pem").write_text("")
    (tmp_path / "vigia-password").write_text("x\n")
    (tmp_path / "prometheus.yml").write_text(text)
    done = subprocess.run(
        [promtool, "check", "config", str(tmp_path / "prometheus.yml")], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 10 rules found" in done.stdout


def test_promtool_checks_the_federation_config() -> None:
    promtool = need_binary("promtool", "prometheus")
    done = subprocess.run([promtool, "check", "config", str(PROM / "federation.yml")], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_dashboards_are_built_from_their_source() -> None:
    sys.path.insert(0, str(GRAFANA))
    try:
        import dashboards
    finally:
        sys.path.remove(str(GRAFANA))
    built = dashboards.render()
    shipped = {p.name: p.read_text(encoding="utf-8") for p in (GRAFANA / "dashboards").glob("*.json")}
    assert built == shipped, "run: python deploy/grafana/dashboards.py"
    for name, text in built.items():
        board = json.loads(text)
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids)), name
        for panel in board["panels"]:
            g = panel["gridPos"]
            assert g["x"] + g["w"] <= 24, (name, panel["title"])
            if panel["type"] != "row":
                assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
                assert panel["targets"], (name, panel["title"])
    overview = json.loads(built["vigia-resumen.json"])
    [geomap] = [p for p in overview["panels"] if p["type"] == "geomap"]
    layer = geomap["options"]["layers"][0]
    assert layer["location"] == {"mode": "coords", "latitude": "lat", "longitude": "lon"}
    assert "group_left(name, barrio, lat, lon) vigia_zone_info" in geomap["targets"][0]["expr"]


def test_provisioning_points_at_the_dashboards() -> None:
    datasources = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "vigia.yml").read_text())
    [ds] = datasources["datasources"]
    assert ds["type"] == "prometheus" and ds["uid"] == "vigia-prometheus" and datasources["apiVersion"] == 1
    providers = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "vigia.yml").read_text())
    [provider] = providers["providers"]
    assert provider["type"] == "file" and provider["folder"] == "vigia"
    # deploy/install.sh copies the JSON files to the provider's path.
    install = (ROOT / "deploy" / "install.sh").read_text()
    assert provider["options"]["path"] in install
