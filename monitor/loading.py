"""What the daemon takes from its files, validated by one function for a start and a reload, and
the memory such a read leaves behind given back."""

from __future__ import annotations

import contextlib
import ctypes
import gc

import config as cfg
from continuity import plan as continuity_plan
from continuity.plan import Plan
from probes.engine import check_capacity, sockets_needed


def load(path: str, state_dir: str | None) -> tuple[cfg.Config, Plan | None]:
    """Everything the daemon takes from its files, validated: the configuration, the continuity
    plan it names, and whether its checks fit the open-files limit (which this raises). A start
    and a reload both call this one function, so a file that reloads is a file that starts."""
    conf = cfg.parse(path, state_dir=state_dir)
    plan = continuity_plan.parse(conf.continuity_plan) if conf.continuity_plan is not None else None
    served = conf.web.max_connections + (conf.status_page.max_connections if conf.status_page is not None else 0)
    check_capacity(sockets_needed([(t.probe, t.settings) for t in conf.targets]), conf.probing.max_in_flight, served)
    return conf, plan


def give_back_memory() -> None:
    """What reading a large file took (the YAML nodes of megabytes) back to the system: Python
    frees the objects, but glibc keeps the freed heap unless asked (a refused 3 MB reload left the
    daemon 50 MB larger for good)."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
