"""The agent's outbox: results numbered and kept on disk until acknowledged, bounded in age and
size with every drop counted and reported, sequence numbers never reused across restarts."""

from __future__ import annotations

from pathlib import Path

import pytest

from kernel.errors import StoreError
from store.outbox import Outbox

# A new outbox numbers from its clock's microseconds: 2,000 s on the clocks below.
S = 2_000_000_000


def rows(n: int, at: float = 1000.0, pad: int = 0) -> list[dict[str, object]]:
    return [{"at": at + i, "check": "gateway", "success": True, "message": "x" * pad} for i in range(n)]


def test_results_wait_until_acknowledged_and_survive_a_restart(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "outbox.db", clock=lambda: 2000.0)
    assert box.put(rows(3)) == [S + 1, S + 2, S + 3]
    first = box.pending(2, 10**6)
    assert [r["seq"] for r in first.results] == [S + 1, S + 2] and first.last_seq == S + 2
    box.close()  # the box restarts before the centre answers: nothing is lost
    box = Outbox(tmp_path / "outbox.db", clock=lambda: 2000.0)
    assert [r["seq"] for r in box.pending(10, 10**6).results] == [S + 1, S + 2, S + 3]
    box.acknowledge(S + 2, 0)
    assert [r["seq"] for r in box.pending(10, 10**6).results] == [S + 3]
    box.acknowledge(S + 3, 0)
    assert box.backlog().rows == 0 and box.backlog().bytes == 0
    box.close()
    # Every row acknowledged and the box restarted: the next number still follows the last, so the
    # centre's unique (zone, seq) never mistakes a new result for a replay.
    box = Outbox(tmp_path / "outbox.db", clock=lambda: 2000.0)
    assert box.put(rows(1)) == [S + 4]


def test_a_batch_keeps_within_its_byte_limit_but_always_moves(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db", clock=lambda: 2000.0)
    box.put(rows(5, pad=1000))
    assert len(box.pending(100, 2500).results) == 2
    assert len(box.pending(100, 10).results) == 1  # one result larger than the limit still goes


def test_past_its_bounds_the_oldest_go_and_the_drop_is_counted_and_reported(tmp_path: Path) -> None:
    now = [100_000.0]
    box = Outbox(tmp_path / "o.db", max_age=3600, max_bytes=20_000, clock=lambda: now[0])
    box.put(rows(10, at=now[0] - 7200))  # two hours old: past the age bound at once
    assert box.backlog().rows == 0 and box.pending(100, 10**6).dropped == 10
    box.put(rows(30, at=now[0], pad=1000))  # ~30 kB against a 20 kB bound
    b = box.backlog()
    assert b.bytes <= 20_000 and b.rows < 30 and b.dropped_total == 10 + (30 - b.rows)
    pending = box.pending(100, 10**6)
    assert pending.dropped == b.dropped_total
    assert pending.results[0]["seq"] == 100_000_000_000 + 11 + (30 - b.rows)  # the oldest went, the newest stayed
    box.acknowledge(pending.last_seq, pending.dropped)
    assert box.pending(100, 10**6).dropped == 0 and box.backlog().dropped_total == b.dropped_total
    box.put(rows(1, at=now[0]))  # drops counted after the batch was read stay to be reported
    assert box.pending(100, 10**6).dropped == 0


def test_an_outbox_that_cannot_be_opened_says_where(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    with pytest.raises(StoreError, match=r"dir: cannot open the agent's outbox"):
        Outbox(tmp_path / "dir")


def test_a_full_disk_counts_what_it_could_not_keep_and_keeps_the_rest(tmp_path: Path) -> None:
    """The box's disk fills: results that cannot be kept are counted as dropped (never silent),
    what was kept stays; with room again the count goes to the centre with the next batch."""
    from tests.test_disk_full import fill, small_disk

    with small_disk(tmp_path / "disk", "4m") as disk:
        box = Outbox(disk / "outbox.db", clock=lambda: 2000.0)
        assert box.put(rows(5)) == [S + 1, S + 2, S + 3, S + 4, S + 5]
        ballast, filler = disk / "ballast", fill(disk)
        with pytest.raises(StoreError, match=r"outbox\.db: cannot keep 200 results in the outbox \(counted as dropped"):
            for _ in range(50):  # what little room the file had left goes first
                box.put(rows(200, pad=400))
        lost = box.unkept
        assert lost >= 200
        filler.unlink()
        ballast.unlink()
        kept = box.put(rows(2))
        assert box.unkept == 0 and kept[-1] == kept[0] + 1
        pending = box.pending(10_000, 10_000_000)
        assert pending.dropped == lost and [r["seq"] for r in pending.results][:5] == [S + k for k in range(1, 6)]
        box.close()


def test_a_new_outbox_numbers_above_every_number_a_lost_one_used(tmp_path: Path) -> None:
    """The box replaced or its card reflashed: the zone's new outbox must not number its results
    as the lost one did, or the centre (unique on zone and number) takes them for replays of
    results it has and drops them, for as long as the old numbers last (at a check a second, a
    year's results are some 30 million numbers)."""
    old = Outbox(tmp_path / "old.db", clock=lambda: 1.7e9)
    used = old.put(rows(3))
    old.close()
    (tmp_path / "old.db").unlink()
    new = Outbox(tmp_path / "new.db", clock=lambda: 1.7e9 + 3600)  # an hour later
    assert new.put(rows(1))[0] > used[-1] + 3_000_000_000  # an hour's microseconds above
    new.close()
