"""`vigia report month --preview`: the month so far, marked preliminary on every page, never
frozen, never in a manifest; the month itself is closed later as if no preview had been made."""

from __future__ import annotations

import io
import re
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pypdf import PdfReader

import config as cfg
from kernel.month import Month
from monitor.cli import main
from store import db as st
from tests.reports.test_opendata import BOGOTA, CONFIG, filled

__all__ = ["filled"]


def config_file(store: st.Store, tmp_path: Path) -> Path:
    (tmp_path / "url").write_text(str(store.engine.url))
    store.close()
    path = tmp_path / "r.yml"
    path.write_text(CONFIG + f"instance: cdc\nstore: {{url_file: {tmp_path / 'url'}}}\nstate_dir: {tmp_path}\n")
    return path


def test_a_preview_is_marked_and_leaves_no_trace(
    filled: tuple[st.Store, cfg.Config], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store, _ = filled
    conf = config_file(store, tmp_path)
    assert main(["report", "month", "--config", str(conf), "--month", "2025-01", "--preview"]) == 0
    written = [Path(p) for p in capsys.readouterr().out.split()]
    assert sorted(p.name for p in written) == [
        "zonas-digitales-2025-01.preliminar.es.html", "zonas-digitales-2025-01.preliminar.es.pdf",
    ]  # fmt: skip
    assert all(p.parent == tmp_path / "reports" / "preliminar" for p in written)
    html = written[0].read_text()
    assert 'id="preliminary"' in html and "PRELIMINAR: mes en curso, cifras no definitivas" in html
    assert "99,70 %" in html  # the figures are the month's, computed now
    pages = PdfReader(io.BytesIO(written[1].read_bytes())).pages
    assert len(pages) > 1 and all("PRELIMINAR" in page.extract_text() for page in pages)
    # Nothing frozen, no month folder, no manifest, no open data.
    db = sqlite3.connect(tmp_path / "vigia.db")
    assert db.execute("select count(*) from month_snapshots").fetchone()[0] == 0
    assert not (tmp_path / "reports" / "2025-01").exists()
    # The close afterwards is the month's own report: no preliminary mark.
    assert main(["report", "month", "--config", str(conf), "--month", "2025-01", "--format", "html"]) == 0
    closed = (tmp_path / "reports" / "2025-01" / "zonas-digitales-2025-01.es.html").read_text()
    assert "PRELIMINAR" not in closed and "preliminar" not in (tmp_path / "reports/2025-01/MANIFEST.sha256").read_text()


def tables(html: str) -> list[list[str]]:
    """Each table of a report page as its cells' text, in order."""
    return [[re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<t[dh][^>]*>.*?</t[dh]>", table, re.S)]
            for table in re.findall(r"<table.*?</table>", html, re.S)]  # fmt: skip


def test_a_preview_shows_the_figures_the_close_freezes(
    filled: tuple[st.Store, cfg.Config], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The preview computes the month from the store as it stands; the close freezes it first and
    # renders what it reads back. Every figure of the month must be the same in both, and the trend
    # over the months already frozen (December's close froze it and the eleven before): only the
    # date on the page differs. Before any close, a preview's trend has its own month alone (it
    # freezes none).
    store, _ = filled
    conf = config_file(store, tmp_path)
    argv = ["report", "month", "--config", str(conf), "--format", "html", "--month"]
    page = tmp_path / "reports/preliminar/zonas-digitales-2025-01.preliminar.es.html"
    assert main([*argv, "2025-01", "--preview"]) == 0
    alone = tables(page.read_text())
    assert main([*argv, "2024-12"]) == 0
    assert main([*argv, "2025-01", "--preview"]) == 0 and main([*argv, "2025-01"]) == 0
    capsys.readouterr()
    seen = tables(page.read_text())
    closed = tables((tmp_path / "reports/2025-01/zonas-digitales-2025-01.es.html").read_text())
    assert len(seen) == len(closed) > 5
    [trend] = [k for k, cells in enumerate(closed) if cells[:2] == ["Mes", "Disponibilidad"]]
    assert [c for c in alone[trend] if c[:2] == "20"] == ["2025-01"]
    assert [c for c in seen[trend] if c[:2] == "20"] == [str(Month(2025, 1).shift(-back)) for back in range(11, -1, -1)]
    same = [k for k in range(len(closed)) if not any(c.startswith("Fecha:") for c in closed[k])]
    assert len(same) == len(closed) - 1 and any("99,70 %" in cells for cells in (seen[k] for k in same))
    for k in same:
        assert seen[k] == closed[k], (k, seen[k][:12], closed[k][:12])


def test_the_current_month_needs_preview(
    filled: tuple[st.Store, cfg.Config], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store, _ = filled
    conf = config_file(store, tmp_path)
    now = str(Month.of(datetime.now(UTC), BOGOTA))
    assert main(["report", "month", "--config", str(conf), "--month", now]) == 2
    assert "--preview shows the month so far" in capsys.readouterr().err
    assert main(["report", "month", "--config", str(conf), "--month", now, "--preview", "--format", "html"]) == 0
    [page] = [Path(p) for p in capsys.readouterr().out.split()]
    assert "PRELIMINAR" in page.read_text() and "Sin datos" in page.read_text()
    later = str(Month.of(datetime.now(UTC), BOGOTA).next())
    assert main(["report", "month", "--config", str(conf), "--month", later, "--preview"]) == 2
    assert main(["report", "month", "--config", str(conf), "--month", now, "--preview", "--refreeze"]) == 2


def on_a_terminal(argv: list[str]) -> tuple[int, str]:
    """Run vigia with a pseudo-terminal as its stderr, as a person at a terminal would: (exit code, what it showed)."""
    import os
    import pty
    import subprocess
    import sys

    from tests.vigiaproc import ROOT

    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor", *argv], stdout=subprocess.DEVNULL, stderr=slave,
        cwd=str(ROOT), env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )  # fmt: skip
    os.close(slave)
    shown = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        shown += chunk
    os.close(master)
    return proc.wait(timeout=120), shown.decode()


def test_a_month_close_shows_progress_on_a_terminal_only(filled: tuple[st.Store, cfg.Config], tmp_path: Path) -> None:
    import subprocess
    import sys

    store, _ = filled
    conf = config_file(store, tmp_path)
    args = ["report", "month", "--config", str(conf), "--month", "2025-01", "--format", "html,pdf"]
    code, shown = on_a_terminal(args)
    assert code == 0
    for step in ("2025-01: the month's figures", "zonas-digitales-2025-01.es: rendering (3 zones)",
                 "zonas-digitales-2025-01.es.pdf: typesetting"):  # fmt: skip
        assert step in shown, shown
    code, shown = on_a_terminal([*args, "--quiet"])
    assert code == 0 and shown == ""
    piped = subprocess.run([sys.executable, "-m", "monitor", *args], capture_output=True, text=True, timeout=120)
    assert piped.returncode == 0 and piped.stderr == ""  # not a terminal: nothing but the files written
    code, shown = on_a_terminal(["import", "operator-csv", "--skip-bad-rows", "--config", str(conf), str(ROOT_DATA)])
    assert code == 3 and "bytes; matching its rows to 3 zones" in shown and "storing 2 rows" in shown


ROOT_DATA = Path(__file__).parent.parent / "data" / "operator-2024.csv"
