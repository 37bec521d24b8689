"""The controller runtime: what kube-controller-manager's work queues are to a real cluster.

Every committed store change is handed (cheaply, under the store lock) to the manager's
inbox. One manager thread maps each change to the keys the controllers care about, keeps a
deduplicated work queue, and calls `reconcile(key)` level-triggered: a controller reads
the current state and moves it one step towards the desired one. A reconcile may ask to
run again after a delay (pods starting, crash-loop restarts, terminations), kept in a
timer heap with at most one timer per key: an earlier timer already pending makes a
later one redundant, because that run decides afresh when to look again. Running all
controllers on one thread keeps them free of races with each other; optimistic
concurrency in the store handles the races with API clients.

Neighbours: the controllers in this package implement `Controller`; `Sandbox` owns the
manager.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections import deque
from collections.abc import Hashable, Iterable, Iterator, Mapping
from typing import Any, Protocol

import structlog

from healer.sandbox.resources import ResourceType
from healer.sandbox.status import ApiError
from healer.sandbox.store import DELETED, Change, Obj, Store, meta

log = structlog.get_logger(__name__)



class Controller(Protocol):
    """A level-triggered reconciler of one kind of object."""

    name: str

    def keys_for(self, change: Change) -> Iterable[Hashable]:
        """The keys this change makes worth reconciling (cheap; no store writes)."""
        ...

    def reconcile(self, key: Hashable) -> float | None:
        """Move `key` one step towards its desired state; seconds until it wants to run
        again, or None."""
        ...


class ControllerManager:
    """Runs controllers on one thread, fed by store changes and timers."""

    def __init__(self, store: Store, controllers: Iterable[Controller]) -> None:
        self.store = store
        self.controllers = list(controllers)
        self._inbox: deque[Change] = deque()
        self._queue: dict[tuple[int, Hashable], None] = {}
        self._timers: list[tuple[float, int, int, Hashable]] = []
        self._timer_due: dict[tuple[int, Hashable], float] = {}  # the live timer of each key
        self._sequence = itertools.count()
        self._wake = threading.Condition()
        self._stop = threading.Event()
        self._busy = False
        self._thread = threading.Thread(target=self._run, name="sandbox-controllers",
                                        daemon=True)
        store.subscribe(self._on_change)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        with self._wake:
            self._wake.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def enqueue(self, controller: Controller, key: Hashable, delay: float = 0.0) -> None:
        index = self.controllers.index(controller)
        with self._wake:
            if delay <= 0:
                self._queue[(index, key)] = None
            else:
                self._schedule(index, key, delay)
            self._wake.notify_all()

    def _schedule(self, index: int, key: Hashable, delay: float) -> None:
        """Add a timer unless one due no later is pending (call with `_wake` held)."""
        when = time.monotonic() + max(delay, 0.0)
        pending = self._timer_due.get((index, key))
        if pending is not None and pending <= when:
            return
        self._timer_due[(index, key)] = when
        heapq.heappush(self._timers, (when, next(self._sequence), index, key))

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until no change or queued work is pending (timers may still be)."""
        deadline = time.monotonic() + timeout
        with self._wake:
            while self._inbox or self._queue or self._busy:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._wake.wait(remaining)
        return True

    # the loop -----------------------------------------------------------------------

    def _on_change(self, change: Change) -> None:
        with self._wake:
            self._inbox.append(change)
            self._wake.notify_all()

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._wake:
                while not (self._inbox or self._queue or self._due() or self._stop.is_set()):
                    wait = (self._timers[0][0] - time.monotonic()) if self._timers else 1.0
                    self._wake.wait(max(min(wait, 1.0), 0.001))
                changes = list(self._inbox)
                self._inbox.clear()
                self._busy = True
            try:
                for change in changes:
                    self._route(change)
                with self._wake:
                    now = time.monotonic()
                    while self._timers and self._timers[0][0] <= now:
                        when, _, index, key = heapq.heappop(self._timers)
                        if self._timer_due.get((index, key)) == when:  # else superseded
                            del self._timer_due[(index, key)]
                            self._queue[(index, key)] = None
                    work = list(self._queue)
                    self._queue.clear()
                for index, key in work:
                    if self._stop.is_set():
                        return
                    self._reconcile(index, key)
            finally:
                with self._wake:
                    self._busy = False
                    self._wake.notify_all()

    def _due(self) -> bool:
        return bool(self._timers) and self._timers[0][0] <= time.monotonic()

    def _route(self, change: Change) -> None:
        for index, controller in enumerate(self.controllers):
            try:
                keys = list(controller.keys_for(change))
            except Exception:
                log.exception("controller_routing_failed", controller=controller.name)
                continue
            with self._wake:
                for key in keys:
                    self._queue[(index, key)] = None

    def _reconcile(self, index: int, key: Hashable) -> None:
        controller = self.controllers[index]
        try:
            again = controller.reconcile(key)
        except ApiError as error:
            again = 0.05 if error.code == 409 else 1.0
            if error.code != 409:
                log.warning("controller_reconcile_refused", controller=controller.name,
                            key=str(key), code=error.code, reason=error.message)
        except Exception:
            log.exception("controller_reconcile_failed", controller=controller.name,
                          key=str(key))
            again = 1.0
        if again is not None:
            with self._wake:
                self._schedule(index, key, again)


