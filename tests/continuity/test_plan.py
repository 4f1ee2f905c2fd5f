"""The continuity plan is validated whole, with located messages, before anything runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from continuity.plan import parse
from kernel.errors import ConfigError

ROOT = Path(__file__).parent.parent.parent

GOOD_SERVICE = "  - {id: web, name: Portal, rto: 5m, rpo: 1h, mtd: 1h}\n"


def problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "plan.yml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        parse(str(path))
    return [f"{p.line}:{p.key}: {p.message}" for p in info.value.problems]


def test_example_plan_is_valid() -> None:
    plan = parse(str(ROOT / "examples" / "plans" / "cartagena-continuidad.yml"))
    assert plan.version == "2025.1" and len(plan.sha256) == 64
    assert set(plan.drills) == {"reinicio-portal", "restauracion-respaldo"}


def test_every_kind_of_mistake(tmp_path: Path) -> None:
    drill = "    service: {svc}\n    kind: restart\n    exercise: {ex}\n    objective: x\n    max_duration: {md}\n"
    text = (
        "version: '1'\n"
        "services:\n"
        "  - {id: web, name: Portal, rto: 5m, rpo: 1h, mtd: 1h, depends_on: [db]}\n"
        "  - {id: db, name: Datos, rto: 10m, rpo: 1h, mtd: 2h, depends_on: [web]}\n"
        "  - {id: dns, name: DNS, rto: 5m, rpo: 1h, mtd: 1h, depends_on: [ldap]}\n"
        "drills:\n"
        "  - id: sin-rollback\n"
        + drill.format(svc="web", ex="functional", md="1h")
        + "    method: [{type: command, argv: [/usr/bin/true]}]\n"
        "  - id: paso-raro\n" + drill.format(svc="web", ex="functional", md="1h") + "    verify: [{type: teleport}]\n"
        "  - id: corto\n"
        + drill.format(svc="db", ex="functional", md="5m")
        + "  - id: huerfano\n"
        + drill.format(svc="mail", ex="tabletop", md="1h")
        + "  - id: hostil\n"
        + drill.format(svc="web", ex="functional", md="1h")
        + "    params: {unit: '; rm -rf /'}\n"
        "    method: [{type: command, argv: [/usr/bin/systemctl, restart, '{unit}']}]\n"
        "    rollback: [{type: command, argv: [/usr/bin/systemctl, start, '{unit}']}]\n"
        "  - id: relativo\n"
        + drill.format(svc="web", ex="functional", md="1h")
        + "    rollback: [{type: command, argv: [systemctl, start, nginx]}]\n"
        "  - id: pegado\n"
        + drill.format(svc="web", ex="functional", md="1h")
        + "    rollback: [{type: command, argv: [/usr/bin/systemctl, start, 'x{unit}']}]\n"
    )
    got = problems(tmp_path, text)
    assert got == [
        "3:services[0].depends_on: dependency cycle: web -> db -> web",
        "5:services[2].depends_on[0]: unknown service 'ldap'",
        "7:drills[0]: a disruptive drill needs rollback steps (they run whatever happens)",
        "20:drills[1].verify[0]: unknown type 'teleport' (known: 'probe', 'command', 'http', 'wait', 'sql', 'file')",
        "26:drills[2].max_duration: max_duration is shorter than the service's RTO (600s): the drill would stop "
        "before recovery could be shown",
        "28:drills[3].service: unknown service 'mail'",
        "39:drills[4].params.unit: value '; rm -rf /' is not allowed: placeholders take plain words (letters, "
        "digits, _ . : / @ + = -, not starting with '-' or '.')",
        "48:drills[5].rollback[0].command.argv: argv[0] must be an absolute path (no PATH lookup), not 'systemctl'",
        "55:drills[6].rollback[0].command.argv: argv[2] 'x{unit}': a placeholder must be a whole argument, like "
        "'{unit}'",
    ]


def test_check_config_checks_the_plan_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from monitor.cli import main

    (tmp_path / "plan.yml").write_text(
        "version: '1'\nservices:\n" + GOOD_SERVICE + "drills:\n"
        "  - {id: d, service: nope, kind: restart, exercise: tabletop, objective: x,"
        " max_duration: 1h}\n"
    )
    (tmp_path / "vigia.yml").write_text(f"continuity: {{plan: {tmp_path / 'plan.yml'}}}\n")
    assert main(["check-config", str(tmp_path / "vigia.yml")]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path / 'plan.yml'}:5:" in err and "unknown service 'nope'" in err


def test_a_dry_run_prints_each_step_filled_and_runs_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from monitor.cli import main

    done = tmp_path / "done"
    (tmp_path / "plan.yml").write_text(
        "version: '1'\nservices:\n" + GOOD_SERVICE + "drills:\n"
        "  - {id: d, service: web, kind: restart, exercise: functional, objective: x, max_duration: 1h,\n"
        "     params: {unit: portal.service},\n"
        f"     method: [{{type: command, name: parar, argv: [/usr/bin/touch, '{done}', '{{unit}}']}}],\n"
        "     rollback: [{type: wait, duration: 2s}]}\n"
    )
    (tmp_path / "vigia.yml").write_text(
        f"state_dir: {tmp_path / 'state'}\ncontinuity: {{plan: {tmp_path / 'plan.yml'}}}\n"
    )
    assert main(["drill", "run", "d", "--dry-run", "--config", str(tmp_path / "vigia.yml")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1:] == [
        f"  method[0] parar: command /usr/bin/touch {done} portal.service (timeout 30s)",
        "  rollback[0] wait: wait 2s (timeout 30s)",
    ]
    assert not done.exists()
