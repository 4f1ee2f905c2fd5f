"""The shipped Prometheus rules and configuration pass promtool; every alert has a unit test; the
Grafana dashboards are the ones deploy/grafana/dashboards.py builds, and provisioning points at them."""

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
                    assert {"summary", "description"} <= set(r["annotations"]), r["alert"]


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
