"""Reading a file a person names (a configuration, an operator's CSV): only a regular file, and
only up to a size, so that a FIFO never hangs a command or a reload and a runaway file is refused
before it fills the memory."""

from __future__ import annotations

import os
import stat


class NotReadable(ValueError):
    """The path is not a regular file, or is larger than the limit (the message says which)."""


def read_limited(path: str, limit: int) -> bytes:
    """The file's bytes; NotReadable for a FIFO, a directory, a device or a file over ``limit``
    bytes; OSError as the system gives it (missing, no permission)."""
    kind = os.stat(path).st_mode
    if not stat.S_ISREG(kind):
        what = "a FIFO" if stat.S_ISFIFO(kind) else "a directory" if stat.S_ISDIR(kind) else "a device"
        raise NotReadable(f"not a regular file ({what})")
    with open(path, "rb") as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise NotReadable(f"larger than {limit // 2**20} MiB")
    return data
