"""Targets: inventory, state, the last probe's outcome and its values."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime

from prometheus_client.core import InfoMetricFamily, Metric

from config import Target
from domain.state import State, TargetState
from monitor.web.collectors.base import PREFIX, Concern, Kept, View
from monitor.web.textformat import Row, Series
from probes import REGISTRY
from probes.result import MetricSpec


class TargetCollector(Concern):
    def __init__(self, view: View) -> None:
        super().__init__(view)
        self.specs = _specs()
        self._listed: tuple[tuple[Target, ...], tuple[Series, Series]] | None = None
        self._standing = Kept()
        self.helps: dict[str, str] = {}
        for kind in REGISTRY.values():
            for spec in kind.metrics:
                if spec.help and spec.metric not in self.helps:
                    self.helps[spec.metric] = spec.help

    def families(self) -> Iterator[Metric]:
        targets = self.view.current_targets()
        states = self.view.current_states()
        yield from self._inventory(targets)
        # Everything the standing families print: a target's state, since and transitions.
        standing = [None if (st := states.get(t.id)) is None else (st.state, st.since, st.transitions) for t in targets]
        yield from self._standing.get((targets, standing), lambda: self._states_now(targets, states))
        yield from self._last(targets, states)
        yield from self._values(targets, states)

    def describe(self) -> Iterator[Metric]:
        yield from self._inventory(())
        yield from self._states_now((), {})
        yield from self._last((), {})
        yield from self._described_values()

    def _described_values(self) -> Iterator[Metric]:
        # Every family a probe kind can feed, whether or not a target of that kind exists yet.
        seen: set[str] = set()
        for kind in REGISTRY.values():
            for spec in kind.metrics:
                if spec.metric not in seen:
                    seen.add(spec.metric)
                    yield Series(PREFIX + spec.metric, self.helps.get(spec.metric, spec.metric), spec.kind, ["target"])
            yield InfoMetricFamily(
                PREFIX + kind.name + "_details", f"Descriptive facts from the last {kind.name} probe."
            )

    def _inventory(self, targets: tuple[Target, ...]) -> Iterator[Metric]:
        # The inventory changes only with a reload, which makes a new targets tuple: kept until then.
        kept = self._listed
        if kept is None or kept[0] is not targets:
            kept = self._listed = (targets, self._listing(targets))
        yield from kept[1]
        # Only targets with operating hours (targets[].hours or their group's): the alert rules let
        # one outside its hours be down without paging.
        hours = Series(
            PREFIX + "target_open", "1 while a target with operating hours is within them, 0 outside.",
            "gauge", ["target"],
        )  # fmt: skip
        scheduled = [t for t in targets if t.schedule is not None]
        if scheduled:
            now, tz = datetime.now(UTC), self.view.current_timezone()
            for t in scheduled:
                assert t.schedule is not None
                hours.add((t.id,), 1.0 if t.schedule.is_open(now, tz) else 0.0)
        yield hours

    @staticmethod
    def _listing(targets: tuple[Target, ...]) -> tuple[Series, Series]:
        fixed = ("target", "group", "probe", "description")
        names = sorted({k for t in targets for k in t.labels} - set(fixed))
        info = Series(
            PREFIX + "target", "Inventory of each target; join on target in PromQL.", "info", [*fixed, *names]
        )
        for t in targets:
            info.add((t.id, t.group, t.probe, t.description, *(t.labels.get(n, "") for n in names)), 1.0)
        interval = Series(PREFIX + "target_interval_seconds", "Configured probe interval.", "gauge", ["target"])
        for t in targets:
            interval.add((t.id,), t.interval)
        return info, interval

    @staticmethod
    def _states_now(targets: Iterable[Target], states: dict[str, TargetState]) -> Iterator[Metric]:
        """What changes only when a target's state does (kept between cycles while none did)."""
        up = Series(
            PREFIX + "target_up", "1 if the target is up, 0 if down; absent while unknown or in maintenance.",
            "gauge", ["target"],
        )  # fmt: skip
        state = Series(
            PREFIX + "target_state", "Current state of the target (one series per state, 1 for the current one).",
            "gauge", ["target", "state"],
        )  # fmt: skip
        since = Series(
            PREFIX + "target_state_since_timestamp_seconds", "Unix time the target entered its current state.",
            "gauge", ["target"],
        )  # fmt: skip
        trans = Series(PREFIX + "target_transitions", "State changes of the target.", "counter", ["target"])
        states_named = [(s, s.value) for s in State]
        for t in targets:
            st = states.get(t.id)
            if st is None:
                continue
            tid = t.id
            if st.state in (State.UP, State.DOWN):
                up.add((tid,), 1.0 if st.state == State.UP else 0.0)
            for s, name in states_named:
                state.add((tid, name), 1.0 if st.state == s else 0.0)
            if st.since is not None:
                since.add((tid,), st.since.timestamp())
            trans.add((tid,), st.transitions)
        yield from (up, state, since, trans)

    @staticmethod
    def _last(targets: Iterable[Target], states: dict[str, TargetState]) -> Iterator[Metric]:
        """The last probe's outcome and the counts of results: new every cycle."""
        success = Series(PREFIX + "probe_success", "1 if the last probe succeeded.", "gauge", ["target", "probe"])
        duration = Series(
            PREFIX + "probe_duration_seconds", "Duration of the last probe.", "gauge", ["target", "probe"]
        )
        last_ts = Series(
            PREFIX + "probe_last_timestamp_seconds", "Unix time the last probe started.", "gauge", ["target", "probe"]
        )
        failure = Series(
            PREFIX + "probe_failure", "1 for the reason of the last probe's failure.",
            "gauge", ["target", "probe", "reason"],
        )  # fmt: skip
        counts = Series(PREFIX + "probe_results", "Probe results by outcome.", "counter", ["target", "probe", "result"])
        # The rows' own appends, not Series.add: six rows a target, tens of thousands a cycle.
        add_count, add_success, add_duration = counts.rows.append, success.rows.append, duration.rows.append
        add_last_ts = last_ts.rows.append
        for t in targets:
            st = states.get(t.id)
            if st is None:
                continue
            tid = t.id
            add_count(((tid, t.probe, "success"), st.results[True]))
            add_count(((tid, t.probe, "failure"), st.results[False]))
            r = st.last
            if r is None:
                continue
            key = (tid, t.probe)
            add_success((key, 1.0 if r.success else 0.0))
            add_duration((key, r.duration))
            add_last_ts((key, r.started_at.timestamp()))
            if not r.success:
                failure.add((tid, t.probe, r.reason), 1.0)
        yield from (success, duration, last_ts, failure, counts)

    def _values(self, targets: Iterable[Target], states: dict[str, TargetState]) -> Iterator[Metric]:
        families: dict[str, Series] = {}
        infos: dict[str, InfoMetricFamily] = {}

        def family(spec: MetricSpec, extra: tuple[str, ...]) -> Series:
            fam = families.get(spec.metric)
            if fam is None:
                labels = ["target", *(k for k, _ in spec.const_labels), *extra]
                fam = Series(PREFIX + spec.metric, self.helps.get(spec.metric, spec.metric), spec.kind, labels)
                families[spec.metric] = fam
            return fam

        # What a result's values become, by its kind and its keys (the same few sets every cycle):
        # (the family's rows.append, constant label values, key) in the order of the sorted keys.
        plans: dict[tuple[str, tuple[str, ...]], list[tuple[Callable[[Row], None], tuple[str, ...], str]]] = {}
        for t in targets:
            st = states.get(t.id)
            if st is None or st.last is None:
                continue
            r = st.last
            table = self.specs.get(r.probe, {})
            values = r.values
            plan = plans.get((r.probe, keys := tuple(values)))
            if plan is None:
                plan = plans[(r.probe, keys)] = [
                    (family(spec, ()).rows.append, consts, key)
                    for key in sorted(keys)
                    for spec, consts in table.get(key, ())
                ]
            tid = (t.id,)
            for add, consts, key in plan:
                add((tid + consts if consts else tid, values[key]))
            for s in r.series:
                for spec, consts in table.get(s.name, ()):
                    family(spec, tuple(k for k, _ in s.labels)).add((t.id, *consts, *(v for _, v in s.labels)), s.value)
            if r.labels:
                info = infos.get(r.probe)
                if info is None:
                    info = InfoMetricFamily(
                        PREFIX + r.probe + "_details", f"Descriptive facts from the last {r.probe} probe."
                    )
                    infos[r.probe] = info
                info.add_metric([], {"target": t.id, **r.labels})
        yield from families.values()
        yield from infos.values()


def _specs() -> dict[str, dict[str, list[tuple[MetricSpec, tuple[str, ...]]]]]:
    """probe kind -> value key -> (spec, its constant label values) (a key may feed several metrics)."""
    out: dict[str, dict[str, list[tuple[MetricSpec, tuple[str, ...]]]]] = {}
    for kind in REGISTRY.values():
        table: dict[str, list[tuple[MetricSpec, tuple[str, ...]]]] = {}
        for spec in kind.metrics:
            table.setdefault(spec.key, []).append((spec, tuple(v for _, v in spec.const_labels)))
        out[kind.name] = table
    return out
