"""The Prometheus text format (0.0.4), rendered from a registry's families, fast.

prometheus_client's ``generate_latest`` re-validates and re-escapes every label name and value of
every sample on every render: about 5 us a series, 20 series a check, once a cycle, which made the
exposition the second cost of the daemon after the probes themselves. A target's label set is the
same from one cycle to the next, so here its rendered ``{...}`` is kept (keyed by the label items as
the collector built them) and a render only formats the values. Metric and label names are
vigia's own, valid as they are; label values are escaped. The output is byte-for-byte what
``generate_latest`` writes (tests/test_textformat.py compares them).

The families with a series per target or zone are ``Series``: rows of label values and a value,
with no per-sample dict or ``Sample`` built (that was half the exposition's cost at 2,000 zones);
their ``name{labels} `` prefix is kept between renders, so a line costs one value's formatting,
and the whole line is kept with the value it was made of: a row handed the same object or an equal
number again (a collector's 0.0 and 1.0, an unchanged inventory figure, a status code) costs a
lookup. A ``Series`` yielded again as the very same object, with as many rows, is not rendered
again: its text is kept whole. Collectors yield the same object only while nothing it was made of has changed
(``collectors.base.Kept``): at 2,000 zones, the states, inventories and transitions of every
target and zone, about half of the exposition's 114,000 series.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from prometheus_client.core import Metric
from prometheus_client.samples import Sample

# Type names as the text format spells them (OpenMetrics types munged as generate_latest does).
_TYPES = {"info": "gauge", "stateset": "gauge", "gaugehistogram": "histogram", "unknown": "untyped"}
_SUFFIX = {"counter": "_total", "info": "_info"}
# OpenMetrics-only samples that the text format moves into gauges of their own after the family.
_OM_SUFFIXES = ("_created", "_gsum", "_gcount")
# Label sets kept between renders; dropped wholesale past this many (targets removed by reloads).
_CACHE_LIMIT = 1 << 18


_SPECIAL = {"nan": "NaN", "inf": "+Inf", "-inf": "-Inf"}


def _go_float(value: float) -> str:
    """A sample value as Go's strconv writes it (what Prometheus' own exporters print)."""
    text = repr(float(value))
    if text[-1] > "9":  # nan, inf, -inf: a finite float's repr ends in a digit
        return _SPECIAL[text]
    if value >= 1e6 and len(text) > 7:  # below a million the integer part has six digits at most
        dot = text.find(".")
        if dot > 6:  # Go switches to an exponent sooner than Python
            mantissa = f"{text[0]}.{text[1:dot]}{text[dot + 1 :]}".rstrip("0.")
            return f"{mantissa}e+{dot - 1:02d}"
    return text


def _same_zero(a: float, b: float) -> bool:
    return math.copysign(1.0, a) == math.copysign(1.0, b)


def _escape_value(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _escape_help(text: str) -> str:
    return text.replace("\\", r"\\").replace("\n", r"\n")


Row = tuple[tuple[str, ...], float]  # a Series' row: label values in its labels' order, the value


class Series(Metric):
    """A gauge, counter or info family built as rows (label values in ``labels``' order, value;
    an info's value is 1).

    ``samples`` builds prometheus_client's ``Sample`` objects only when read (generate_latest, a
    test); ``TextRenderer`` reads ``rows``.
    """

    def __init__(self, name: str, documentation: str, typ: str, labels: Sequence[str]) -> None:
        if typ not in ("gauge", "counter", "info"):
            raise ValueError(f"Series holds gauges, counters and infos, not {typ}")
        if typ == "counter" and name.endswith("_total"):
            name = name[: -len("_total")]  # as CounterMetricFamily names the family
        super().__init__(name, documentation, typ)
        self.labelnames = tuple(labels)
        self.rows: list[Row] = []

    def add(self, values: tuple[str, ...], value: float) -> None:
        self.rows.append((values, value))

    @property
    def samples(self) -> list[Sample]:
        name = self.name + _SUFFIX.get(self.type, "")
        return [Sample(name, dict(zip(self.labelnames, values, strict=True)), value) for values, value in self.rows]

    @samples.setter
    def samples(self, value: list[Sample]) -> None:
        # Metric.__init__ sets an empty list; a Series' samples are its rows.
        if value:
            raise AttributeError("a Series takes rows through add()")


class TextRenderer:
    """Renders families to the text format; keeps rendered label sets between calls."""

    def __init__(self) -> None:
        self._labels: dict[tuple[tuple[str, str], ...], str] = {}
        # A Series' lines by (sample name, label names) and label values: [its ``name{labels} ``
        # prefix, the value object last rendered, that line].
        self._prefixes: dict[tuple[str, tuple[str, ...]], dict[tuple[str, ...], list[Any]]] = {}
        self._prefix_count = 0
        # A Series family's whole text by sample name: (the Series it was made of, its row count, text).
        self._chunks: dict[str, tuple[Series, int, str]] = {}

    def _label_text(self, labels: dict[str, str]) -> str:
        if not labels:
            return ""
        key = tuple(labels.items())
        text = self._labels.get(key)
        if text is None:
            if len(self._labels) >= _CACHE_LIMIT:
                self._labels.clear()
            inner = ",".join(f'{k}="{_escape_value(v)}"' for k, v in sorted(labels.items()))
            text = self._labels[key] = "{" + inner + "}"
        return text

    def _series_lines(self, metric: Series, name: str, out: list[str]) -> None:
        names = metric.labelnames
        # Keyed by the label names too: a reload may rename a label while its values stay the same.
        key = (name, names)
        kept = self._prefixes.get(key)
        if kept is None:
            kept = self._prefixes[key] = {}
        order = sorted(range(len(names)), key=names.__getitem__)
        append = out.append
        for values, value in metric.rows:
            line = kept.get(values)
            if line is not None:
                last = line[1]
                # The very value object of the last render (a collector's 0.0 or 1.0 constant, a
                # small int count), or an equal number (a status code, a packet count, a size the
                # probe made anew): most rows of a steady cycle; its line is the same. Zero is
                # compared by sign too (-0.0 == 0.0 but prints apart); NaN equals nothing.
                if last is value or (last == value and (value or _same_zero(last, value))):
                    append(line[2])
                    continue
            if line is None:
                if self._prefix_count >= _CACHE_LIMIT:
                    self._prefixes.clear()
                    self._prefix_count = 0
                    kept = self._prefixes[key] = {}
                inner = ",".join(f'{names[i]}="{_escape_value(values[i])}"' for i in order)
                line = kept[values] = [f"{name}{{{inner}}} " if names else f"{name} ", None, ""]
                self._prefix_count += 1
            text = line[0] + _go_float(value) + "\n"
            line[1], line[2] = value, text
            append(text)

    def _series_text(self, metric: Series, name: str) -> str:
        kept = self._chunks.get(name)
        # The row count too: a Series that was given more rows after its last render is not the same.
        if kept is not None and kept[0] is metric and kept[1] == len(metric.rows):
            return kept[2]
        lines: list[str] = []
        self._series_lines(metric, name, lines)
        text = "".join(lines)
        self._chunks[name] = (metric, len(metric.rows), text)
        return text

    def render(self, families: Iterable[Metric]) -> bytes:
        out: list[str] = []
        append = out.append
        label_text = self._label_text
        for metric in families:
            name = metric.name + _SUFFIX.get(metric.type, "")
            append(f"# HELP {name} {_escape_help(metric.documentation)}\n")
            append(f"# TYPE {name} {_TYPES.get(metric.type, metric.type)}\n")
            if isinstance(metric, Series):
                append(self._series_text(metric, name))
                continue
            extra: dict[str, list[str]] = {}
            for s in metric.samples:
                line = f"{s.name}{label_text(s.labels)} {_go_float(s.value)}"
                if s.timestamp is not None:
                    line += f" {int(float(s.timestamp) * 1000):d}"
                if s.name.endswith(_OM_SUFFIXES) and s.name.startswith(metric.name):
                    suffix = s.name[len(metric.name) :]
                    if suffix in _OM_SUFFIXES:
                        extra.setdefault(suffix, []).append(line + "\n")
                        continue
                append(line + "\n")
            for suffix, lines in sorted(extra.items()):
                append(f"# HELP {metric.name}{suffix} {_escape_help(metric.documentation)}\n")
                append(f"# TYPE {metric.name}{suffix} gauge\n")
                out.extend(lines)
        return "".join(out).encode("utf-8")
