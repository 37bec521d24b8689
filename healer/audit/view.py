"""The audit trail as `healer audit` prints it: a table for people, JSON lines for tools.

The table is what on-call reads at 3 a.m.: newest first, one line per decision, fitting
a 100-column terminal: the decision on one line, its reason (which guard refused, what
was done, the error) on the next. Long names and reasons are cut with "…"; the JSON lines
carry every field, uncut.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from healer.audit.store import Outcome, Record

# (heading, width) of the first line of each record; the reason goes on a second line.
_COLUMNS = (("TIME (UTC)", 14), ("OUTCOME", 10), ("RUNBOOK", 24), ("ACTION", 15),
            ("TARGET", 33))  # fmt: skip
_INDENT = " " * 15  # the reason starts under OUTCOME


def table(records: Iterable[Record], width: int = 100) -> Iterator[str]:
    """Each record as an aligned line, and its reason on the next; a heading first.

    An intent whose outcome is among `records` is left out: the outcome says it all.
    """
    records = list(records)
    finished = {r.action_id for r in records if r.action_id and r.outcome is not Outcome.PENDING}
    yield _line([h for h, _ in _COLUMNS])
    for record in records:
        if record.outcome is Outcome.PENDING and record.action_id in finished:
            continue
        yield _line([
            record.time.strftime("%m-%d %H:%M:%S"),
            record.outcome.value,
            record.runbook,
            record.action or "-",
            f"{record.target_kind} {record.target}" if record.target else "-",
        ])
        reason = _reason(record)
        if reason:
            yield _INDENT + _fit(reason, width - len(_INDENT))


def json_lines(records: Iterable[Record]) -> Iterator[str]:
    """One JSON object per record, every field, for tools (`jq`, log shippers)."""
    for record in records:
        yield json.dumps(_as_json(record), ensure_ascii=False)


def _reason(record: Record) -> str:
    reason = f"{record.guard}: {record.reason}" if record.guard else record.reason
    if record.error and record.error not in reason:
        reason = f"{reason}: {record.error}" if reason else record.error
    if record.count > 1:
        reason = f"({record.count}x) {reason}"
    return reason


def _line(cells: list[str]) -> str:
    widths = [w for _, w in _COLUMNS]
    return " ".join(_fit(c, w).ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()


def _fit(text: str, width: int) -> str:
    text = " ".join(text.split())  # one line, whatever the reason held
    return text if len(text) <= width else text[: width - 1] + "…"


def _as_json(record: Record) -> dict[str, Any]:
    return {
        "time": record.time.isoformat().replace("+00:00", "Z"),
        "runbook": record.runbook,
        "revision": record.revision,
        "action": record.action,
        "step": record.step,
        "target": record.target,
        "targetKind": record.target_kind,
        "outcome": record.outcome.value,
        "guard": record.guard,
        "reason": record.reason,
        "count": record.count,
        "signal": {
            "source": record.source,
            "alertname": record.alertname,
            "fingerprint": record.fingerprint,
            "labels": dict(record.labels),
        },
        "before": record.before,
        "after": record.after,
        "durationMs": record.duration_ms,
        "error": record.error,
        "actionId": record.action_id,
    }
