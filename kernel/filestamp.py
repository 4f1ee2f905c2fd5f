"""A file's identity for change detection: cheaper than reading it, and it sees a replaced file."""

from __future__ import annotations

import os

Stamp = tuple[int, int, int]


def stamp(path: str | os.PathLike[str]) -> Stamp | None:
    """(mtime_ns, size, inode), or None while the file does not exist or cannot be reached."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size, st.st_ino
