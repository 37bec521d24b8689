"""The guards: pure checks of one planned action against the recent history of actions.

Each check returns None (go on) or a `Refusal` naming the guard and saying why, in words
on-call can act on ("cooldown: restart-pod ran on shop/checkout-1 4m ago; the runbook
waits 10m between actions on one target"). They read a `History`, never the clock or
the network: the decision loop passes `now`, and the history is rebuilt from the audit
store at start-up and then fed every intent and outcome the engine records, so a
restart never resets a limit.

What counts as an action: every intent, whatever its outcome (executed, failed,
unknown): an action that failed may still have changed the cluster, and one healer lost
track of must be assumed to have run.
"""

from __future__ import annotations

import contextlib
import fnmatch
import math
from collections import defaultdict, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from healer.audit.store import Outcome, Record
from healer.kube import ObjectRef, Replicas
from healer.runbook.model import Runbook

__all__ = [
    "History",
    "Refusal",
    "Target",
    "check_concurrency",
    "check_cooldown",
    "check_min_healthy",
    "check_rate_limit",
    "check_scope",
]


@dataclass(frozen=True, slots=True)
class Target:
    kind: str
    namespace: str  # "" for cluster-scoped kinds
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}" if self.namespace else self.name


@dataclass(frozen=True, slots=True)
class Refusal:
    guard: str  # scope | maxConcurrent | cooldown | rateLimit | minHealthy ...
    reason: str
    target: Target | None = None  # the rendered target a scope refusal is about, if any


@dataclass(frozen=True, slots=True)
class _Action:
    action_id: str
    runbook: str
    target: Target
    time: datetime


class History:
    """The actions of the recent past, indexed the ways the guards ask about them."""

    def __init__(self) -> None:
        self._by_runbook: dict[str, deque[_Action]] = defaultdict(deque)  # oldest first
        self._in_flight: dict[str, _Action] = {}  # action_id: started, no outcome yet

    def started(self, action_id: str, runbook: str, target: Target, time: datetime) -> None:
        action = _Action(action_id, runbook, target, time)
        self._by_runbook[runbook].append(action)
        self._in_flight[action_id] = action

    def finished(self, action_id: str) -> None:
        self._in_flight.pop(action_id, None)

    def cancel(self, action_id: str) -> None:
        """Forget a reserved action that never ran (refused before its intent was written):
        it must count against no limit."""
        action = self._in_flight.pop(action_id, None)
        if action is not None:
            with contextlib.suppress(ValueError):
                self._by_runbook[action.runbook].remove(action)

    def replay(self, records: Iterable[Record]) -> None:
        """Rebuild from audit records (oldest first): intents start, outcomes finish."""
        for record in records:
            if record.outcome is Outcome.PENDING:
                target = Target(record.target_kind, record.target_namespace, record.target_name)
                self.started(record.action_id, record.runbook, target, record.time)
            else:
                self.finished(record.action_id)

    def forget_before(self, moment: datetime) -> None:
        """Drop finished actions older than `moment` (beyond every guard's window)."""
        for actions in self._by_runbook.values():
            while actions and actions[0].time < moment:
                if actions[0].action_id in self._in_flight:
                    break  # still running: concurrency still counts it
                actions.popleft()

    def in_flight(self, runbook: str | None = None, target: Target | None = None) -> int:
        return sum(
            1
            for a in self._in_flight.values()
            if (runbook is None or a.runbook == runbook) and (target is None or a.target == target)
        )

    def actions(self, runbook: str, since: datetime) -> list[_Action]:
        """The runbook's actions started at or after `since`, oldest first."""
        return [a for a in self._by_runbook.get(runbook, ()) if a.time >= since]


