"""Sets of half-open time intervals [start, end) in Unix seconds: the arithmetic behind availability.

Every availability figure is a measure of such sets (operating time, minus maintenance, minus
no data, intersected with downtime), so the report, the CSV and any metric compute it the same way.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Spans:
    """A normalised set: sorted, non-overlapping, non-empty [start, end) pairs."""

    items: tuple[tuple[float, float], ...] = ()

    @classmethod
    def of(cls, pairs: Iterable[tuple[float, float]]) -> Spans:
        merged: list[list[float]] = []
        for a, b in sorted((a, b) for a, b in pairs if b > a):
            if merged and a <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], b)
            else:
                merged.append([a, b])
        return cls(tuple((a, b) for a, b in merged))

    def __or__(self, other: Spans) -> Spans:
        return Spans.of([*self.items, *other.items])

    def __and__(self, other: Spans) -> Spans:
        out, i, j = [], 0, 0
        a, b = self.items, other.items
        while i < len(a) and j < len(b):
            lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
            if lo < hi:
                out.append((lo, hi))
            if a[i][1] < b[j][1]:
                i += 1
            else:
                j += 1
        return Spans(tuple(out))

    def __sub__(self, other: Spans) -> Spans:
        out: list[tuple[float, float]] = []
        for a, b in self.items:
            cur = a
            for c, d in other.items:
                if d <= cur or c >= b:
                    continue
                if c > cur:
                    out.append((cur, c))
                cur = max(cur, d)
                if cur >= b:
                    break
            if cur < b:
                out.append((cur, b))
        return Spans(tuple(out))

    @property
    def seconds(self) -> float:
        return sum(b - a for a, b in self.items)

    def __len__(self) -> int:
        return len(self.items)
