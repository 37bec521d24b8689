"""PodDisruptionBudgets: their status, and the eviction subresource that honours them.

An eviction (`POST .../pods/NAME/eviction`, what `kubectl drain` sends) is refused with
429 TooManyRequests when it would take the pods a PodDisruptionBudget covers below what it
requires, exactly as a real API server refuses it; an allowed eviction is recorded in the
budget's `status.disruptedPods` before the pod is deleted, so two concurrent evictions
cannot both spend the last allowed disruption.

Neighbours: `api` serves evictions through `evict`; the PDB controller keeps
`status` fresh with `budget_status`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from healer.sandbox import status
from healer.sandbox.resources import ResourceRegistry
from healer.sandbox.selectors import label_selector_from_object
from healer.sandbox.store import Obj, Store, clone, meta, parse_time, rfc3339

DISRUPTED_POD_TIMEOUT = timedelta(minutes=2)


def pod_ready(pod: Mapping[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _scaled(value: Any, total: int) -> int:
    """An int-or-percent field against `total`, rounding up like the API server."""
    if isinstance(value, str) and value.endswith("%"):
        return math.ceil(total * int(value[:-1]) / 100)
    return int(value)


def budgets_for(store: Store, registry: ResourceRegistry, pod: Obj) -> list[Obj]:
    """The PodDisruptionBudgets whose selector matches `pod`."""
    labels = meta(pod).get("labels") or {}
    pdbs = store.objects(registry.core("poddisruptionbudgets"), meta(pod).get("namespace"))
    return [b for b in pdbs
            if label_selector_from_object((b.get("spec") or {}).get("selector")).matches(labels)]


def _expected_pods(store: Store, registry: ResourceRegistry, pods: list[Obj]) -> int:
    """Sum of the desired replicas of the controllers owning `pods` (pod count if none)."""
    controllers: dict[str, int] = {}
    for pod in pods:
        owner = _controller(pod)
        if owner is None:
            return len(pods)
        found = _scale_owner(store, registry, meta(pod).get("namespace", ""), owner)
        if found is None:
            return len(pods)
        uid, replicas = found
        controllers[uid] = replicas
    return sum(controllers.values())


def _controller(obj: Obj) -> Mapping[str, Any] | None:
    return next((r for r in meta(obj).get("ownerReferences") or [] if r.get("controller")), None)


def _scale_owner(store: Store, registry: ResourceRegistry, namespace: str,
                 owner: Mapping[str, Any]) -> tuple[str, int] | None:
    plural = {"ReplicaSet": "replicasets", "StatefulSet": "statefulsets",
              "Deployment": "deployments"}.get(str(owner.get("kind")))
    if plural is None:
        return None
    found = store.find(registry.core(plural), namespace, str(owner.get("name")))
    if found is None:
        return None
    if plural == "replicasets":
        parent = _controller(found)
        if parent is not None and parent.get("kind") == "Deployment":
            return _scale_owner(store, registry, namespace, parent)
    return str(meta(found).get("uid")), int((found.get("spec") or {}).get("replicas", 0))


def budget_status(store: Store, registry: ResourceRegistry, pdb: Obj) -> dict[str, Any]:
    """The status a PDB should have now: healthy pods, how many may be disrupted."""
    spec = pdb.get("spec") or {}
    namespace = meta(pdb).get("namespace", "")
    selector = label_selector_from_object(spec.get("selector"))
    pods = [p for p in store.objects(registry.core("pods"), namespace)
            if selector.matches(meta(p).get("labels") or {})
            and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]
    now = store.clock()
    disrupted = {name: at for name, at in
                 ((pdb.get("status") or {}).get("disruptedPods") or {}).items()
                 if now - parse_time(at) < DISRUPTED_POD_TIMEOUT
                 and any(meta(p)["name"] == name and not meta(p).get("deletionTimestamp")
                         for p in pods)}
    healthy = sum(1 for p in pods if pod_ready(p) and not meta(p).get("deletionTimestamp")
                  and meta(p)["name"] not in disrupted)
    if "maxUnavailable" in spec:
        expected = _expected_pods(store, registry, pods)
        desired = max(expected - _scaled(spec["maxUnavailable"], expected), 0)
    else:
        minimum = spec.get("minAvailable", 1)
        expected = (_expected_pods(store, registry, pods)
                    if isinstance(minimum, str) else len(pods))
        desired = _scaled(minimum, expected)
    allowed = max(healthy - desired, 0)
    previous = {c.get("type"): c for c in (pdb.get("status") or {}).get("conditions") or []}
    condition_status = "True" if allowed > 0 else "False"
    old = previous.get("DisruptionAllowed")
    transition = (old.get("lastTransitionTime") if old and old.get("status") == condition_status
                  else rfc3339(now))
    result: dict[str, Any] = {
        "observedGeneration": meta(pdb).get("generation", 1),
        "currentHealthy": healthy, "desiredHealthy": desired, "expectedPods": expected,
        "disruptionsAllowed": allowed,
        "conditions": [{"type": "DisruptionAllowed", "status": condition_status,
                        "reason": "SufficientPods" if allowed > 0 else "InsufficientPods",
                        "message": "", "lastTransitionTime": transition,
                        "observedGeneration": meta(pdb).get("generation", 1)}],
    }
    if disrupted:
        result["disruptedPods"] = disrupted
    return result


def evict(store: Store, registry: ResourceRegistry, namespace: str, name: str,
          options: Mapping[str, Any], *, dry_run: bool = False) -> None:
    """Evict a pod unless a PodDisruptionBudget forbids it (429), then delete it."""
    pods = registry.core("pods")
    pod = store.get(pods, namespace, name)
    preconditions = options.get("preconditions")
    grace = options.get("gracePeriodSeconds")
    phase = (pod.get("status") or {}).get("phase")
    if not (meta(pod).get("deletionTimestamp") or phase in ("Succeeded", "Failed", "Pending")):
        budgets = budgets_for(store, registry, pod)
        if len(budgets) > 1:
            raise status.internal("This pod has more than one PodDisruptionBudget, which the "
                                  "eviction subresource does not support.")
        for _ in range(5):  # a concurrent eviction spent the budget first: decide again
            try:
                if budgets:
                    _spend_disruption(store, registry, budgets[0], pod, dry_run=dry_run)
                break
            except status.ApiError as error:
                if error.code != 409:
                    raise
                budgets = budgets_for(store, registry, pod)
        else:
            raise status.ApiError(429, "TooManyRequests",
                                  "There is a concurrent conflicting write to the "
                                  "disruption budget; try again", retry_after=1)
    store.delete(pods, namespace, name, grace_period=None if grace is None else int(grace),
                 preconditions=preconditions, dry_run=dry_run)


def _spend_disruption(store: Store, registry: ResourceRegistry, pdb: Obj, pod: Obj, *,
                      dry_run: bool) -> None:
    pdb_name = meta(pdb)["name"]
    current = budget_status(store, registry, pdb)
    if current["disruptionsAllowed"] <= 0:
        policy = (pdb.get("spec") or {}).get("unhealthyPodEvictionPolicy", "IfHealthyBudget")
        unhealthy = not pod_ready(pod)
        if unhealthy and (policy == "AlwaysAllow"
                          or current["currentHealthy"] >= current["desiredHealthy"]):
            return
        raise status.ApiError(
            429, "TooManyRequests",
            "Cannot evict pod as it would violate the pod's disruption budget.",
            details={"causes": [{"reason": "DisruptionBudget",
                                 "message": f"The disruption budget {pdb_name} needs "
                                            f"{current['desiredHealthy']} healthy pods and has "
                                            f"{current['currentHealthy']} currently"}]})
    if dry_run:
        return
    updated = clone(pdb)
    current["disruptionsAllowed"] -= 1
    disrupted = dict(current.get("disruptedPods") or {})
    disrupted[meta(pod)["name"]] = rfc3339(store.clock())
    current["disruptedPods"] = disrupted
    updated["status"] = current
    # pinned to the resourceVersion read: a concurrent eviction gets 409 and must retry
    store.update(registry.core("poddisruptionbudgets"), updated, subresource="status")
