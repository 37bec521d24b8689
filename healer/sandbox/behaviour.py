"""How simulated pods and nodes behave: healthy, crash-looping, OOM-killed, not ready ...

A scenario (or a test, at run time) declares `PodBehaviour` rules: which pods, what fault,
how many of them, and whether the fault persists into replacement pods. The simulated
kubelet asks `Behaviours.fault_for(pod)` what a pod should do.

A rule that does not persist is a fault of the pods that exist when it starts: deleting
or evicting one of them (the remediation) brings up a healthy replacement. A persistent
rule is a fault of the workload itself (a bad image, a leak): every matching pod gets it,
up to `count` at a time, until a rollout changes the pods so they no longer match (e.g.
a rule limited to one `pod-template-hash`) or the rule is cleared.

Neighbours: `scenario` builds rules from YAML; `controllers.nodes` (the kubelet) applies
them; `Sandbox` exposes them to tests.
"""

from __future__ import annotations

import enum
import fnmatch
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from healer.sandbox.store import Obj, meta


class PodFault(enum.Enum):
    HEALTHY = "healthy"
    CRASH_LOOP = "crash-loop"  # the container exits 1 again and again: CrashLoopBackOff
    OOM_KILLED = "oom-killed"  # the container is OOM-killed (exit 137) again and again
    NOT_READY = "not-ready"  # running, but its readiness probe fails
    FAIL = "fail"  # runs, then fails for good (phase Failed for Never/OnFailure pods)
    COMPLETE = "complete"  # runs, then succeeds (phase Succeeded for Never/OnFailure pods)


class NodeState(enum.Enum):
    READY = "True"
    NOT_READY = "False"  # the kubelet reports NotReady
    UNKNOWN = "Unknown"  # the kubelet stopped posting status (node unreachable)


@dataclass(frozen=True)
class PodSelector:
    """Selects pods by namespace, name glob, labels and owning workload name."""

    namespace: str | None = None
    name: str | None = None  # a glob, e.g. "checkout-*"
    labels: Mapping[str, str] = field(default_factory=dict)

    def matches(self, pod: Mapping[str, Any]) -> bool:
        m = meta(pod)
        if self.namespace is not None and m.get("namespace") != self.namespace:
            return False
        if self.name is not None and not fnmatch.fnmatchcase(str(m.get("name", "")), self.name):
            return False
        labels = m.get("labels") or {}
        return all(labels.get(k) == v for k, v in self.labels.items())


@dataclass(frozen=True)
class PodBehaviour:
    """A rule: the selected pods show `fault`."""

    selector: PodSelector
    fault: PodFault
    count: int | None = None  # at most this many pods at a time; None: every match
    persist: bool = False  # replacement pods get the fault too
    container: str | None = None  # the faulty container; None: the first one
    after: float = 0.0  # seconds of healthy running before the fault begins


@dataclass(frozen=True)
class Timing:
    """How fast the simulated cluster moves, in seconds."""

    pod_start: float = 0.5  # scheduled → containers running
    restart_interval: float = 2.0  # one crash-loop cycle (a restart per cycle)
    termination: float = 0.5  # a deleted pod's containers stop (capped by its grace period)
    job_run: float = 1.0  # a run-to-completion pod runs this long


class Behaviours:
    """The rules in force, and which pod got which fault. Thread-safe."""

    def __init__(self, timing: Timing | None = None) -> None:
        self.timing = timing or Timing()
        self._lock = threading.Lock()
        self._rules: list[PodBehaviour] = []
        self._assigned: dict[str, PodBehaviour] = {}  # pod uid → rule
        self._decided: set[str] = set()  # pod uids whose fault is settled
        self._nodes: dict[str, NodeState] = {}

    def add(self, rule: PodBehaviour, existing: Iterable[Obj]) -> list[str]:
        """Start a rule: it takes the matching pods that exist now (up to `count`); a
        persistent one also takes the pods that come later, `count` at a time.

        Returns the names of the pods it took.
        """
        taken: list[str] = []
        with self._lock:
            self._rules.append(rule)
            candidates = sorted((p for p in existing if rule.selector.matches(p)
                                 and not meta(p).get("deletionTimestamp")),
                                key=lambda p: str(meta(p).get("name")))
            for pod in candidates[: rule.count]:
                uid = str(meta(pod).get("uid"))
                self._assigned[uid] = rule
                self._decided.add(uid)
                taken.append(str(meta(pod).get("name")))
        return taken

    def clear(self) -> None:
        """Every pod is healthy from now on (pods already crashed keep their history)."""
        with self._lock:
            self._rules.clear()
            self._assigned.clear()

    def fault_for(self, pod: Obj) -> PodBehaviour | None:
        """The rule a pod follows; decided once per pod, on first sight."""
        uid = str(meta(pod).get("uid"))
        with self._lock:
            if uid in self._decided:
                return self._assigned.get(uid)
            self._decided.add(uid)
            for rule in self._rules:
                if not rule.persist or not rule.selector.matches(pod):
                    continue
                taken = sum(1 for r in self._assigned.values() if r is rule)
                if rule.count is None or taken < rule.count:
                    self._assigned[uid] = rule
                    return rule
            return None

    def release(self, uid: str) -> None:
        """A pod is terminating (its status no longer changes): it stops counting against
        its rule's `count`, so a persistent rule passes on to the pod replacing it."""
        with self._lock:
            self._assigned.pop(uid, None)

    def forget(self, uid: str) -> None:
        """A pod is gone: it no longer counts against its rule's `count`."""
        with self._lock:
            self._assigned.pop(uid, None)
            self._decided.discard(uid)

    # nodes ----------------------------------------------------------------------------

    def set_node(self, name: str, state: NodeState) -> None:
        with self._lock:
            self._nodes[name] = state

    def node_state(self, name: str) -> NodeState | None:
        """The state a test or scenario forced on a node; None: left as declared."""
        with self._lock:
            return self._nodes.get(name)
