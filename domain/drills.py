"""Drill verdicts, written once: the journal, the metrics, the findings and the reports read these."""

from __future__ import annotations

from enum import StrEnum


class Verdict(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    ABORTED = "aborted"  # a method step failed
    INTERRUPTED = "interrupted"  # the process stopped mid-drill; rolled back at the next start
    MISSED = "missed"  # due while vigia could not run it
    SKIPPED = "skipped"  # paused, or another drill of the service was running
    PRECONDITION_FAILED = "precondition_failed"  # nothing was disrupted


# Verdicts of a drill that ran and did not pass: a security finding, an alert.
UNSUCCESSFUL = frozenset({Verdict.FAILED, Verdict.ABORTED, Verdict.INTERRUPTED})
# Verdicts of a drill that did not run at all.
NOT_RUN = frozenset({Verdict.MISSED, Verdict.SKIPPED})