def check_scope(target: Target, allowed: Sequence[str], protected: Iterable[str]) -> Refusal | None:
    """Whether the target's namespace (a Namespace's own name) is one the runbook may act
    in: inside its `scope.namespaces` globs, if it has any, and never a protected namespace
    unless the scope names it exactly."""
    namespace = target.name if target.kind == "Namespace" else target.namespace
    if not namespace:
        return None  # a Node: no namespace to be scoped by
    if namespace in set(protected) and namespace not in allowed:
        return Refusal(
            "scope",
            f"namespace {namespace} is protected: healer acts there only for a runbook whose "
            "scope.namespaces names it exactly",
        )
    if allowed and not any(fnmatch.fnmatchcase(namespace, pattern) for pattern in allowed):
        return Refusal(
            "scope", f"namespace {namespace} is outside this runbook's scope ({', '.join(allowed)})"
        )
    return None


def check_concurrency(runbook: Runbook, target: Target, history: History) -> Refusal | None:
    """One action per target at a time, and at most `maxConcurrent` per runbook."""
    if history.in_flight(target=target):
        return Refusal("maxConcurrent", f"an action on {target.kind} {target} is still running")
    limit = runbook.guards.max_concurrent
    running = history.in_flight(runbook=runbook.name)
    if running >= limit:
        return Refusal(
            "maxConcurrent",
            f"{running} action{'s' if running != 1 else ''} of this runbook still running; "
            f"maxConcurrent is {limit}",
        )
    return None


def check_cooldown(
    runbook: Runbook, target: Target, history: History, now: datetime
) -> Refusal | None:
    cooldown = runbook.guards.cooldown_seconds
    if not cooldown:
        return None
    recent = [
        a
        for a in history.actions(runbook.name, now - timedelta(seconds=cooldown))
        if a.target == target
    ]
    if not recent:
        return None
    ago = now - recent[-1].time
    return Refusal(
        "cooldown",
        f"this runbook acted on {target.kind} {target} {_span(ago)} ago; it waits "
        f"{_span(timedelta(seconds=cooldown))} between actions on one target",
    )


def check_rate_limit(
    runbook: Runbook, target: Target, history: History, now: datetime
) -> Refusal | None:
    limit = runbook.guards.rate_limit
    window = now - timedelta(seconds=limit.per_seconds)
    actions = history.actions(runbook.name, window)
    if limit.by == "target":
        actions = [a for a in actions if a.target == target]
        scope = f"on {target.kind} {target}"
    elif limit.by == "namespace":
        actions = [a for a in actions if a.target.namespace == target.namespace]
        scope = f"in namespace {target.namespace}"
    else:
        scope = "by this runbook"
    if len(actions) < limit.max:
        return None
    return Refusal(
        "rateLimit",
        f"{len(actions)} actions {scope} in the last {_span(timedelta(seconds=limit.per_seconds))}"
        f"; the limit is {limit.max} (rateLimit by {limit.by})",
    )


def _span(delta: timedelta) -> str:
    """A duration as people say it: 45s, 4m, 1h30m."""
    seconds = max(int(delta.total_seconds()), 0)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [f"{hours}h" if hours else "", f"{minutes}m" if minutes else ""]
    if not hours and (seconds or not minutes):
        parts.append(f"{seconds}s")
    return "".join(parts)


def check_min_healthy(runbook: Runbook, workload: ObjectRef, replicas: Replicas
                      ) -> Refusal | None:
    """Enough of the workload's replicas are ready to lose one more: `minHealthy` is a
    count, or a percentage of the desired replicas rounded up (50% of 3 is 2)."""
    wanted = runbook.guards.min_healthy
    if wanted is None:
        return None
    if wanted.count is not None:
        required, said = wanted.count, f"minHealthy is {wanted.count}"
    else:
        percent = wanted.percent or 0.0
        required = math.ceil(replicas.desired * percent / 100)
        said = f"minHealthy is {percent:g}% of {replicas.desired} desired, {required}"
    if replicas.ready >= required:
        return None
    return Refusal(
        "minHealthy",
        f"{workload} has {replicas.ready} ready replica{'s' if replicas.ready != 1 else ''}; "
        f"{said}: acting now could take down what still serves",
    )
