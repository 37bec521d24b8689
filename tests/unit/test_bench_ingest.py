"""The ingest benchmark (`bench/ingest.py`) runs end to end at smoke-test size.

Covers: `--quick` starts a sandbox and `healer run`, drives every phase (warm-up, empty
handler, 1 and 100 alerts per request, latency), finds every alert accepted in the audit
store, prints a verdict for each target and exits 0.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "ingest.py"


@pytest.mark.timeout(180)
def test_quick_run_measures_every_figure_and_drops_nothing() -> None:
    """A quick run ends with every POST answered 200, every alert audited and a verdict
    on each of the four targets."""
    run = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--single", "100", "--batched", "5",
         "--latency", "5", "--runbooks", "301"],
        capture_output=True, text=True, timeout=170, check=False)
    assert run.returncode == 0, run.stdout + run.stderr[-3000:]
    assert "BROKEN" not in run.stdout
    verdicts = [line for line in run.stdout.splitlines()
                if line.endswith((" PASS", " MISS"))]
    assert len(verdicts) == 4, run.stdout
    assert "none dropped: 210 of 210 POSTs answered 200" in run.stdout, run.stdout
    assert "accounts for 705 of 705 alerts accepted" in run.stdout, run.stdout
