"""Configuration: one invalid file per kind of error, each with its exact message."""

from __future__ import annotations

from pathlib import Path

import pytest

import config as cfg
from kernel.errors import ConfigError
from monitor.cli import main
from probes.icmp import IcmpSettings

INVALID = sorted((Path(__file__).parent / "configs" / "invalid").glob("*.yml"))
ROOT = Path(__file__).parent.parent


def expected(path: Path) -> list[str]:
    lines = [ln.removeprefix("# expect: ") for ln in path.read_text().splitlines() if ln.startswith("# expect: ")]
    return [ln.replace("{file}", str(path)) for ln in lines]


@pytest.mark.parametrize("path", INVALID, ids=[p.stem for p in INVALID])
def test_invalid_file_gives_exact_messages(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    want = expected(path)
    assert want, f"{path} has no '# expect:' line"
    assert main(["check-config", str(path)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[:-1] == want
    assert err[-1] == f"{len(want)} problem{'s' if len(want) != 1 else ''} found"


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = "".join(p.read_text() for p in INVALID if p.stem in ("unknown_probe", "duplicate_id"))
    # Two files' targets merged into one list: both problems must come out together.
    merged = tmp_path / "merged.yml"
    merged.write_text("targets:\n" + "\n".join(ln for ln in text.splitlines() if ln.startswith("  ")))
    with pytest.raises(ConfigError) as info:
        cfg.parse(str(merged))
    messages = [p.message for p in info.value.problems]
    assert any("duplicate target id" in m for m in messages)
    assert any("unknown probe kind" in m for m in messages)


def test_demo_and_examples_are_valid(capsys: pytest.CaptureFixture[str]) -> None:
    for example in sorted((ROOT / "examples").glob("*.yml")):
        assert main(["check-config", str(example)]) == 0, capsys.readouterr().err
        assert "OK" in capsys.readouterr().out


def test_defaults_apply_and_can_be_overridden(tmp_path: Path) -> None:
    path = tmp_path / "c.yml"
    path.write_text(
        "defaults: {interval: 30s, timeout: 4s, packets: 5, failures_before_down: 2}\n"
        "targets:\n"
        "  - {id: a, probe: icmp, icmp: {address: 127.0.0.1}}\n"
        "  - {id: b, probe: icmp, interval: 1m, timeout: 1500ms, successes_before_up: 2,\n"
        "     labels: {role: gateway, criticality: alta, site: cdc}, icmp: {address: 127.0.0.2, packets: 2}}\n"
    )
    conf = cfg.parse(str(path), state_dir=str(tmp_path))
    a, b = conf.targets
    assert (a.interval, a.timeout, a.packets, a.failures_before_down, a.successes_before_up) == (30, 4, 5, 2, 1)
    assert (b.interval, b.timeout, b.packets, b.successes_before_up) == (60, 1.5, 2, 2)
    assert b.labels == {"role": "gateway", "criticality": "alta", "site": "cdc"}
    assert isinstance(b.settings, IcmpSettings)
    assert conf.timezone.key == "America/Bogota"
    assert conf.state_dir == str(tmp_path)


def test_zones_inherit_zone_defaults_then_defaults_and_a_bad_pair_is_said_once(tmp_path: Path) -> None:
    path = tmp_path / "c.yml"
    zones = "".join(
        f"  - {{id: ZD-{i}, name: Zona {i}, lat: 10.4, lon: -75.5, gateway: 10.0.{i}.1}}\n" for i in range(1, 4)
    )
    path.write_text(
        "defaults: {interval: 30s, timeout: 4s, failures_before_down: 2}\n"
        "zone_defaults: {interval: 2m, successes_before_up: 3}\n"
        f"zones:\n{zones}"
    )
    conf = cfg.parse(str(path), state_dir=str(tmp_path))
    gateway = next(t for t in conf.targets if t.id == "ZD-1:gateway")
    timing = (gateway.interval, gateway.timeout, gateway.failures_before_down, gateway.successes_before_up)
    assert timing == (120, 4, 2, 3)  # zone_defaults first, then the file's defaults
    z = conf.zones[0]
    assert (z.interval, z.failures_before_down, z.successes_before_up) == (120, 2, 3)
    path.write_text(path.read_text().replace("successes_before_up: 3", "timeout: 3m"))
    with pytest.raises(ConfigError) as info:
        cfg.parse(str(path), state_dir=str(tmp_path))
    said = [p.message for p in info.value.problems if "timeout must be shorter" in p.message]
    assert said == ["timeout must be shorter than the interval"]  # once, not once per zone


def test_missing_file() -> None:
    with pytest.raises(ConfigError, match=r"nope\.yml: cannot read: No such file"):
        cfg.parse("nope.yml")


def test_secrets_by_file_and_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "pw").write_text("clave\n")
    monkeypatch.setenv("VIGIA_TEST_PW", "otra")
    path = tmp_path / "c.yml"
    path.write_text(
        "targets:\n"
        "  - id: a\n    probe: http\n    http:\n      url: http://127.0.0.1/\n"
        f"      basic_auth: {{username: u, password: {{file: {tmp_path}/pw}}}}\n"
        "  - id: b\n    probe: http\n    http:\n      url: http://127.0.0.1/\n"
        "      basic_auth: {username: u, password: {env: VIGIA_TEST_PW}}\n"
    )
    conf = cfg.parse(str(path))
    assert conf.targets[0].settings.basic_auth.password.read() == "clave"  # type: ignore[attr-defined]
    assert conf.targets[1].settings.basic_auth.password.read() == "otra"  # type: ignore[attr-defined]
    assert "clave" not in repr(conf)


def test_a_control_character_is_a_located_problem(tmp_path: Path) -> None:
    """PyYAML refuses control characters before parsing anything: a located problem, not a crash
    (found by the configuration fuzzer)."""
    path = tmp_path / "vigia.yml"
    path.write_text("targets:\n  - {id: a\x1f, probe: tcp, tcp: {host: 127.0.0.1, port: 9}}\n")
    with pytest.raises(ConfigError) as info:
        cfg.parse(str(path), state_dir=str(tmp_path))
    [problem] = info.value.problems
    assert (problem.line, problem.column) == (2, 11) and "control character (U+001F)" in problem.message


def test_every_relative_path_is_relative_to_the_file_that_names_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One rule (kernel.paths), whatever the working directory: a configuration's state_dir, url
    file, folders, plan and secret files are relative to the configuration's folder; a plan's
    secret files and file steps to the plan's."""
    here = tmp_path / "etc" / "vigia"
    (here / "secretos").mkdir(parents=True)
    (here / "planes").mkdir()
    (here / "store-url").write_text(f"sqlite:///{tmp_path}/otra.db\n")
    (here / "secretos" / "pw").write_text("clave\n")
    (here / "secretos" / "radacct").write_text("sqlite:///radacct.db\n")
    (here / "planes" / "url-almacen").write_text("sqlite:///x.db\n")
    (here / "planes" / "plan.yml").write_text(
        (ROOT / "examples" / "plans" / "demo-continuidad.yml")
        .read_text()
        .replace("{file: demo-store-url}", "{file: url-almacen}")
        .replace("    verify:\n", "    verify:\n      - {type: file, name: respaldo, path: respaldos/ultimo.tar}\n")
    )
    (here / "vigia.yml").write_text(
        "state_dir: ../../var/lib/vigia\n"
        "store: {url_file: store-url}\n"
        "web: {listen: '127.0.0.1:9842', config_file: web.yml}\n"
        "status_page: {listen: '127.0.0.1:9843', directory: publico}\n"
        "reports: {directory: informes}\n"
        "continuity: {plan: planes/plan.yml}\n"
        "radius: {url: {file: secretos/radacct}}\n"
        "targets:\n"
        "  - id: a\n    probe: http\n    http:\n      url: http://127.0.0.1/\n"
        "      basic_auth: {username: u, password: {file: secretos/pw}}\n"
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    conf = cfg.parse("../etc/vigia/vigia.yml")
    assert conf.state_dir == str(tmp_path / "var" / "lib" / "vigia")
    assert conf.store.url_file == str(here / "store-url") and conf.store_url() == f"sqlite:///{tmp_path}/otra.db"
    assert conf.web.config_file == str(here / "web.yml")
    assert conf.status_page is not None and conf.status_page.directory == str(here / "publico")
    assert conf.reports.directory == str(here / "informes")
    assert conf.continuity_plan == str(here / "planes" / "plan.yml")
    assert conf.radius is not None and conf.radius.url.file == str(here / "secretos" / "radacct")
    assert conf.targets[0].settings.basic_auth.password.read() == "clave"  # type: ignore[attr-defined]
    # --state-dir is the shell's: relative to the working directory, as on every command line.
    assert cfg.parse("../etc/vigia/vigia.yml", state_dir="estado").state_dir == "estado"

    from continuity.plan import SqlStep, parse

    drill = parse(conf.continuity_plan).drill("verificacion-historial")
    file_step, _probe, sql = drill.verify
    assert file_step.path == str(here / "planes" / "respaldos" / "ultimo.tar")
    assert isinstance(sql, SqlStep) and sql.url.read() == "sqlite:///x.db"


def test_an_agents_checks_are_validated_at_the_centre_with_their_line(tmp_path: Path) -> None:
    path = tmp_path / "c.yml"
    path.write_text(
        "zones:\n"
        "  - id: ZD-01\n    name: Plaza\n    lat: 10.4\n    lon: -75.5\n"
        "    agent:\n      portal_url: ftp://portal/\n      dns: {name: portal.test}\n      color: red\n"
    )
    with pytest.raises(ConfigError) as info:
        cfg.parse(str(path), state_dir=str(tmp_path))
    said = [(p.line, p.key, p.message) for p in info.value.problems]
    assert said == [(9, "zones[0].agent.color", "unknown key")]  # the zone's own keys first
    path.write_text(path.read_text().replace("      color: red\n", ""))
    with pytest.raises(ConfigError) as info:
        cfg.parse(str(path), state_dir=str(tmp_path))
    said = [(p.line, p.key, p.message) for p in info.value.problems]
    assert any(key.startswith("zones[0].agent.portal") for _, key, _ in said), said  # an ftp URL is no portal
    assert any(key.startswith("zones[0].agent.dns") for _, key, _ in said), said  # no resolver, no gateway
