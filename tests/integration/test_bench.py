"""`make bench` runs: its quick mode measures every figure once, so it cannot rot."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
FIGURES = (
    "DynamoDB calls per warm authorization, session",
    "DynamoDB calls per warm authorization, api_key",
    "DynamoDB calls per warm authorization, client_jwt",
    "DynamoDB calls per authorization, forged api key",
    "cold import of authorizer, client ready",
    "argon2id verify time (ms)",
    "login time, unknown email / wrong password",
    "warm authorization, RS256 / HS256 session access token",
    "cold import of authorizer with a session access token",
    "login time with / without signing the access token (ms)",
)


def test_the_bench_runs_every_figure_in_quick_mode():
    results = REPO_ROOT / "bench" / "results.json"
    before = results.read_bytes()
    run = subprocess.run(
        [sys.executable, "-m", "bench", "--quick"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    for figure in FIGURES:
        assert figure in run.stdout, figure
    # DynamoDB calls are counted on the wire, not timed: they hold even in quick mode
    for line in run.stdout.splitlines():
        if line.startswith("DynamoDB calls per"):
            figure, value, _target, ok = re.split(r"\s{2,}", line.strip())[:4]
            assert ok == "yes", line
            assert float(value) <= 1, line
    assert results.read_bytes() == before, "quick mode must not overwrite the figures"
