"""Thousands of mutated configurations: each gives a configuration or located problems, never a
traceback or a hang (issue 14). Hypothesis makes the mutations; a worker process parses them under
a memory limit and a time limit per file, as `vigia check-config` would."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.vigiaproc import ROOT

# No timing asserted (generous bounds only): CI runs these beside other tests.
pytestmark = [pytest.mark.scale, pytest.mark.shares_cpu]

SEEDS = [
    (ROOT / "examples" / "demo.yml").read_bytes(),
    (ROOT / "examples" / "cartagena.yml").read_bytes(),
    *(p.read_bytes() for p in sorted((ROOT / "tests" / "configs" / "invalid").glob("*.yml"))),
]
# Pieces that YAML and vigia's schema give meaning to: the mutations reach deep, not just syntax errors.
TOKENS = [b"&a ", b"*a", b"<<: *a", b"{", b"}", b"[", b"]", b": ", b"- ", b"\n  ", b"'", b'"', b"!!binary ",
          b"!!python/object ", b"2025-13-45", b"1ms", b"100000000000d", b"a{4294967296}", b"99999", b"\x00",
          b"\xff", b"\t", b"~", b"null", b"true", b"0x1F", b".inf", b"1e999", b"-1", b"probe: ", b"icmp",
          b"interval: ", b"targets:", b"zones:", b"http://u:p@h/", b"%", b"\xef\xbb\xbf", b"?", b"|\n",
          b"#"]  # fmt: skip

mutation = st.tuples(
    st.sampled_from(range(len(SEEDS))),
    st.lists(
        st.tuples(
            st.sampled_from(["insert", "delete", "replace", "duplicate"]),
            st.floats(0, 1),
            st.integers(1, 64),
            st.sampled_from(TOKENS) | st.binary(min_size=1, max_size=8),
        ),
        min_size=1,
        max_size=6,
    ),
)


def mutate(seed: bytes, ops: list[tuple[str, float, int, bytes]]) -> bytes:
    data = bytearray(seed)
    for op, where, size, token in ops:
        at = int(where * len(data))
        if op == "insert":
            data[at:at] = token
        elif op == "delete":
            del data[at : at + size]
        elif op == "replace":
            data[at : at + len(token)] = token
        else:
            data[at:at] = data[at : at + size * 8]
    return bytes(data)


def limits() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (2 * 1024**3, 2 * 1024**3))


@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(st.lists(mutation, min_size=200, max_size=200))
def test_mutated_configurations_never_crash_or_hang(tmp_path_factory: pytest.TempPathFactory, batch: list) -> None:
    folder = tmp_path_factory.mktemp("fuzz")
    for i, (seed, ops) in enumerate(batch):
        (folder / f"{i:04d}.yml").write_bytes(mutate(SEEDS[seed], ops))
    out = subprocess.run(
        [sys.executable, "-m", "tests.fuzz_worker", str(folder)],
        capture_output=True, text=True, timeout=600, cwd=str(ROOT), preexec_fn=limits,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    verdicts = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(verdicts) == len(batch)
    bad = [v for v in verdicts if v["verdict"] not in ("ok", "problems")]
    for v in bad[:3]:
        print(v["file"], (folder / v["file"]).read_bytes()[:400])
    assert not bad, bad[:3]