# helpers shared by controllers ----------------------------------------------------------


class OwnerIndex:
    """Which objects of one resource each controller owns, kept current from changes.

    Saves controllers a scan of every pod on every reconcile (2,000 pods x many sets).
    Used only on the manager thread.
    """

    def __init__(self, store: Store, resource: ResourceType) -> None:
        self._store = store
        self._resource = resource
        self._owned: dict[str, set[tuple[str, str]]] = {}
        self._owner_of: dict[tuple[str, str], str] = {}

    def observe(self, change: Change) -> str | None:
        """Update the index; returns the uid of the change's controller, if any."""
        if change.resource.storage_key != self._resource.storage_key:
            return None
        key = object_key(change)
        old = self._owner_of.pop(key, None)
        if old is not None:
            self._owned.get(old, set()).discard(key)
        ref = controller_ref(change.object)
        if change.type == DELETED or ref is None:
            return str(ref["uid"]) if ref is not None else old
        uid = str(ref["uid"])
        self._owner_of[key] = uid
        self._owned.setdefault(uid, set()).add(key)
        return uid

    def owners(self, change: Change, kind: str) -> Iterator[tuple[str, str]]:
        """Index the change, then the (namespace, name) of its controller of `kind`, before
        and after the change (an object can change owner): the keys to reconcile."""
        self.observe(change)
        for obj in (change.object, change.previous or {}):
            ref = controller_ref(obj)
            if ref is not None and ref.get("kind") == kind:
                yield str(meta(obj).get("namespace", "")), str(ref["name"])

    def owned(self, owner: Obj) -> list[Obj]:
        uid = str(meta(owner).get("uid"))
        found = []
        for namespace, name in sorted(self._owned.get(uid, ())):
            obj = self._store.find(self._resource, namespace, name)
            if obj is not None and controlled_by(obj, owner):
                found.append(obj)
        return found


def controller_ref(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The ownerReference with `controller: true`, if any."""
    refs = meta(obj).get("ownerReferences") or []
    return next((r for r in refs if r.get("controller")), None)


def owner_reference(owner: Obj, *, block: bool = True) -> dict[str, Any]:
    m = meta(owner)
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": m["name"],
            "uid": m["uid"], "controller": True, "blockOwnerDeletion": block}


def controlled_by(obj: Mapping[str, Any], owner: Obj) -> bool:
    ref = controller_ref(obj)
    return ref is not None and ref.get("uid") == meta(owner).get("uid")


def split_key(key: Hashable) -> tuple[str, str]:
    """A (namespace, name) work-queue key, checked."""
    assert isinstance(key, tuple)
    assert len(key) == 2
    return str(key[0]), str(key[1])


def object_key(change: Change) -> tuple[str, str]:
    m = meta(change.object)
    return str(m.get("namespace", "")), str(m["name"])


def is_active_pod(pod: Mapping[str, Any]) -> bool:
    """Counts towards a controller's replicas: not terminating, not finished."""
    return (not meta(pod).get("deletionTimestamp")
            and (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed"))


def set_condition(conditions: list[dict[str, Any]], type_: str, status: str, now: str,
                  reason: str = "", message: str = "", *,
                  probe_times: bool = False) -> None:
    """Set a status condition, keeping lastTransitionTime when the status is unchanged."""
    for condition in conditions:
        if condition.get("type") == type_:
            if condition.get("status") != status:
                condition["lastTransitionTime"] = now
            condition["status"] = status
            if probe_times:
                condition["lastProbeTime"] = None
            _set_reason(condition, reason, message)
            return
    condition = {"type": type_, "status": status, "lastTransitionTime": now}
    if probe_times:
        condition["lastProbeTime"] = None
    _set_reason(condition, reason, message)
    conditions.append(condition)


def _set_reason(condition: dict[str, Any], reason: str, message: str) -> None:
    for name, value in (("reason", reason), ("message", message)):
        if value:
            condition[name] = value
        else:
            condition.pop(name, None)
