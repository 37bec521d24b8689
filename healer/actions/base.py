"""What an action is to the engine: read, decide, then write (or dry-run the write).

An action runs in two phases, so that everything it refuses costs no intent and no limit:

1. `prepare(request)` only reads (the pod and its controller, the workload's scale, its
   HorizontalPodAutoscaler). It returns a `Plan`: the state before, what it will change,
   and the workload whose ready replicas the `minHealthy` guard checks. It raises
   `ActionRefused` when the action must not run (a pod nobody would replace, a workload an
   HPA owns) and a `KubeError` when it cannot read.
2. The engine checks `minHealthy`, writes the intent, then calls `plan.apply(dry_run)`,
   which sends the write (server-side ``dryRun=All`` when `dry_run`) and returns the
   state after, as the API answered it. It raises a `KubeError` when the write fails.

Neighbours: `registry` (an `ActionType` carries its `prepare`), the kube facade (the only
way an action reaches the cluster), the engine (calls both phases).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from healer.errors import HealerError
from healer.kube import Kube, ObjectRef

__all__ = ["ActionRefused", "ActionRequest", "Plan", "Prepare"]


class ActionRefused(HealerError):  # noqa: N818 - a refusal, recorded like a guard's
    """The action must not run on this target; `guard` names the check in the audit."""

    def __init__(self, guard: str, reason: str) -> None:
        super().__init__(reason)
        self.guard = guard
        self.reason = reason


@dataclass(frozen=True)
class ActionRequest:
    """One step to run: the object it acts on, the step's params, the moment decided."""

    kube: Kube
    target: ObjectRef
    params: Any  # the action's frozen params object
    now: datetime  # aware, UTC


@dataclass(frozen=True)
class Plan:
    """What the action read and will do."""

    before: Mapping[str, Any]  # e.g. {"replicas": 3}, {"pod": "shop/web-1", "uid": ...}
    change: str  # what it will do, for the audit reason: "replicas 3 → 5"
    workload: ObjectRef | None  # whose ready replicas minHealthy reads; None: none
    apply: Callable[[bool], Mapping[str, Any]]  # dry_run → the state after


class Prepare(Protocol):
    def __call__(self, request: ActionRequest) -> Plan: ...
