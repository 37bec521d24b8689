"""`healer audit`: the view of the audit trail on-call reads, run as a real process.

Covers: a table newest first that fits a 100-column terminal, one decision per record
with its reason underneath (an intent with an outcome shows once); the filters; JSON
lines with at least time, runbook, action, target, outcome and reason; usage errors
exit 2 with a message.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from healer.audit.store import Outcome, Record, Store, new_action_id
from tests.integration.test_cli_sandbox import run_healer

NOW = datetime.now(UTC)
POD = {"target_kind": "Pod", "target_namespace": "shop", "target_name": "checkout-7d9f8b6c5-x2k4q"}


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "audit.db"
    store = Store(path)
    action = new_action_id()
    restart = {"runbook": "restart-crashlooping-pod", "action": "restart-pod", **POD}
    store.append(
        [
            Record(time=NOW - timedelta(hours=3), runbook="scale-up-on-latency",
                   outcome=Outcome.DRY_RUN, action="scale", target_kind="Deployment",
                   target_namespace="shop", target_name="frontend",
                   reason="would scale 3 -> 5 replicas"),
            Record(time=NOW - timedelta(minutes=5), outcome=Outcome.PENDING, action_id=action,
                   **restart),
            Record(time=NOW - timedelta(minutes=5), outcome=Outcome.EXECUTED, action_id=action,
                   reason="deleted the pod; its ReplicaSet replaces it", **restart),
            Record(time=NOW - timedelta(minutes=1), outcome=Outcome.SUPPRESSED, count=40,
                   guard="cooldown", reason="this runbook acted on Pod "
                   "shop/checkout-7d9f8b6c5-x2k4q 4m ago; it waits 10m between actions on "
                   "one target, and this reason is long enough to be cut at the edge", **restart),
        ],
        wait=True,
    )
    store.close()
    return path


def test_the_table_is_newest_first_and_fits_100_columns(db: Path) -> None:
    result = run_healer("audit", "--db", str(db))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 100
    assert lines[0].split() == ["TIME", "(UTC)", "OUTCOME", "RUNBOOK", "ACTION", "TARGET"]
    outcomes = [line.split()[2] for line in lines[1:] if not line.startswith(" ")]
    assert outcomes == ["suppressed", "executed", "dry-run"]  # the intent shows once
    assert lines[2].startswith("               (40x) cooldown: this runbook acted on Pod")
    assert lines[2].endswith("…")
    assert "Pod shop/checkout-7d9f8b6c5-x2k4q" in lines[1]


def test_filters(db: Path) -> None:
    def outcomes(*args: str) -> list[str]:
        result = run_healer("audit", "--db", str(db), "--output", "json", *args)
        assert result.returncode == 0, result.stderr
        return [json.loads(line)["outcome"] for line in result.stdout.splitlines()]

    assert outcomes("--since", "2h") == ["suppressed", "executed", "pending"]
    assert outcomes("--runbook", "scale-up-on-latency") == ["dry-run"]
    assert outcomes("--target", "shop/frontend") == ["dry-run"]
    assert outcomes("--outcome", "executed") == ["executed"]
    assert outcomes("--limit", "1") == ["suppressed"]


def test_json_lines_carry_what_tools_need(db: Path) -> None:
    result = run_healer("audit", "--db", str(db), "--output", "json", "--outcome", "executed")
    (line,) = result.stdout.splitlines()
    record = json.loads(line)
    assert {k: record[k] for k in ("runbook", "action", "target", "outcome", "reason")} == {
        "runbook": "restart-crashlooping-pod",
        "action": "restart-pod",
        "target": "shop/checkout-7d9f8b6c5-x2k4q",
        "outcome": "executed",
        "reason": "deleted the pod; its ReplicaSet replaces it",
    }
    assert datetime.fromisoformat(record["time"]) == NOW - timedelta(minutes=5)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--db", "/nonexistent/audit.db"], "no audit store at /nonexistent/audit.db"),
        (["--since", "2 hours"], "--since: expected a duration like 30s"),
        (["--outcome", "done"], "invalid choice: 'done'"),
    ],
)
def test_usage_errors_exit_2(db: Path, args: list[str], message: str) -> None:
    result = run_healer("audit", "--db", str(db), *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
