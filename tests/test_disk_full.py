"""A full disk loses nothing: the state directory on a 2 MB tmpfs that fills up while the daemon
probes. Once space returns every held result is stored; a stop while the disk is still full keeps
them in the spill file, stored at the next start. Rows stored = results measured, every time."""

from __future__ import annotations

import contextlib
import errno
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import need, need_root
from tests.vigiaproc import VigiaProcess

# No timing asserted (generous bounds only): CI runs these beside other tests.
pytestmark = [pytest.mark.scale, pytest.mark.shares_cpu]

# 150 checks a second that fail at once (a closed loopback port): about 40 kB of rows a second.
TARGETS = 150
CONFIG = "instance: lleno\nstate_dir: {state}\ndefaults: {interval: 1s, timeout: 500ms}\ntargets:\n" + "".join(
    f"  - {{id: t{i}, probe: tcp, tcp: {{host: 127.0.0.{1 + i % 200}, port: 9}}}}\n" for i in range(TARGETS)
)


@contextlib.contextmanager
def small_disk(path: Path, size: str = "2m") -> Iterator[Path]:
    need_root()
    path.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)],
                          capture_output=True, text=True)  # fmt: skip
    need(done.returncode == 0, f"needs to mount a tmpfs: {done.stderr.strip()}")
    try:
        # A megabyte taken before vigia starts: the room a test gives back to show recovery.
        fill(path, "ballast", 2**20)
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def fill(disk: Path, name: str = "filler", limit: int | None = None) -> Path:
    """A file that takes every free byte of ``disk`` (or ``limit`` bytes); the disk may be full already."""
    filler = disk / name
    chunk = b"\0" * 4096
    try:
        with open(filler, "wb") as fh:
            for _ in range((limit or 400 * 2**20) // len(chunk)):  # bounded: far beyond any test disk
                fh.write(chunk)
                fh.flush()
    except OSError as exc:
        assert exc.errno == errno.ENOSPC
    return filler


def stored_rows(state: Path) -> int:
    from store import chunks
    from store.db import Store

    store = Store(f"sqlite:///{state}/vigia.db", "lleno")
    try:
        with store.engine.connect() as conn:
            return len(chunks.read(conn, "lleno", 0, time.time() + 86400))
    finally:
        store.close()


def stop_line(vigia: VigiaProcess) -> tuple[int, int, int, int]:
    found = re.findall(r"stopped: (\d+) results measured in this run, (\d+) stored, (\d+) spilled for the next "
                       r"start, (\d+) lost", vigia.log.read_text())  # fmt: skip
    assert found, vigia.log.read_text()[-3000:]
    measured, stored, spilled, lost = map(int, found[-1])
    return measured, stored, spilled, lost


def fill_until_writes_fail(vigia: VigiaProcess, disk: Path) -> Path:
    vigia.wait_ready(timeout=30)
    vigia.wait_for(lambda: (vigia.value("vigia_store_writes_total") or 0) >= 2, message="first writes")
    filler = fill(disk)
    vigia.wait_for(lambda: (vigia.value("vigia_store_errors_total") or 0) >= 5, timeout=60, message="failing writes")
    vigia.wait_for(lambda: (vigia.value("vigia_store_pending_results") or 0) >= 3 * TARGETS, message="results held")
    return filler


def test_space_returns_and_every_held_result_is_stored(tmp_path: Path) -> None:
    with small_disk(tmp_path / "disk") as disk:
        vigia = VigiaProcess(CONFIG.replace("{state}", str(disk)), tmp_path).start()
        try:
            filler = fill_until_writes_fail(vigia, disk)
            time.sleep(1.5)  # the disk stays full for a while: the WAL has taken what it could
            filler.unlink(missing_ok=True)  # space returns
            (disk / "ballast").unlink()
            vigia.wait_for(lambda: vigia.value("vigia_store_pending_results") == 0, timeout=60,
                           message="the held results written")  # fmt: skip
            errors = vigia.value("vigia_store_errors_total")
            time.sleep(2)
            assert vigia.value("vigia_store_errors_total") == errors  # recovered, not failing on and off
        finally:
            code = vigia.stop(timeout=30)
        assert code == 0
        measured, stored, spilled, lost = stop_line(vigia)
        assert (spilled, lost) == (0, 0) and stored == measured
        assert stored_rows(disk) == measured
        assert "Traceback" not in vigia.log.read_text()


def test_a_stop_on_a_full_disk_spills_and_the_next_start_stores_it(tmp_path: Path) -> None:
    with small_disk(tmp_path / "disk") as disk:
        vigia = VigiaProcess(CONFIG.replace("{state}", str(disk)), tmp_path).start()
        try:
            filler = fill_until_writes_fail(vigia, disk)
        finally:
            code = vigia.stop(timeout=30)  # the disk still full
        assert code == 0
        measured, stored, spilled, lost = stop_line(vigia)
        assert lost == 0 and spilled > 0 and stored + spilled == measured
        assert (disk / "pending-results.spill").exists()
        filler.unlink(missing_ok=True)
        (disk / "ballast").unlink()
        # The next start reads the spill back and stores it before anything else.
        again = VigiaProcess(CONFIG.replace("{state}", str(disk)), tmp_path, name="again.yml")
        again.log = tmp_path / "again.log"
        again.start()
        try:
            again.wait_ready(timeout=30)
            again.wait_for(lambda: not (disk / "pending-results.spill").exists(), message="the spill stored")
        finally:
            assert again.stop(timeout=30) == 0
        measured2, _stored2, spilled2, lost2 = stop_line(again)
        assert (spilled2, lost2) == (0, 0)
        assert stored_rows(disk) == measured + measured2
        assert "read back from" in again.log.read_text()
