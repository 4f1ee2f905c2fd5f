"""Parse every configuration file in a folder, as `vigia check-config` does; report what went wrong.

    python -m tests.fuzz_worker FOLDER

One line per file: ``ok``, ``problems``, ``timeout`` or ``crash <exception>``; each file gets at
most 10 s (SIGALRM). The caller runs this under a memory limit (RLIMIT_AS).
"""

from __future__ import annotations

import json
import signal
import sys
import tempfile
import traceback
from pathlib import Path

import config as cfg
from kernel.errors import ConfigError


class _Late(BaseException):
    pass


def _alarm(_signum: int, _frame: object) -> None:
    raise _Late


def main(folder: str) -> None:
    signal.signal(signal.SIGALRM, _alarm)
    state = tempfile.mkdtemp()
    for path in sorted(Path(folder).iterdir()):
        signal.alarm(10)
        try:
            cfg.parse(str(path), state_dir=state)
            verdict = "ok"
        except ConfigError:
            verdict = "problems"
        except _Late:
            verdict = "timeout"
        except BaseException as exc:  # what the test is looking for: anything but a located error
            verdict = f"crash {type(exc).__name__}: {exc} | {traceback.format_exc()[-600:]}"
        finally:
            signal.alarm(0)
        print(json.dumps({"file": path.name, "verdict": verdict}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
