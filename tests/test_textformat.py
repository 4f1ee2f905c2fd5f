"""The fast text renderer writes exactly what prometheus_client's generate_latest writes."""

from __future__ import annotations

import math
from collections.abc import Iterator

from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
    StateSetMetricFamily,
)
from prometheus_client.registry import Collector

from monitor.web.textformat import Series, TextRenderer

label_values = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
floats = st.floats(allow_nan=True, allow_infinity=True) | st.integers(-(2**62), 2**62)


class Fixed(Collector):
    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        yield from self.families


def both(families: list[Metric]) -> tuple[bytes, bytes]:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(Fixed(families))
    return TextRenderer().render(registry.collect()), generate_latest(registry)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(label_values, label_values, floats), max_size=8), st.text(max_size=30))
def test_gauges_and_counters_match_generate_latest(samples: list[tuple[str, str, float]], help_text: str) -> None:
    gauge = GaugeMetricFamily("vigia_x", help_text, labels=["target", "reason"])
    counter = CounterMetricFamily("vigia_y", "counted\\ things\n", labels=["target"])
    for target, reason, value in samples:
        gauge.add_metric([target, reason], value)
        counter.add_metric([target], 0.0 if math.isnan(value) else abs(value))
    ours, theirs = both([gauge, counter])
    assert ours == theirs


def test_every_family_type_and_the_om_samples_match() -> None:
    info = InfoMetricFamily("vigia_target", "Inventory.")
    info.add_metric([], {"target": 'a"b\\c\nd', "group": "zonas", "description": "Biblioteca Piedad"})
    hist = HistogramMetricFamily("vigia_h", "A histogram.", labels=["target"])
    hist.add_metric(["t1"], buckets=[("0.1", 2.0), ("+Inf", 5.0)], sum_value=1.5)
    counter = CounterMetricFamily("vigia_c", "With created.", labels=["target"], created=1_700_000_000.25)
    counter.add_metric(["t2"], 4.0, created=1_700_000_000.5)
    stateset = StateSetMetricFamily("vigia_s", "A state set.", value={"up": True, "down": False})
    ours, theirs = both([info, hist, counter, stateset])
    assert ours == theirs


def test_a_cached_label_set_renders_new_values_and_new_targets() -> None:
    renderer = TextRenderer()
    for cycle in range(3):
        gauge = GaugeMetricFamily("vigia_probe_success", "1 if ok.", labels=["target", "probe"])
        for i in range(cycle + 2):
            gauge.add_metric([f"zd-{i:02d}", "http"], float(cycle % 2))
        registry = CollectorRegistry(auto_describe=False)
        registry.register(Fixed([gauge]))
        assert renderer.render(registry.collect()) == generate_latest(registry)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(label_values, label_values, floats), max_size=8), st.text(max_size=30))
def test_series_rows_match_generate_latest(samples: list[tuple[str, str, float]], help_text: str) -> None:
    """The per-target families, built as rows, render as prometheus_client renders their samples:
    label names sorted ("target" before "reason" in the rows, after it in the text), values escaped."""
    renderer = TextRenderer()
    for cycle in range(2):  # the second render reads its line prefixes from the first's
        gauge = Series("vigia_x", help_text, "gauge", ["target", "reason"])
        counter = Series("vigia_y_total", "counted\\ things\n", "counter", ["target"])
        bare = Series("vigia_z", "No labels.", "gauge", [])
        info = Series("vigia_zone", "Inventory.", "info", ["zone", "name"])
        for target, reason, value in samples:
            gauge.add((target, reason), value + cycle)
            counter.add((target,), 0.0 if math.isnan(value) else abs(value))
            info.add((target, reason), 1.0)
        bare.add((), float(len(samples)))
        registry = CollectorRegistry(auto_describe=False)
        registry.register(Fixed([gauge, counter, bare, info]))
        assert renderer.render(registry.collect()) == generate_latest(registry)


def test_series_prefixes_past_the_cache_limit_render_the_same(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Targets come and go with reloads: once the kept prefixes pass the limit they are dropped
    wholesale and made again, and every render stays what generate_latest writes."""
    monkeypatch.setattr("monitor.web.textformat._CACHE_LIMIT", 5)
    renderer = TextRenderer()
    for cycle in range(4):
        gauge = Series("vigia_probe_success", "1 if ok.", "gauge", ["target", "probe"])
        counter = Series("vigia_target_transitions", "Changes.", "counter", ["target"])
        for i in range(cycle * 3, cycle * 3 + 4):  # some targets kept, some new each cycle
            gauge.add((f"zd-{i:02d}", "http"), float(i % 2))
            counter.add((f"zd-{i:02d}",), float(cycle))
        registry = CollectorRegistry(auto_describe=False)
        registry.register(Fixed([gauge, counter]))
        assert renderer.render(registry.collect()) == generate_latest(registry)


def test_a_label_renamed_by_a_reload_is_rendered_under_its_new_name() -> None:
    # A reload may rename a target label (site -> zona) and keep its values: the rows' values are
    # the same tuples, and the kept prefixes must not carry the old name into /metrics.
    renderer = TextRenderer()
    before = Series("vigia_target", "Inventory.", "info", ["target", "site"])
    before.add(("t1", "norte"), 1.0)
    renderer.render([before])
    after = Series("vigia_target", "Inventory.", "info", ["target", "zona"])
    after.add(("t1", "norte"), 1.0)
    assert renderer.render([after]) == both([after])[1]
    assert b'vigia_target_info{target="t1",zona="norte"} 1.0' in renderer.render([after])


def test_a_row_handed_the_same_value_object_again_and_then_another_renders_each_value() -> None:
    # Lines are kept with the value object they were made of; a row whose value is that very object
    # reuses its line, any other object (equal or not) is formatted anew.
    renderer = TextRenderer()
    up, down = 1.0, 0.0
    for value in (up, up, down, float("1"), up, 7, 7, 2**70):
        series = Series("vigia_probe_success", "1 if ok.", "gauge", ["target"])
        series.add(("zd-01",), value)
        series.add(("zd-02",), up)
        assert renderer.render([series]) == both([series])[1]
