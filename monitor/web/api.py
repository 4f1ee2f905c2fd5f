"""The read-only JSON API on the main listener, behind its TLS and basic auth.

Four documents and their OpenAPI description, built once per cycle (like /metrics) and served
from memory: ``/api/v1/zones``, ``/api/v1/targets``, ``/api/v1/incidents``, ``/api/v1/maintenance``
and ``/api/v1/openapi.json``. Fixed paths, no parameters: nothing in a request chooses a target, a
file or a command. No probe settings are ever in it (addresses, URLs, communities stay in the
configuration), nor a probe's own failure message (it names the URL with its query, the host:port,
the body regex): a failure is its reason code and words made from it. Incidents and windows carry
who entered them, as the audit trail does.
"""

from __future__ import annotations

import functools
import json
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from config import Config, Maintenance, Target
from domain.incidents import Incident
from domain.state import TargetState
from domain.zone_state import ZoneState
from domain.zones import Zone
from probes.result import ProbeResult, public_text

PREFIX = "/api/v1/"
CONTENT_TYPE = "application/json; charset=utf-8"


def _iso(at: datetime | float | None, tz: ZoneInfo) -> str | None:
    if at is None:
        return None
    moment = datetime.fromtimestamp(at, tz) if isinstance(at, float | int) else at.astimezone(tz)
    return moment.isoformat(timespec="seconds")


def zone(z: Zone, st: ZoneState | None, tz: ZoneInfo) -> dict[str, Any]:
    last = st.last if st is not None else None
    return {
        "id": z.id, "name": z.name, "barrio": z.barrio, "localidad": z.localidad, "ucg": z.ucg,
        "lat": z.lat, "lon": z.lon, "hours": z.hours_text or None, "sla_target": z.sla_target,
        "state": str(st.status) if st is not None else "unknown",
        "since": _iso(st.since, tz) if st is not None else None,
        "in_hours": st.in_hours if st is not None else None,
        "checks": dict(last.checks) if last is not None else {},
        "reason": last.reason if last is not None else "",
    }  # fmt: skip


def target(t: Target, st: TargetState | None, tz: ZoneInfo) -> dict[str, Any]:
    return {**target_head(t, st, tz), "last": target_last(st.last if st is not None else None, tz)}


def target_head(t: Target, st: TargetState | None, tz: ZoneInfo) -> dict[str, Any]:
    """A target's part but its last result (which changes every cycle; this with its state)."""
    return {
        "id": t.id, "probe": t.probe, "group": t.group, "description": t.description,
        "labels": dict(t.labels), "interval_seconds": t.interval,
        "state": str(st.state) if st is not None else "unknown",
        "since": _iso(st.since, tz) if st is not None else None,
    }  # fmt: skip


def target_last(r: ProbeResult | None, tz: ZoneInfo) -> dict[str, Any] | None:
    if r is None:
        return None
    return {
        "at": _iso(r.started_at, tz), "success": r.success, "reason": r.reason,
        "message": public_text(r.reason, r.values), "duration_seconds": r.duration,
    }  # fmt: skip


def incidents(items: Iterable[Incident], tz: ZoneInfo) -> list[dict[str, Any]]:
    return [
        {
            "id": i.id,
            "zones": list(i.zones),
            "title": i.title,
            "cause": i.cause,
            "ticket": i.ticket,
            "opened": _iso(i.opened_at, tz),
            "closed": _iso(i.closed_at, tz),
            "events": [{"at": _iso(e.at, tz), "by": e.by, "kind": e.kind, "text": e.text} for e in i.events],
        }
        for i in items
    ]


def maintenance(items: Iterable[Maintenance], tz: ZoneInfo) -> list[dict[str, Any]]:
    return [
        {
            "id": w.id,
            "covers": sorted(w.targets),
            "reason": w.reason,
            "recurring": None if w.trigger is None else {"cron": str(w.trigger), "duration_seconds": w.duration},
            "start": _iso(w.start, tz),
            "end": _iso(w.end, tz),
        }
        for w in items
    ]


