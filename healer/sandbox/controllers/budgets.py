"""PodDisruptionBudgets: keep each budget's status current, as the disruption controller does.

A budget's status (healthy pods, expected pods, how many disruptions are allowed) is a
function of the pods its selector matches and of their controllers' replica counts;
`disruption.budget_status` computes it, and the eviction subresource spends it. This
controller rewrites it whenever a pod of the namespace that the selector matches (before
or after the change) changes, when a workload in the namespace is scaled, and when an
entry of `status.disruptedPods` (an eviction that has not yet deleted its pod) expires
after two minutes.

Neighbours: `disruption` (the computation, evictions), `base` (runtime),
`events`.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from datetime import datetime
from typing import Any, cast

from healer.sandbox.controllers.base import object_key
from healer.sandbox.disruption import DISRUPTED_POD_TIMEOUT, budget_status
from healer.sandbox.events import EventRecorder
from healer.sandbox.resources import ResourceRegistry
from healer.sandbox.selectors import LabelSelector, SelectorError, label_selector_from_object
from healer.sandbox.store import DELETED, Change, Obj, Store, meta, parse_time

# the workloads whose replica counts make a budget's expectedPods
_SCALED_KINDS = ("deployments.apps", "replicasets.apps", "statefulsets.apps")


class PodDisruptionBudgetController:
    name = "disruption-controller"

    def __init__(self, store: Store, registry: ResourceRegistry, recorder: EventRecorder) -> None:
        self.store = store
        self.registry = registry
        self.budgets = registry.core("poddisruptionbudgets")
        self.pods = registry.core("pods")
        self.recorder = recorder
        self._selectors: dict[str, dict[str, LabelSelector]] = {}  # namespace → name → selector

    def keys_for(self, change: Change) -> Iterator[Hashable]:
        kind = change.resource.storage_key
        namespace = str(meta(change.object).get("namespace", ""))
        if kind == self.budgets.storage_key:
            key = object_key(change)
            in_namespace = self._selectors.setdefault(namespace, {})
            if change.type == DELETED:
                in_namespace.pop(key[1], None)
            else:
                in_namespace[key[1]] = _selector(change.object)
            yield key
        elif kind == self.pods.storage_key:
            budgets = self._selectors.get(namespace)
            if not budgets:
                return
            labels = [meta(o).get("labels") or {} for o in (change.object, change.previous)
                      if o is not None]
            for name, selector in sorted(budgets.items()):
                if any(selector.matches(found) for found in labels):
                    yield namespace, name
        elif kind in _SCALED_KINDS and self._selectors.get(namespace):
            before = ((change.previous or {}).get("spec") or {}).get("replicas")
            if change.type != "MODIFIED" or before != (change.object.get("spec") or {}).get(
                    "replicas"):
                yield from ((namespace, name) for name in sorted(self._selectors[namespace]))

    def reconcile(self, key: Hashable) -> float | None:
        namespace, name = cast(tuple[str, str], key)
        pdb = self.store.find(self.budgets, namespace, name)
        if pdb is None:
            return None
        computed = budget_status(self.store, self.registry, pdb)
        if computed != (pdb.get("status") or {}):
            seen = meta(pdb).get("resourceVersion")

            def refresh(obj: Obj) -> None:
                # computed again if an eviction spent the budget meanwhile
                fresh = meta(obj).get("resourceVersion") == seen
                obj["status"] = computed if fresh else budget_status(
                    self.store, self.registry, obj)

            updated = self.store.modify(self.budgets, namespace, name, refresh,
                                        subresource="status")
            if updated is not None and not (updated.get("status") or {}).get(
                    "expectedPods") and not self._has_pods(updated):
                self.recorder.record(updated, "Normal", "NoPods", "No matching pods found",
                                     component="controllermanager")
            pdb = updated or pdb
        return _until_expiry(pdb, self.store.clock())

    def _has_pods(self, pdb: Obj) -> bool:
        selector = _selector(pdb)
        return any(selector.matches(meta(p).get("labels") or {})
                   for p in self.store.objects(self.pods, meta(pdb).get("namespace")))


def _until_expiry(pdb: Obj, now: datetime) -> float | None:
    """Seconds until the oldest `disruptedPods` entry expires, if there is one."""
    stamps = ((pdb.get("status") or {}).get("disruptedPods") or {}).values()
    if not stamps:
        return None
    expires = min(parse_time(str(s)) for s in stamps) + DISRUPTED_POD_TIMEOUT
    return max((expires - now).total_seconds(), 0.0) + 0.1


def _selector(pdb: Obj) -> LabelSelector:
    spec: Any = pdb.get("spec") or {}
    try:
        return label_selector_from_object(spec.get("selector"))
    except SelectorError:
        return LabelSelector.nothing()
