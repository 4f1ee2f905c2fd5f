"""Files: reading one a person names (a configuration, an operator's CSV) only if it is a regular
file and only up to a size, so that a FIFO never hangs a command or a reload and a runaway file is
refused before it fills the memory; and writing, where the system's error becomes a FileError
naming the file."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from kernel.errors import FileError


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


@contextmanager
def writing(path: str | os.PathLike[str]) -> Iterator[None]:
    """An OSError in the block (disk full, no permission, a missing folder) leaves it as a FileError."""
    try:
        yield
    except OSError as exc:
        raise FileError(f"cannot write {os.fspath(path)}: {exc.strerror or exc}") from exc


def write_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` whole or not at all (a temporary file beside it, then a rename)."""
    target = Path(path)
    tmp = target.with_name(f".{target.name}.tmp")
    with writing(target):
        try:
            tmp.write_bytes(data)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