class Documents:
    """The API's documents as JSON, each zone's and target's part kept until what it shows changes:
    at 2,000 zones a cycle that changes a few makes a few parts, not 2,000 (the documents are
    then joined, byte for byte what dumping the whole lists gives)."""

    def __init__(self) -> None:
        self._zones: dict[str, tuple[tuple[Any, ...], bytes]] = {}
        self._targets: dict[str, tuple[tuple[Any, ...], bytes]] = {}  # each target's head
        self._lasts: dict[str, tuple[ProbeResult | None, ZoneInfo, bytes]] = {}  # each target's last result
        self.made = 0  # parts made again, in all (what a test of "only the changed" reads)

    def build(
        self,
        conf: Config,
        target_states: Mapping[str, TargetState],
        zone_states: Mapping[str, ZoneState],
        told: Iterable[Incident],
        windows: Iterable[Maintenance],
    ) -> dict[str, bytes]:
        tz = conf.timezone
        zone_parts: dict[str, bytes] = {}
        target_parts: dict[str, bytes] = {}
        for z in conf.zones:
            st = zone_states.get(z.id)
            last = st.last if st is not None else None
            seen: tuple[Any, ...] = (
                (z, tz)
                if st is None
                else (
                    z,
                    tz,
                    st.status,
                    st.since,
                    st.in_hours,
                    last and last.reason,
                    last and tuple(last.checks.items()),
                )
            )
            zone_parts[z.id] = self._part(self._zones, z.id, seen, functools.partial(zone, z, st, tz))
        for t in conf.targets:
            # A target's last result changes every cycle, the rest with its state: the head is kept
            # and the last result written after it (the key it goes under is the part's last).
            tst = target_states.get(t.id)
            seen = (t, tz) if tst is None else (t, tz, tst.state, tst.since)
            head = self._part(self._targets, t.id, seen, functools.partial(target_head, t, tst, tz))
            result = tst.last if tst is not None else None
            have = self._lasts.get(t.id)
            if have is None or have[0] is not result or have[1] is not tz:
                have = self._lasts[t.id] = (result, tz, _dump(target_last(result, tz)))
            target_parts[t.id] = head[:-1] + b',"last":' + have[2] + b"}"
        self._zones = {k: self._zones[k] for k in zone_parts}  # zones and targets a reload removed
        self._targets = {k: self._targets[k] for k in target_parts}
        self._lasts = {k: self._lasts[k] for k in target_parts}
        return {
            "zones": b"[" + b",".join(zone_parts.values()) + b"]",
            "targets": b"[" + b",".join(target_parts.values()) + b"]",
            "incidents": _dump(incidents(told, tz)),
            "maintenance": _dump(maintenance(windows, tz)),
        }

    def _part(
        self, kept: dict[str, tuple[tuple[Any, ...], bytes]], key_id: str, key: tuple[Any, ...],
        make: Callable[[], dict[str, Any]],
    ) -> bytes:  # fmt: skip
        have = kept.get(key_id)
        if have is not None and _same(have[0], key):
            return have[1]
        self.made += 1
        part = _dump(make())
        kept[key_id] = (key, part)
        return part


