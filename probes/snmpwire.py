"""The SNMP probe's protocol side (pysnmp 7): one engine per loop, credentials, a GET, and what
a value's type says. Imported by probes.snmp on its first check, so a daemon without SNMP targets
never loads pysnmp.

pysnmp 7 is asyncio-only and an SnmpEngine belongs to the loop it first ran on (it hangs on
another), so each loop keeps one engine: in the daemon that is the probe engine's loop, shared by
every SNMP check.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

from pysnmp.hlapi.v3arch.asyncio import (
    CommunityData,
    ContextData,
    ObjectIdentity,
    ObjectType,
    SnmpEngine,
    UdpTransportTarget,
    UsmUserData,
    get_cmd,
    usmAesCfb128Protocol,
    usmAesCfb256Protocol,
    usmDESPrivProtocol,
    usmHMAC192SHA256AuthProtocol,
    usmHMACMD5AuthProtocol,
    usmHMACSHAAuthProtocol,
    usmNoAuthProtocol,
    usmNoPrivProtocol,
)
from pysnmp.proto import rfc1902, rfc1905

from probes import result as r
from probes.snmp import NO_SUCH_OBJECT, SNMP_ERROR, WRONG_TYPE, SnmpSettings

_AUTH = {"none": usmNoAuthProtocol, "md5": usmHMACMD5AuthProtocol, "sha": usmHMACSHAAuthProtocol,
         "sha256": usmHMAC192SHA256AuthProtocol}  # fmt: skip
_PRIV = {"none": usmNoPrivProtocol, "des": usmDESPrivProtocol, "aes": usmAesCfb128Protocol,
         "aes256": usmAesCfb256Protocol}  # fmt: skip


# What each value read must be: the interface counters, sysUpTime, a client count.
_KINDS: dict[str, tuple[type, ...]] = {
    "counter64": (rfc1902.Counter64,),
    "counter32": (rfc1902.Counter32,),
    "timeticks": (rfc1902.TimeTicks,),
    "number": (rfc1902.Integer, rfc1902.Gauge32, rfc1902.Unsigned32, rfc1902.Counter32),
}


def judge(value: Any, kind: str) -> str:
    """'' if ``value`` is a ``kind`` value; NO_SUCH_OBJECT or WRONG_TYPE otherwise."""
    if isinstance(value, rfc1905.NoSuchObject | rfc1905.NoSuchInstance | rfc1905.EndOfMibView):
        return NO_SUCH_OBJECT
    return "" if isinstance(value, _KINDS[kind]) else WRONG_TYPE


_engines: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, SnmpEngine] = weakref.WeakKeyDictionary()


def _engine() -> SnmpEngine:
    loop = asyncio.get_running_loop()
    engine = _engines.get(loop)
    if engine is None:
        engine = _engines[loop] = SnmpEngine()
    return engine


def _auth(settings: SnmpSettings) -> CommunityData | UsmUserData:
    if settings.version == "2c":
        assert settings.community is not None
        return CommunityData(settings.community.read(), mpModel=1)
    v3 = settings.v3
    assert v3 is not None
    return UsmUserData(
        v3.user,
        authKey=v3.auth_key.read() if v3.auth_key else None,
        privKey=v3.priv_key.read() if v3.priv_key else None,
        authProtocol=_AUTH[v3.auth_protocol],
        privProtocol=_PRIV[v3.priv_protocol],
    )


async def get(settings: SnmpSettings, oids: list[str], timeout: float) -> tuple[str, str, list[Any]]:
    per_try = max(0.05, timeout / (settings.retries + 1))
    transport = await UdpTransportTarget.create(
        (settings.address, settings.port), timeout=per_try, retries=settings.retries
    )
    err_ind, err_status, err_index, binds = await get_cmd(
        _engine(), _auth(settings), transport, ContextData(), *(ObjectType(ObjectIdentity(o)) for o in oids)
    )
    if err_ind:
        text = str(err_ind)
        reason = r.TIMEOUT if "timeout" in text.lower() or "no snmp response" in text.lower() else SNMP_ERROR
        return reason, text, []
    if err_status:
        where = oids[int(err_index) - 1] if err_index else ""
        return SNMP_ERROR, f"{err_status.prettyPrint()} at {where}", []
    return "", "", [value for _, value in binds]
