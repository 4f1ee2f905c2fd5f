"""vigia's version, as installed (the package metadata), for logs, metrics and the daemon's runs."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


def vigia_version() -> str:
    try:
        return version("vigia-ops")
    except PackageNotFoundError:
        return "0+unknown"