def _same(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    """The inventory entry by identity (a reload makes new ones), the rest by identity or value."""
    return len(a) == len(b) and a[0] is b[0] and all(x is y or x == y for x, y in zip(a[1:], b[1:], strict=True))


def _array(item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": item}


_S, _N, _B, _NS = {"type": "string"}, {"type": "number"}, {"type": "boolean"}, {"type": ["string", "null"]}
SCHEMAS: dict[str, dict[str, Any]] = {
    "zones": _array({"type": "object", "required": ["id", "name", "state"], "properties": {
        "id": _S, "name": _S, "barrio": _S, "localidad": _S, "ucg": {"type": ["integer", "null"]},
        "lat": _N, "lon": _N, "hours": _NS, "sla_target": {"type": ["number", "null"]},
        "state": {"enum": ["unknown", "up", "degraded", "down", "maintenance", "no_data"]}, "since": _NS,
        "in_hours": {"type": ["boolean", "null"]}, "checks": {"type": "object", "additionalProperties": _B},
        "reason": _S}}),
    "targets": _array({"type": "object", "required": ["id", "probe", "state"], "properties": {
        "id": _S, "probe": _S, "group": _S, "description": _S,
        "labels": {"type": "object", "additionalProperties": _S}, "interval_seconds": _N,
        "state": {"enum": ["unknown", "up", "down", "maintenance"]}, "since": _NS,
        "last": {"type": ["object", "null"], "properties": {
            "at": _S, "success": _B, "reason": _S, "message": _S, "duration_seconds": _N}}}}),
    "incidents": _array({"type": "object", "required": ["id", "zones", "title", "cause"], "properties": {
        "id": {"type": "integer"}, "zones": _array(_S), "title": _S, "cause": _S, "ticket": _S,
        "opened": _S, "closed": _NS, "events": _array({"type": "object", "properties": {
            "at": _S, "by": _S, "kind": {"enum": ["opened", "update", "closed"]}, "text": _S}})}}),
    "maintenance": _array({"type": "object", "required": ["id", "covers"], "properties": {
        "id": _S, "covers": _array(_S), "reason": _S, "start": _NS, "end": _NS,
        "recurring": {"type": ["object", "null"]}}}),
}  # fmt: skip


def openapi(version: str) -> dict[str, Any]:
    paths = {
        f"{PREFIX}{name}": {
            "get": {
                "summary": f"The {name} as vigia sees them now (refreshed after every probe cycle).",
                "operationId": f"get_{name}",
                "responses": {
                    "200": {"description": "OK", "content": {"application/json": {"schema": schema}}},
                    "401": {"description": "basic auth required (the web config's basic_auth_users)"},
                    "429": {"description": "too many requests (the web config's rate limit)"},
                },
            }
        }
        for name, schema in SCHEMAS.items()
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "vigia read-only API", "version": version,
                 "description": "Zones, targets, incidents and maintenance windows. Read only."},
        "security": [{"basic": []}],
        "components": {"securitySchemes": {"basic": {"type": "http", "scheme": "basic"}}},
        "paths": paths,
    }  # fmt: skip


# A document read within this long keeps the API rendered after every cycle; once nobody has read
# it for that long, cycles stop rendering it and the next read waits for one render (at 15,000
# targets every 9 s a render was ~0.5 s of CPU a cycle: 8 % of the daemon's, spent for no reader).
INTEREST = 600.0
# The longest a read waits for that render; past it, the documents in hand are served.
WAIT = 5.0
_OPENAPI = PREFIX + "openapi.json"  # made once at the start: never waits for a render


class Api:
    """The documents by path; swapped whole after a render. Rendered while they are read: a read of
    out-of-date documents asks ``render_soon`` and waits (at most WAIT) for the render."""

    def __init__(self, version: str, render_soon: Callable[[], None] = lambda: None) -> None:
        self._docs: dict[str, bytes] = {_OPENAPI: _dump(openapi(version))}
        self._lock = threading.Condition()
        self.render_soon = render_soon
        self._wanted = 0  # cycles ended since the start: what the documents should show
        self._shown = 0  # the cycle count the documents in hand were rendered at
        self._read_at = -INTEREST

    def changed(self) -> bool:
        """A cycle ended: the documents are out of date. Whether to render them now (they were read lately)."""
        with self._lock:
            self._wanted += 1
            return time.monotonic() - self._read_at < INTEREST

    def wanted(self) -> int:
        """What a render starting now answers (read before it copies the states)."""
        with self._lock:
            return self._wanted

    def refresh(self, docs: Mapping[str, bytes], wanted: int = 0) -> None:
        built = {PREFIX + name: body for name, body in docs.items()}
        with self._lock:
            self._docs = {**self._docs, **built}
            self._shown = max(self._shown, wanted)
            self._lock.notify_all()

    def document(self, path: str) -> bytes | None:
        with self._lock:
            self._read_at = time.monotonic()
            wanted = self._wanted
            if self._shown < wanted and path in self._docs and path != _OPENAPI:
                self.render_soon()
                self._lock.wait_for(lambda: self._shown >= wanted, timeout=WAIT)
            return self._docs.get(path)


def _dump(body: object) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
