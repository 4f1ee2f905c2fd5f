"""The Prometheus text format (0.0.4), rendered from a registry's families, fast.

prometheus_client's ``generate_latest`` re-validates and re-escapes every label name and value of
every sample on every render: about 5 us a series, 20 series a check, once a cycle, which made the
exposition the second cost of the daemon after the probes themselves. A target's label set is the
same from one cycle to the next, so here its rendered ``{...}`` is kept (keyed by the label items as
the collector built them) and a render only formats the values. Metric and label names are
vigia's own, valid as they are; label values are escaped. The output is byte-for-byte what
``generate_latest`` writes (tests/test_textformat.py compares them).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from prometheus_client.core import Metric

# Type names as the text format spells them (OpenMetrics types munged as generate_latest does).
_TYPES = {"info": "gauge", "stateset": "gauge", "gaugehistogram": "histogram", "unknown": "untyped"}
_SUFFIX = {"counter": "_total", "info": "_info"}
# OpenMetrics-only samples that the text format moves into gauges of their own after the family.
_OM_SUFFIXES = ("_created", "_gsum", "_gcount")
# Label sets kept between renders; dropped wholesale past this many (targets removed by reloads).
_CACHE_LIMIT = 1 << 18


def _go_float(value: float) -> str:
    """A sample value as Go's strconv writes it (what Prometheus' own exporters print)."""
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    text = repr(value)
    dot = text.find(".")
    if value > 0 and dot > 6:  # Go switches to an exponent sooner than Python
        mantissa = f"{text[0]}.{text[1:dot]}{text[dot + 1 :]}".rstrip("0.")
        return f"{mantissa}e+{dot - 1:02d}"
    return text


def _escape_value(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _escape_help(text: str) -> str:
    return text.replace("\\", r"\\").replace("\n", r"\n")


class TextRenderer:
    """Renders families to the text format; keeps rendered label sets between calls."""

    def __init__(self) -> None:
        self._labels: dict[tuple[tuple[str, str], ...], str] = {}

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

    def render(self, families: Iterable[Metric]) -> bytes:
        out: list[str] = []
        append = out.append
        label_text = self._label_text
        for metric in families:
            name = metric.name + _SUFFIX.get(metric.type, "")
            append(f"# HELP {name} {_escape_help(metric.documentation)}\n")
            append(f"# TYPE {name} {_TYPES.get(metric.type, metric.type)}\n")
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
