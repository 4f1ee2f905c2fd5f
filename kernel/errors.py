"""vigia's exception tree.

Exceptions are for configuration errors and bugs; a failing target is data
(a ProbeResult with success=False), never an exception.

    VigiaError
    ├── ConfigError        invalid configuration; carries every problem found
    ├── StoreError         the history database could not be read or written (store.backends maps)
    ├── FileError          a file vigia writes (a report, the drill journal) could not be written
    ├── ProbeSetupError    a probe engine cannot start (e.g. no raw socket)
    ├── DrillError         a continuity drill definition or run is unusable
    └── InputError         an operator's input (a command's arguments, a CSV) is refused whole:
                           nothing is stored, the command exits 2 (WindowError, IncidentError, ...)

The tree lives in the bottom package (kernel) because every other package may import it. Each
boundary maps what its library raises into the tree once (the store its driver's errors, file
writers the system's), so the command line catches the tree and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass

from kernel.redact import redact


class VigiaError(Exception):
    """Base of every error vigia raises on purpose. Its text never carries a URL's password."""

    def __init__(self, *args: object) -> None:
        super().__init__(*(redact(a) if isinstance(a, str) else a for a in args))


@dataclass(frozen=True)
class ConfigProblem:
    """One problem in a configuration file, located for the person fixing it."""

    file: str
    line: int | None
    column: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        key = f" {self.key}:" if self.key else ""
        return f"{where}:{key} {self.message}"


class ConfigError(VigiaError):
    """A configuration file is invalid; ``problems`` lists every finding."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class StoreError(VigiaError):
    """The history store failed; probing and /metrics go on regardless."""


class FileError(VigiaError):
    """A file could not be written (disk full, no permission); the message names the file."""


class ProbeSetupError(VigiaError):
    """A probe engine could not be set up (missing privilege, no socket)."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


class DrillError(VigiaError):
    """A continuity drill definition or run is unusable."""


class InputError(VigiaError, ValueError):
    """An operator's input is refused before anything is stored; the message names what and why.

    The command line maps it, once, to one line on stderr and exit code 2."""


def short(exc: BaseException, limit: int = 300) -> str:
    """An exception in one line for a log or a message: its type and the first line of its text."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    return redact(f"{type(exc).__name__}: {text}"[:limit] if text else type(exc).__name__)
