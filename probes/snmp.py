"""SNMP probe (pysnmp, v2c and v3): a zone device's interface octet counters and its client count.

Reads IF-MIB's 64-bit ifHCInOctets/ifHCOutOctets (or the 32-bit ifInOctets/
ifOutOctets with ``counter_bits: 32``) of one interface, sysUpTime, and
optionally a vendor OID that holds the number of associated clients. It
returns the raw counters: turning them into traffic, across counter wraps and
device reboots, is the job of the caller that remembers the previous reading
(domain.traffic).

The protocol side (pysnmp 7) is in probes.snmpwire, imported by the first SNMP
check: a daemon without SNMP targets never loads pysnmp.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from probes import result as r
from probes.result import MetricSpec, ProbeResult, Timer, remaining
from probes.settings import Name, Port, Secret, Settings

KIND = "snmp"
SYS_UPTIME = "1.3.6.1.2.1.1.3.0"
IF_HC_IN, IF_HC_OUT = "1.3.6.1.2.1.31.1.1.1.6", "1.3.6.1.2.1.31.1.1.1.10"
IF_IN, IF_OUT = "1.3.6.1.2.1.2.2.1.10", "1.3.6.1.2.1.2.2.1.16"
NO_SUCH_OBJECT = "snmp_no_such_object"
WRONG_TYPE = "snmp_wrong_type"
SNMP_ERROR = "snmp_error"


class SnmpV3(Settings, frozen=True):
    user: Name
    auth_protocol: Literal["none", "md5", "sha", "sha256"] = "sha"
    auth_key: Secret | None = None
    priv_protocol: Literal["none", "des", "aes", "aes256"] = "aes"
    priv_key: Secret | None = None

    def __post_init__(self) -> None:
        if self.auth_protocol != "none" and self.auth_key is None:
            raise ValueError("auth_key is required unless auth_protocol is none")
        if self.priv_protocol != "none" and self.priv_key is None:
            raise ValueError("priv_key is required unless priv_protocol is none")


Oid = Annotated[str, Meta(pattern=r"^\.?1(\.\d+)+$")]


class SnmpSettings(Settings, frozen=True):
    address: Name
    # ifIndex of the interface whose traffic is the zone's
    if_index: Annotated[int, Meta(ge=1)]
    port: Port = 161
    version: Literal["2c", "3"] = "2c"
    community: Secret | None = None  # v2c community, from a file or env
    v3: SnmpV3 | None = None
    counter_bits: Literal[32, 64] = 64
    clients_oid: Oid | None = None
    clients_oids: list[Oid] = msgspec.field(default_factory=list)  # several per-SSID/per-radio counts, added up
    retries: Annotated[int, Meta(ge=0, le=5)] = 1

    def __post_init__(self) -> None:
        if self.version == "2c" and self.community is None:
            raise ValueError("version 2c needs 'community' ({file: ...} or {env: ...})")
        if self.version == "3" and self.v3 is None:
            raise ValueError("version 3 needs 'v3' (user and keys)")


METRICS = (
    MetricSpec("if_in_octets", "snmp_interface_receive_octets", "Raw IF-MIB in-octets counter of the interface."),
    MetricSpec("if_out_octets", "snmp_interface_transmit_octets", "Raw IF-MIB out-octets counter of the interface."),
    MetricSpec("sys_uptime_seconds", "snmp_sys_uptime_seconds", "sysUpTime of the agent."),
    MetricSpec("clients", "snmp_clients", "Associated clients, from the configured vendor OID."),
)


SETTINGS = SnmpSettings  # what probes.REGISTRY validates a check of this kind with


async def probe(target: str, settings: SnmpSettings, *, deadline: float) -> ProbeResult:
    from probes import snmpwire  # pysnmp (about 15 MB) is loaded by the first SNMP check, not by every daemon

    timer = Timer()
    where = f"{settings.address}:{settings.port}"
    if settings.counter_bits == 64:
        oids = [f"{IF_HC_IN}.{settings.if_index}", f"{IF_HC_OUT}.{settings.if_index}"]
    else:
        oids = [f"{IF_IN}.{settings.if_index}", f"{IF_OUT}.{settings.if_index}"]
    oids.append(SYS_UPTIME)
    client_oids = [
        o.lstrip(".") for o in ([settings.clients_oid] if settings.clients_oid else []) + settings.clients_oids
    ]
    oids += client_oids
    left = remaining(deadline)
    try:
        # pysnmp's own timeout and retries share the deadline; the outer bound catches a lost wake-up.
        async with asyncio.timeout_at(deadline + 0.1):
            reason, message, values = await snmpwire.get(settings, oids, left)
    except TimeoutError:
        return timer.fail(target, KIND, r.TIMEOUT, f"{where}: no SNMP answer before the deadline")
    except (OSError, KeyError) as exc:
        return timer.fail(target, KIND, r.INTERNAL, f"{where}: cannot read the SNMP credentials: {type(exc).__name__}")
    except Exception as exc:  # pysnmp errors are the device's answer, reported as data
        return timer.fail(target, KIND, SNMP_ERROR, f"{where}: {type(exc).__name__}: {exc}")
    if reason:
        return timer.fail(target, KIND, reason, f"{where}: {message}")
    out: dict[str, float] = {"counter_bits": float(settings.counter_bits)}
    names = ["if_in_octets", "if_out_octets", "sys_uptime_seconds", *("clients" for _ in client_oids)]
    counter = "counter64" if settings.counter_bits == 64 else "counter32"
    expected = [counter, counter, "timeticks", *("number" for _ in client_oids)]
    for oid, name, value, kind in zip(oids, names, values, expected, strict=True):
        problem = snmpwire.judge(value, kind)
        if problem == NO_SUCH_OBJECT:
            return timer.fail(target, KIND, NO_SUCH_OBJECT, f"{where}: {oid} does not exist on the device", out)
        if problem:
            return timer.fail(
                target, KIND, WRONG_TYPE, f"{where}: {oid} is {type(value).__name__}, not a {name} value", out
            )
        number = float(int(value))
        if name == "clients":
            out["clients"] = out.get("clients", 0.0) + number  # several SSIDs or radios add up
        else:
            out[name] = number / 100.0 if name == "sys_uptime_seconds" else number
    return timer.ok(target, KIND, out)
