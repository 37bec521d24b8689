"""The audit store, on a real SQLite file: what on-call reads, and what guards count.

Covers: records round-trip with every field; newest-first queries with filters; the
table refuses updates and deletes; write-ahead intents left open by a crash are closed
as `unknown` at start-up and still count; batched writes lose nothing and `wait=True`
means committed (visible to another connection); an unopenable file is a clear error; a
store written before a column was added opens, keeps its records and takes new ones.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from healer.audit.store import AuditError, Outcome, Record, Store, new_action_id

T0 = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store(tmp_path / "audit.db")
    yield opened
    opened.close()


def record(minutes: float = 0, **fields: object) -> Record:
    values: dict[str, object] = {
        "time": T0 + timedelta(minutes=minutes),
        "runbook": "restart-crashlooping-pod",
        "outcome": Outcome.EXECUTED,
        "target_kind": "Pod",
        "target_namespace": "shop",
        "target_name": "checkout-7d9f-abcde",
    }
    values.update(fields)
    return Record(**values)  # type: ignore[arg-type]


def test_a_record_reads_back_with_every_field(store: Store) -> None:
    written = record(
        revision="sha256:0123456789abcdef",
        source="alertmanager",
        alertname="KubePodCrashLooping",
        fingerprint="4f3c2b1a",
        labels={"namespace": "shop", "pod": "checkout-7d9f-abcde", "note": "é \"q\" \n"},
        step=1,
        action="restart-pod",
        action_id=new_action_id(),
        reason="restarted: crash looping for 5m",
        before={"uid": "u1", "restarts": 7},
        after={"uid": "u2"},
        duration_ms=12.5,
    )
    store.append(written, wait=True)
    (read,) = store.query()
    assert read.id is not None
    assert replace(read, id=None) == written
    assert (read.outcome, read.action, read.step, read.target) == (
        Outcome.EXECUTED,
        "restart-pod",
        1,
        "shop/checkout-7d9f-abcde",
    )


def test_queries_are_newest_first_and_filtered(store: Store) -> None:
    store.append(
        [
            record(0, runbook="a"),
            record(1, runbook="b", outcome=Outcome.SUPPRESSED, guard="cooldown", count=40),
            record(2, runbook="a", target_name="other"),
            record(3, runbook="a", outcome=Outcome.FAILED, error="403 Forbidden"),
        ],
        wait=True,
    )
    assert [r.time.minute for r in store.query()] == [3, 2, 1, 0]
    assert [r.time.minute for r in store.query(runbook="a")] == [3, 2, 0]
    assert [r.time.minute for r in store.query(since=T0 + timedelta(minutes=2))] == [3, 2]
    assert [r.time.minute for r in store.query(target="shop/other")] == [2]
    assert [r.count for r in store.query(outcome=Outcome.SUPPRESSED)] == [40]
    assert len(store.query(limit=2)) == 2


def test_the_trail_cannot_be_rewritten(store: Store, tmp_path: Path) -> None:
    store.append(record(), wait=True)
    with sqlite3.connect(tmp_path / "audit.db") as db:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            db.execute("UPDATE records SET outcome = 'dry-run'")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            db.execute("DELETE FROM records")
    assert [r.outcome for r in store.query()] == [Outcome.EXECUTED]


def test_an_intent_left_open_by_a_crash_becomes_unknown_and_still_counts(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    first = Store(path)
    finished, open_ = new_action_id(), new_action_id()
    first.append(
        [
            record(0, outcome=Outcome.PENDING, action_id=finished, action="restart-pod"),
            record(0.1, outcome=Outcome.EXECUTED, action_id=finished, action="restart-pod"),
            record(1, outcome=Outcome.PENDING, action_id=open_, action="restart-pod"),
        ],
        wait=True,
    )
    first.close()  # as if healer died while the second action ran

    second = Store(path)
    try:
        closed = second.recover(now=T0 + timedelta(minutes=5))
        assert [(r.action_id, r.outcome) for r in closed] == [(open_, Outcome.UNKNOWN)]
        assert "may or may not have run" in closed[0].reason
        assert second.recover() == []  # already closed: recovery is idempotent
        counted = second.actions_since(T0)
        assert [(r.action_id, r.outcome) for r in counted] == [
            (finished, Outcome.PENDING),
            (finished, Outcome.EXECUTED),
            (open_, Outcome.PENDING),
            (open_, Outcome.UNKNOWN),
        ]
    finally:
        second.close()


def test_refusals_are_not_counted_as_actions(store: Store) -> None:
    """A suppressed decision has no action: it never counts against a limit."""
    store.append(
        [record(0, outcome=Outcome.SUPPRESSED, guard="rateLimit", count=500)], wait=True
    )
    assert store.actions_since(T0) == []


def test_concurrent_batched_writes_lose_nothing(store: Store, tmp_path: Path) -> None:
    def write(thread: int) -> None:
        for i in range(500):
            store.append(record(i / 1000, runbook=f"t{thread}", step=i))

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    store.flush()
    with sqlite3.connect(tmp_path / "audit.db") as db:  # another connection sees them all
        assert db.execute("SELECT count(*) FROM records").fetchone() == (4000,)
        per_thread = db.execute("SELECT runbook, count(DISTINCT step) FROM records GROUP BY 1")
        assert sorted(per_thread) == [(f"t{n}", 500) for n in range(8)]


def test_waiting_append_is_committed_when_it_returns(store: Store, tmp_path: Path) -> None:
    action = new_action_id()
    store.append(record(outcome=Outcome.PENDING, action_id=action), wait=True)
    with sqlite3.connect(tmp_path / "audit.db") as db:
        assert db.execute("SELECT action_id FROM records").fetchall() == [(action,)]


def test_close_commits_what_is_queued(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    store = Store(path)
    store.append([record(i) for i in range(1000)])
    store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM records").fetchone() == (1000,)


def test_the_file_is_in_wal_mode(store: Store, tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "audit.db") as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_an_unopenable_store_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(AuditError, match=r"cannot open the audit store .*missing/audit.db"):
        Store(tmp_path / "missing" / "audit.db")


def test_a_store_from_before_starts_at_was_recorded_still_opens(tmp_path: Path) -> None:
    """An audit file written before startsAt was recorded keeps its records (read with an
    empty startsAt) and takes new ones: upgrading healer never loses the trail."""
    path = tmp_path / "old.db"
    Store(path).close()
    old = sqlite3.connect(path)
    old.execute("ALTER TABLE records DROP COLUMN starts_at")  # as healer once created it
    old.execute("INSERT INTO records VALUES (1, '2026-11-22T03:00:00.000000Z', 'rb', '', "
                "'alertmanager', 'A', 'f', '{}', 'Pod', 'shop', 'p', 1, 'restart-pod', 'x', "
                "'executed', '', 'old', NULL, NULL, NULL, '', 1)")
    old.commit()
    old.close()
    store = Store(path)
    store.append(record(5, starts_at="2026-11-22T02:59:00Z"), wait=True)
    found = store.query()
    store.close()
    assert [(r.reason, r.starts_at) for r in found] == [
        ("", "2026-11-22T02:59:00Z"), ("old", "")]
