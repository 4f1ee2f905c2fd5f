"""A month's figures are frozen once, even when two closes of the month run at once (a timer and a
person, or two instances on one PostgreSQL): both get the figures stored first, and the month
holds one snapshot; a refreeze, an operator's deliberate act, replaces it. On SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from typing import Any

from store.db import Store


def test_two_closes_at_once_freeze_the_month_once(url: str) -> None:
    Store(url, "cdc").migrate()
    both = threading.Barrier(2, timeout=20)
    got: dict[str, dict[str, Any] | BaseException] = {}

    def close(who: str) -> None:
        store = Store(url, "cdc")

        def compute() -> dict[str, Any]:
            both.wait()  # each has found the month unfrozen and computed its figures
            return {"computed_by": who}

        try:
            got[who] = store.reader().frozen("2025-01", "zones", compute) or {}
        except BaseException as exc:  # the test reports what the close raised
            got[who] = exc
        finally:
            store.close()

    threads = [threading.Thread(target=close, args=(who,)) for who in ("timer", "person")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(isinstance(v, BaseException) for v in got.values()), got
    assert got["timer"] == got["person"], got  # both publish the same figures
    store = Store(url, "cdc")
    reader = store.reader()
    assert reader.frozen("2025-01", "zones", None) == got["timer"]
    assert reader.frozen("2025-01", "zones", lambda: {"computed_by": "late"}) == got["timer"]  # frozen: kept
    assert reader.frozen("2025-01", "zones", lambda: {"computed_by": "operator"}, refreeze=True) == {
        "computed_by": "operator"
    }
    assert reader.frozen("2025-01", "zones", None) == {"computed_by": "operator"}
    store.close()
