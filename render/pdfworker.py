"""Typesetting workers: ``python -m render.pdfworker`` typesets the documents it is sent, one at a time.

Plain child processes on pipes, not multiprocessing: a worker must not re-run the script that
started it (multiprocessing's spawn imports the caller's main module; fork would copy a daemon's
threads' locks). Each frame is an 8-byte big-endian length and the bytes; a worker answers a
document with b"P" and its PDF, or b"E" and the error, and ends at the end of its input.
"""

from __future__ import annotations

import contextlib
import gc
import os
import queue
import struct
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO

from kernel.errors import VigiaError
from kernel.heap import Heap

_LENGTH = struct.Struct(">Q")
# A part is ~12 pages, typeset in seconds; a worker silent this long is stuck, and is killed.
PART_SECONDS = 300.0
ROOT = Path(__file__).resolve().parent.parent


def _send(pipe: IO[bytes], data: bytes) -> None:
    pipe.write(_LENGTH.pack(len(data)))
    pipe.write(data)
    pipe.flush()


def _receive(pipe: IO[bytes]) -> bytes | None:
    head = pipe.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        return None
    (size,) = _LENGTH.unpack(head)
    data = pipe.read(size)
    if len(data) < size:
        return None
    return data


class _Worker:
    """One worker process; ``typeset`` answers a part's PDF or raises VigiaError naming why not."""

    def __init__(self) -> None:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "render.pdfworker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env
        )
        self.killed = False

    def _kill(self) -> None:
        self.killed = True
        self.proc.kill()

    def typeset(self, html: str) -> bytes:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            _send(self.proc.stdin, html.encode())
        except OSError as exc:
            raise VigiaError(f"the typesetting worker is gone ({exc})") from None
        stuck = threading.Timer(PART_SECONDS, self._kill)
        stuck.start()
        answer = _receive(self.proc.stdout)
        stuck.cancel()
        if answer is not None and answer[:1] == b"P":
            return answer[1:]
        if self.killed:
            raise VigiaError(f"no answer within {PART_SECONDS:.0f} s")
        raise VigiaError(answer[1:].decode(errors="replace") if answer else "the worker ended")

    def close(self) -> None:
        with contextlib.suppress(OSError):  # a worker already gone leaves a broken pipe
            if self.proc.stdin is not None:
                self.proc.stdin.close()  # the end of its input: the worker exits
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class Pool:
    """``count`` workers, started at once: each loads WeasyPrint and its fonts (about a second)
    while the caller goes on (cutting the document); closed on leaving the ``with`` block."""

    def __init__(self, count: int) -> None:
        self.workers: list[_Worker] = []
        try:
            for _ in range(count):
                self.workers.append(_Worker())
        except OSError as exc:
            self.close()
            raise VigiaError(f"a typesetting worker could not start ({exc})") from None

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        for worker in self.workers:
            worker.close()

    def typeset(self, parts: list[str]) -> list[bytes]:
        """Each part's PDF, in order; raises VigiaError naming the part if one fails."""
        todo: queue.Queue[int] = queue.Queue()
        for n in sorted(range(len(parts)), key=lambda n: -len(parts[n])):  # the longest first: they end together
            todo.put(n)
        done: dict[int, bytes] = {}
        failures: list[str] = []

        def work(worker: _Worker) -> None:
            n = -1
            try:
                while not failures:
                    n = todo.get_nowait()
                    done[n] = worker.typeset(parts[n])
            except queue.Empty:
                pass
            except Exception as exc:  # named with its part, never a silent thread
                why = str(exc) if isinstance(exc, VigiaError) else f"{type(exc).__name__}: {exc}"
                failures.append(f"part {n + 1} of {len(parts)} could not be typeset: {why}")

        threads = [threading.Thread(target=work, args=(w,), name=f"typeset-{k}", daemon=True)
                   for k, w in enumerate(self.workers)]  # fmt: skip
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if failures or len(done) != len(parts):
            raise VigiaError("; ".join(failures) or "a typesetting worker ended early")
        return [done[n] for n in range(len(parts))]


def typeset_parts(parts: list[str], workers: int) -> list[bytes]:
    """Each part's PDF, in order, typeset by ``workers`` worker processes; raises VigiaError if one fails."""
    with Pool(workers) as pool:
        return pool.typeset(parts)


def main() -> int:
    from render.engine import typeset_whole

    source, sink = sys.stdin.buffer, sys.stdout.buffer
    heap = Heap()
    # Fonts and WeasyPrint loaded before the first part arrives: while the parent cuts the document.
    with contextlib.suppress(Exception):  # a real fault is told with the first part
        typeset_whole("<!doctype html><html><head></head><body><p>0</p></body></html>")
    heap.settle()  # what the start made (modules, fonts) out of the full collections
    while (html := _receive(source)) is not None:
        try:
            _send(sink, b"P" + typeset_whole(html.decode()))
        except Exception as exc:  # told to the parent, which names the part
            _send(sink, b"E" + f"{type(exc).__name__}: {exc}".encode())
        # A part's boxes are cycles that lived through the young collections: at the heap's pace a
        # full collection could wait parts away, each worker holding ~90 MB of a typeset part.
        gc.collect()
    return 0


if __name__ == "__main__":
    sys.exit(main())
