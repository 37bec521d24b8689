"""The audit store: an append-only SQLite table of every decision healer makes.

Each `Record` says what was decided about one signal for one runbook step: the runbook and
its revision, the signal (source, alertname, fingerprint, startsAt, labels), the target,
the step and action, the `Outcome`, the reason (for a refusal, which guard and why), the
state before and after, the duration and the error. It is the trail on-call reads and the
source of truth for guard state (rate limits, cooldowns, in-flight actions), so a restart
never resets a limit.

Write-ahead: before an action runs, an *intent* record (outcome `pending`) is committed;
after it, an outcome record with the same `action_id`. An intent left without an outcome
by a crash is closed as `unknown` by `recover()` at start-up; it still counts against
limits, because healer cannot know whether the action happened.

Writes go through one writer thread that commits in batches, so an alert storm's
thousands of decisions cost a few transactions, not thousands; `append(..., wait=True)`
returns only once the record is on disk (for intents). The table refuses UPDATE and
DELETE (triggers), so the trail cannot be rewritten through this store.

Durability: WAL with ``synchronous=NORMAL`` keeps every committed record across a crash
of healer; a power loss may lose the last transactions of the WAL, as with any SQLite
database in that mode.

Neighbours: the engine appends and rebuilds its guard index from `actions_since`;
`healer audit` reads through `query`.
"""

from __future__ import annotations

import contextlib
import enum
import json
import queue
import sqlite3
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from healer.errors import HealerError

__all__ = ["AuditError", "Outcome", "Record", "Store", "new_action_id"]


class AuditError(HealerError):
    """The audit store cannot be opened or written; healer must not act without it."""


class Outcome(enum.Enum):
    PENDING = "pending"  # an intent: the action is about to run
    EXECUTED = "executed"
    DRY_RUN = "dry-run"
    SUPPRESSED = "suppressed"
    FAILED = "failed"
    UNKNOWN = "unknown"  # the intent's outcome was never recorded (healer stopped)


def new_action_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True, slots=True)
class Record:
    """One line of the audit trail."""

    time: datetime  # aware, UTC
    runbook: str
    outcome: Outcome
    revision: str = ""
    source: str = ""  # alertmanager | promql | kubernetes
    alertname: str = ""
    fingerprint: str = ""
    starts_at: str = ""  # the alert's startsAt: with the fingerprint, the incident
    labels: Mapping[str, str] = field(default_factory=dict)
    target_kind: str = ""
    target_namespace: str = ""
    target_name: str = ""
    step: int = 0
    action: str = ""
    action_id: str = ""  # links an intent to its outcome
    guard: str = ""  # the guard that refused, for suppressed decisions
    reason: str = ""
    before: Mapping[str, Any] | None = None
    after: Mapping[str, Any] | None = None
    duration_ms: float | None = None
    error: str = ""
    count: int = 1  # suppressed decisions aggregated into this one record
    id: int | None = None  # assigned by the store

    @property
    def target(self) -> str:
        """``namespace/name`` (or ``name`` for cluster-scoped objects)."""
        if self.target_namespace:
            return f"{self.target_namespace}/{self.target_name}"
        return self.target_name


_COLUMNS = (
    "time", "runbook", "revision", "source", "alertname", "fingerprint", "starts_at", "labels",
    "target_kind", "target_namespace", "target_name", "step", "action", "action_id",
    "outcome", "guard", "reason", "before", "after", "duration_ms", "error", "count",
)  # fmt: skip

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS records (
    id INTEGER PRIMARY KEY,
    time TEXT NOT NULL,
    runbook TEXT NOT NULL,
    revision TEXT NOT NULL,
    source TEXT NOT NULL,
    alertname TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    starts_at TEXT NOT NULL,
    labels TEXT NOT NULL,
    target_kind TEXT NOT NULL,
    target_namespace TEXT NOT NULL,
    target_name TEXT NOT NULL,
    step INTEGER NOT NULL,
    action TEXT NOT NULL,
    action_id TEXT NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ({", ".join(f"'{o.value}'" for o in Outcome)})),
    guard TEXT NOT NULL,
    reason TEXT NOT NULL,
    before TEXT,
    after TEXT,
    duration_ms REAL,
    error TEXT NOT NULL,
    count INTEGER NOT NULL CHECK (count >= 1)
);
CREATE INDEX IF NOT EXISTS records_time ON records (time);
CREATE INDEX IF NOT EXISTS records_action ON records (action_id) WHERE action_id != '';
CREATE TRIGGER IF NOT EXISTS records_no_update BEFORE UPDATE ON records
    BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
CREATE TRIGGER IF NOT EXISTS records_no_delete BEFORE DELETE ON records
    BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
