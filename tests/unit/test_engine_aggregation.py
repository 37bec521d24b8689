"""Aggregating refusals under an alert storm: one audit record per key (runbook, target,
outcome, guard) per window, whose counts add up to every decision.

Covers: counts add up whatever the mix of refusals (property); distinct keys stay apart;
the first decision's signal with the latest reason and time; a record is built once per
key; taking the records starts a new window.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from healer.audit.store import Outcome, Record
from healer.engine.loop import Aggregator

START = datetime(2026, 12, 3, 3, 0, tzinfo=UTC)


def refuse(aggregator: Aggregator, runbook: str, pod: str, guard: str, second: int,
           reason: str = "", fingerprint: str = "f1") -> None:
    """Add one refusal, as the decision loop does."""
    def build() -> Record:
        return Record(time=START, runbook=runbook, outcome=Outcome.SUPPRESSED,
                      target_kind="Pod", target_namespace="shop", target_name=pod,
                      action="restart-pod", guard=guard, fingerprint=fingerprint)

    aggregator.add((runbook, pod, Outcome.SUPPRESSED, guard), reason or f"{guard} at {second}",
                   START + timedelta(seconds=second), build)


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
        refuse(aggregator, runbook, pod, guard, second)
    records = aggregator.take()
    assert sum(r.count for r in records) == len(found)
    assert len(records) == len(set(found))
    for record in records:
        assert record.count == found.count((record.runbook, record.target_name, record.guard))


def test_the_latest_reason_and_time_are_kept() -> None:
    """An aggregated record keeps the first alert's signal and the last refusal's reason
    and time."""
    aggregator = Aggregator()
    refuse(aggregator, "crash", "web-1", "cooldown", 0, "acted 1m ago", fingerprint="first")
    refuse(aggregator, "crash", "web-1", "cooldown", 30, "acted 2m ago", fingerprint="second")
    (record,) = aggregator.take()
    assert (record.count, record.reason, record.fingerprint) == (2, "acted 2m ago", "first")
    assert record.time == START + timedelta(seconds=30)


def test_taking_starts_a_new_window() -> None:
    """After `take`, nothing is open and the next refusal starts its own record."""
    aggregator = Aggregator()
    refuse(aggregator, "crash", "web-1", "cooldown", 0)
    assert aggregator.since is not None
    aggregator.take()
    assert aggregator.since is None
    assert aggregator.take() == []
    refuse(aggregator, "crash", "web-1", "cooldown", 1)
    assert [r.count for r in aggregator.take()] == [1]


def test_a_record_is_built_once_per_key() -> None:
    """A storm of refusals of one key builds one record, not one per refusal."""
    aggregator = Aggregator()
    built: list[int] = []

    def build() -> Record:
        built.append(1)
        return Record(time=START, runbook="crash", outcome=Outcome.SUPPRESSED)

    for second in range(1000):
        aggregator.add(("crash", "web-1"), "cooldown", START + timedelta(seconds=second), build)
    assert [r.count for r in aggregator.take()] == [1000]
    assert len(built) == 1
