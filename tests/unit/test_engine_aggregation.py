"""Aggregating refusals under an alert storm: one audit record per (runbook, target,
outcome, guard, action) per window, whose counts add up to every decision.

Covers: counts add up whatever the mix of refusals (property); distinct keys stay apart;
the latest reason and time are kept; taking the records starts a new window.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from healer.audit.store import Outcome, Record
from healer.engine.loop import Aggregator

START = datetime(2026, 12, 3, 3, 0, tzinfo=UTC)


def refusal(runbook: str, pod: str, guard: str, second: int, reason: str = "") -> Record:
    return Record(time=START + timedelta(seconds=second), runbook=runbook,
                  outcome=Outcome.SUPPRESSED, target_kind="Pod", target_namespace="shop",
                  target_name=pod, action="restart-pod", guard=guard,
                  reason=reason or f"{guard} at {second}")


decisions = st.lists(st.tuples(st.sampled_from(["crash", "notready"]),
                               st.sampled_from(["web-1", "web-2", "web-3"]),
                               st.sampled_from(["cooldown", "rateLimit", "repeat", "scope"])),
                     max_size=300)


@given(decisions)
def test_counts_add_up_to_every_decision(found: list[tuple[str, str, str]]) -> None:
    """However refusals mix, the records' counts sum to the decisions added, one record
    per distinct (runbook, target, guard)."""
    aggregator = Aggregator()
    for second, (runbook, pod, guard) in enumerate(found):
        aggregator.add(refusal(runbook, pod, guard, second))
    records = aggregator.take()
    assert sum(r.count for r in records) == len(found)
    assert len(records) == len(set(found))
    for record in records:
        assert record.count == found.count((record.runbook, record.target_name, record.guard))


def test_the_latest_reason_and_time_are_kept() -> None:
    """An aggregated record reads like the last refusal it stands for."""
    aggregator = Aggregator()
    aggregator.add(refusal("crash", "web-1", "cooldown", 0, "acted 1m ago"))
    aggregator.add(refusal("crash", "web-1", "cooldown", 30, "acted 2m ago"))
    (record,) = aggregator.take()
    assert (record.count, record.reason) == (2, "acted 2m ago")
    assert record.time == START + timedelta(seconds=30)


def test_taking_starts_a_new_window() -> None:
    """After `take`, nothing is open and the next refusal starts its own record."""
    aggregator = Aggregator()
    aggregator.add(refusal("crash", "web-1", "cooldown", 0))
    assert aggregator.since is not None
    aggregator.take()
    assert aggregator.since is None
    assert aggregator.take() == []
    aggregator.add(refusal("crash", "web-1", "cooldown", 1))
    assert [r.count for r in aggregator.take()] == [1]