"""

_BATCH = 512  # records per transaction, at most


class Store:
    """The audit trail in one SQLite file. Thread-safe; `close()` flushes."""

    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        try:
            self._write = self._connect()
            self._write.executescript(_SCHEMA)
            _add_missing_columns(self._write)
        except sqlite3.Error as error:
            raise AuditError(f"cannot open the audit store {self.path}: {error}") from None
        self._queue: queue.Queue[tuple[list[Record], threading.Event | None] | None]
        self._queue = queue.Queue()
        self._failure: BaseException | None = None
        self._closed = False
        self._writer = threading.Thread(target=self._run, name="audit-writer", daemon=True)
        self._writer.start()

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute("PRAGMA busy_timeout=5000")
        return connection

    # writing --------------------------------------------------------------------------

    def append(self, records: Record | Iterable[Record], *, wait: bool = False) -> None:
        """Queue records for the writer; with `wait`, return once they are committed."""
        batch = [records] if isinstance(records, Record) else list(records)
        if self._closed:
            raise AuditError(f"the audit store {self.path} is closed")
        if self.failure is not None:
            raise AuditError(self.failure)
        done = threading.Event() if wait else None
        self._queue.put((batch, done))
        if done is not None:
            done.wait()
            if self.failure is not None:
                raise AuditError(self.failure)

    @property
    def failure(self) -> str | None:
        """Why the store can no longer write (healer must not act), or None."""
        return None if self._failure is None else f"the audit store failed: {self._failure}"

    def flush(self) -> None:
        """Return once everything appended so far is committed."""
        self.append([], wait=True)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            pending, waiters = [item], []
            while len(pending) < _BATCH:  # take what else is queued into this transaction
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)  # stop after this batch
                    break
                pending.append(more)
            rows = [_row(r) for batch, _ in pending for r in batch]
            waiters = [done for _, done in pending if done is not None]
            try:
                with self._write:
                    self._write.execute("BEGIN IMMEDIATE")
                    self._write.executemany(_INSERT, rows)
            except sqlite3.Error as error:
                self._failure = error
            for done in waiters:
                done.set()

    def close(self) -> None:
        """Commit what is queued and close the file."""
        self._closed = True
        self._queue.put(None)
        self._writer.join()
        self._write.close()

    def recover(self, now: datetime | None = None) -> list[Record]:
        """Close intents left without an outcome as `unknown`; returns the new records."""
        with self._reader() as db:
            rows = db.execute(
                "SELECT * FROM records WHERE outcome = 'pending' AND action_id NOT IN "
                "(SELECT action_id FROM records WHERE outcome != 'pending' "
                "AND action_id != '')"
            ).fetchall()
        closed = [
            _with(
                _record(row),
                time=now or datetime.now(UTC),
                outcome=Outcome.UNKNOWN,
                reason="healer stopped before this action's outcome was recorded; "
                "check the target: the action may or may not have run",
            )
            for row in rows
        ]
        if closed:
            self.append(closed, wait=True)
        return closed

    # reading --------------------------------------------------------------------------

    @contextlib.contextmanager
    def _reader(self) -> Iterator[sqlite3.Connection]:
        connection = sqlite3.connect(self.path, isolation_level=None)
        connection.row_factory = sqlite3.Row
        try:
            yield connection
        finally:
            connection.close()

    def query(
        self,
        *,
        since: datetime | None = None,
        runbook: str | None = None,
        target: str | None = None,  # namespace/name or name
        outcome: Outcome | None = None,
        limit: int | None = None,
    ) -> list[Record]:
        """Records matching every filter given, newest first."""
        where, args = [], []
        if since is not None:
            where.append("time >= ?")
            args.append(_time(since))
        if runbook is not None:
            where.append("runbook = ?")
            args.append(runbook)
        if target is not None:
            namespace, _, name = target.rpartition("/")
            where.append("target_namespace = ? AND target_name = ?")
            args.extend([namespace, name])
        if outcome is not None:
            where.append("outcome = ?")
            args.append(outcome.value)
        sql = "SELECT * FROM records"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY time DESC, id DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        with self._reader() as db:
            return [_record(row) for row in db.execute(sql, args)]

    def actions_since(self, since: datetime) -> list[Record]:
        """The intents and outcomes of actions since `since`, oldest first: what the
        guards count, paired by `action_id` (an intent alone is an action in flight)."""
        with self._reader() as db:
            rows = db.execute(
                "SELECT * FROM records WHERE time >= ? AND action_id != '' ORDER BY time, id",
                (_time(since),),
            ).fetchall()
        return [_record(row) for row in rows]


# Built from the fixed column list above; values are always bound parameters.
_INSERT = "INSERT INTO records ({}) VALUES ({})".format(  # noqa: S608
    ", ".join(_COLUMNS), ", ".join("?" * len(_COLUMNS))
)


# Columns added since the table was first created, with the value older rows read as.
_ADDED_COLUMNS = {"starts_at": "TEXT NOT NULL DEFAULT ''"}


def _add_missing_columns(db: sqlite3.Connection) -> None:
    """Bring a store written by an earlier healer up to the current columns (adding a
    column is the one change an append-only table allows)."""
    present = {row[1] for row in db.execute("PRAGMA table_info(records)")}
    for name, declaration in _ADDED_COLUMNS.items():
        if name not in present:
            db.execute(f"ALTER TABLE records ADD COLUMN {name} {declaration}")


def _time(moment: datetime) -> str:
    """UTC, fixed width, so text order is time order."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _json(value: Mapping[str, Any] | None) -> str | None:
    return None if value is None else json.dumps(dict(value), sort_keys=True)


def _row(record: Record) -> tuple[Any, ...]:
    return (
        _time(record.time), record.runbook, record.revision, record.source,
        record.alertname, record.fingerprint, record.starts_at, _json(record.labels),
        record.target_kind,
        record.target_namespace, record.target_name, record.step, record.action,
        record.action_id, record.outcome.value, record.guard, record.reason,
        _json(record.before), _json(record.after), record.duration_ms, record.error,
        record.count,
    )  # fmt: skip


def _record(row: sqlite3.Row) -> Record:
    values = {name: row[name] for name in _COLUMNS}
    values["time"] = datetime.strptime(values["time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=UTC
    )
    values["outcome"] = Outcome(values["outcome"])
    for name in ("labels", "before", "after"):
        if values[name] is not None:
            values[name] = json.loads(values[name])
    return Record(id=row["id"], **values)


def _with(record: Record, **changes: Any) -> Record:
    return replace(record, id=None, **changes)
