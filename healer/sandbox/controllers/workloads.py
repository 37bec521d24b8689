"""Deployments and ReplicaSets: the controllers behind most remediations.

ReplicaSet: keep `spec.replicas` active pods from the template; replace a deleted or
evicted pod; report ready/available counts.

Deployment: one ReplicaSet per distinct pod template (named by the template's hash, its
pods labelled `pod-template-hash`), rolled from old to new within `maxSurge` /
`maxUnavailable`; revisions in the `deployment.kubernetes.io/revision` annotation so
`kubectl rollout undo` can go back (going back re-uses the old ReplicaSet and gives it the
next revision); status and conditions as `kubectl rollout status` reads them, including
ProgressDeadlineExceeded for a rollout that stalls.

Neighbours: `base` (runtime, helpers), `events` (the recorder), `admission` (defaults
every pod and set written here).
"""

from __future__ import annotations

import json
import math
from collections.abc import Hashable, Iterator
from datetime import timedelta
from typing import Any

from healer.sandbox.controllers.base import (
    OwnerIndex,
    is_active_pod,
    object_key,
    owner_reference,
    set_condition,
    split_key,
)
from healer.sandbox.disruption import pod_ready
from healer.sandbox.events import EventRecorder
from healer.sandbox.resources import ResourceRegistry
from healer.sandbox.selectors import label_selector_from_object
from healer.sandbox.store import Change, Obj, Store, clone, meta, parse_time, rfc3339

HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
_SAFE = "bcdfghjklmnpqrstvwxz2456789"


def template_hash(template: Any, collision_count: int = 0) -> str:
    """A short, stable, label-safe hash of a pod template (FNV-1a, like the real one)."""
    data = json.dumps(template, sort_keys=True, separators=(",", ":")).encode()
    value = 0x811C9DC5
    for byte in data + str(collision_count).encode():
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return "".join(_SAFE[ord(ch) % len(_SAFE)] for ch in str(value))


def pod_available(pod: Obj, min_ready_seconds: int, now_text: str) -> bool:
    if not pod_ready(pod):
        return False
    if min_ready_seconds <= 0:
        return True
    ready = next(c for c in (pod.get("status") or {}).get("conditions") or []
                 if c.get("type") == "Ready")
    since = ready.get("lastTransitionTime")
    return bool(since) and (parse_time(now_text) - parse_time(since)
                            >= timedelta(seconds=min_ready_seconds))


def _without_hash(template: Any) -> Any:
    template = clone(template or {})
    labels = (template.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(HASH_LABEL, None)
    return template


def _revision(obj: Obj) -> int:
    try:
        return int((meta(obj).get("annotations") or {}).get(REVISION, "0"))
    except ValueError:
        return 0


def _scaled(value: Any, total: int, *, round_up: bool) -> int:
    if isinstance(value, str) and value.endswith("%"):
        exact = total * int(value[:-1]) / 100
        return math.ceil(exact) if round_up else math.floor(exact)
    return int(value)


class ReplicaSetController:
    name = "replicaset-controller"

    def __init__(self, store: Store, registry: ResourceRegistry, recorder: EventRecorder) -> None:
        self.store = store
        self.sets = registry.core("replicasets")
        self.pods = registry.core("pods")
        self.recorder = recorder
        self.index = OwnerIndex(store, self.pods)

    def keys_for(self, change: Change) -> Iterator[Hashable]:
        if change.resource.storage_key == self.sets.storage_key:
            yield object_key(change)
        elif change.resource.storage_key == "pods":
            yield from self.index.owners(change, "ReplicaSet")

    def reconcile(self, key: Hashable) -> float | None:
        namespace, name = split_key(key)
        rs = self.store.find(self.sets, namespace, name)
        if rs is None or meta(rs).get("deletionTimestamp"):
            return None
        spec = rs.get("spec") or {}
        owned = self.index.owned(rs)
        active = [p for p in owned if is_active_pod(p)]
        wanted = int(spec.get("replicas", 1))
        if len(active) < wanted:
            for _ in range(wanted - len(active)):
                self._create_pod(rs)
        elif len(active) > wanted:
            for pod in sorted(active, key=_deletion_rank)[: len(active) - wanted]:
                self.store.delete(self.pods, namespace, meta(pod)["name"])
                self.recorder.record(rs, "Normal", "SuccessfulDelete",
                                     f"Deleted pod: {meta(pod)['name']}",
                                     component=self.name)
        return self._update_status(rs)

    def _create_pod(self, rs: Obj) -> None:
        template = rs["spec"].get("template") or {}
        template_meta = template.get("metadata") or {}
        pod = {"metadata": {"generateName": f"{meta(rs)['name']}-",
                            "namespace": meta(rs)["namespace"],
                            "labels": clone(template_meta.get("labels") or {}),
                            "annotations": clone(template_meta.get("annotations") or {}),
                            "ownerReferences": [owner_reference(rs)]},
               "spec": clone(template.get("spec") or {})}
        if not pod["metadata"]["annotations"]:
            del pod["metadata"]["annotations"]
        created = self.store.create(self.pods, pod)
        self.recorder.record(rs, "Normal", "SuccessfulCreate",
                             f"Created pod: {meta(created)['name']}", component=self.name)

    def _update_status(self, rs: Obj) -> float | None:
        now = rfc3339(self.store.clock())
        spec = rs.get("spec") or {}
        min_ready = int(spec.get("minReadySeconds", 0))
        owned = self.index.owned(rs)
        active = [p for p in owned if is_active_pod(p)]
        selector = label_selector_from_object(spec.get("selector"))
        template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        ready = sum(1 for p in active if pod_ready(p))
        available = sum(1 for p in active if pod_available(p, min_ready, now))
        new_status = {
            "replicas": len(active),
            "fullyLabeledReplicas": sum(
                1 for p in active
                if selector.matches(meta(p).get("labels") or {})
                and all((meta(p).get("labels") or {}).get(k) == v
                        for k, v in template_labels.items())),
            "readyReplicas": ready, "availableReplicas": available,
            "terminatingReplicas": sum(1 for p in owned if meta(p).get("deletionTimestamp")),
            "observedGeneration": meta(rs).get("generation", 1),
        }
        new_status = {k: v for k, v in new_status.items()
                      if v or k in ("replicas", "observedGeneration")}
        if (rs.get("status") or {}) != new_status:
            self.store.modify(self.sets, meta(rs)["namespace"], meta(rs)["name"],
                              lambda obj: obj.__setitem__("status", new_status),
                              subresource="status")
        if min_ready > 0 and ready > available:
            return 1.0  # pods become available with time alone
        return None


def _deletion_rank(pod: Obj) -> tuple[int, int, str]:
    """Which pods a scale-down removes first: unscheduled, pending, not ready, newest."""
    pod_status = pod.get("status") or {}
    if not (pod.get("spec") or {}).get("nodeName"):
        rank = 0
    elif pod_status.get("phase") == "Pending":
        rank = 1
    elif not pod_ready(pod):
        rank = 2
    else:
        rank = 3
    restarts = sum(int(c.get("restartCount", 0))
                   for c in pod_status.get("containerStatuses") or [])
    created = str(meta(pod).get("creationTimestamp", ""))
    return rank, -restarts, "".join(chr(255 - ord(ch)) for ch in created)


class DeploymentController:
    name = "deployment-controller"

    def __init__(self, store: Store, registry: ResourceRegistry, recorder: EventRecorder) -> None:
        self.store = store
        self.deployments = registry.core("deployments")
        self.sets = registry.core("replicasets")
        self.recorder = recorder
        self.index = OwnerIndex(store, self.sets)

    def keys_for(self, change: Change) -> Iterator[Hashable]:
        if change.resource.storage_key == self.deployments.storage_key:
            yield object_key(change)
        elif change.resource.storage_key == self.sets.storage_key:
            yield from self.index.owners(change, "Deployment")

    def reconcile(self, key: Hashable) -> float | None:
        namespace, name = split_key(key)
        deployment = self.store.find(self.deployments, namespace, name)
        if deployment is None or meta(deployment).get("deletionTimestamp"):
            return None
        spec = deployment["spec"]
        sets = self.index.owned(deployment)
        template = spec.get("template") or {}
        new_rs = next((rs for rs in sets
                       if _without_hash(rs["spec"].get("template")) == _without_hash(template)),
                      None)
        old_sets = [rs for rs in sets if rs is not new_rs]
        if spec.get("paused"):
            return self._sync_status(deployment, new_rs, old_sets)
        max_revision = max((_revision(rs) for rs in sets), default=0)
        if new_rs is None:
            new_rs = self._create_set(deployment, max_revision + 1, sets)
        elif _revision(new_rs) < max_revision or not _revision(new_rs):
            new_rs = self._annotate_set(new_rs, max_revision + 1)
        revision = str(_revision(new_rs))
        if (meta(deployment).get("annotations") or {}).get(REVISION) != revision:
            self.store.modify(self.deployments, namespace, name,
                              lambda d: d["metadata"].setdefault("annotations", {}).__setitem__(
                                  REVISION, revision))
        if (spec.get("strategy") or {}).get("type") == "Recreate":
            self._recreate(deployment, new_rs, old_sets)
        else:
            self._roll(deployment, new_rs, old_sets)
        self._clean_history(deployment, old_sets)
        return self._sync_status(deployment, new_rs, old_sets)

    # rollout steps --------------------------------------------------------------------

    def _create_set(self, deployment: Obj, revision: int, existing: list[Obj]) -> Obj:
        spec = deployment["spec"]
        collisions = int((deployment.get("status") or {}).get("collisionCount", 0))
        template = clone(spec.get("template") or {})
        digest = template_hash(template, collisions)
        template.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = digest
        selector = clone(spec.get("selector") or {})
        selector.setdefault("matchLabels", {})[HASH_LABEL] = digest
        desired = int(spec.get("replicas", 1))
        surge = _scaled(((spec.get("strategy") or {}).get("rollingUpdate") or {})
                        .get("maxSurge", 0), desired, round_up=True)
        rs = {"metadata": {"name": f"{meta(deployment)['name']}-{digest}",
                           "namespace": meta(deployment)["namespace"],
                           "labels": clone(template["metadata"]["labels"]),
                           "annotations": {REVISION: str(revision),
                                           "deployment.kubernetes.io/desired-replicas":
                                               str(desired),
                                           "deployment.kubernetes.io/max-replicas":
                                               str(desired + surge)},
                           "ownerReferences": [owner_reference(deployment)]},
              "spec": {"replicas": 0 if existing else desired, "selector": selector,
                       "template": template,
                       "minReadySeconds": int(spec.get("minReadySeconds", 0))}}
        created = self.store.create(self.sets, rs)
        if created["spec"]["replicas"] > 0:  # a rollout's set starts empty: _roll scales it
            self.recorder.record(deployment, "Normal", "ScalingReplicaSet",
                                 f"Scaled up replica set {meta(created)['name']} from 0 to "
                                 f"{created['spec']['replicas']}", component=self.name)
        return created

    def _annotate_set(self, rs: Obj, revision: int) -> Obj:
        updated = self.store.modify(
            self.sets, meta(rs)["namespace"], meta(rs)["name"],
            lambda obj: obj["metadata"].setdefault("annotations", {}).__setitem__(
                REVISION, str(revision)))
        return updated or rs

    def _scale(self, deployment: Obj, rs: Obj, replicas: int) -> None:
        before = int(rs["spec"].get("replicas", 0))
        if before == replicas:
            return
        self.store.modify(self.sets, meta(rs)["namespace"], meta(rs)["name"],
                          lambda obj: obj["spec"].__setitem__("replicas", replicas))
        direction = "up" if replicas > before else "down"
        self.recorder.record(deployment, "Normal", "ScalingReplicaSet",
                             f"Scaled {direction} replica set {meta(rs)['name']} from {before} "
                             f"to {replicas}", component=self.name)

    def _roll(self, deployment: Obj, new_rs: Obj, old_sets: list[Obj]) -> None:
        spec = deployment["spec"]
        desired = int(spec.get("replicas", 1))
        rolling = (spec.get("strategy") or {}).get("rollingUpdate") or {}
        surge = _scaled(rolling.get("maxSurge", "25%"), desired, round_up=True)
        unavailable = _scaled(rolling.get("maxUnavailable", "25%"), desired, round_up=False)
        if surge == 0 and unavailable == 0:
            unavailable = 1
        active_old = [rs for rs in old_sets if int(rs["spec"].get("replicas", 0)) > 0]
        new_replicas = int(new_rs["spec"].get("replicas", 0))
        if not active_old:
            self._scale(deployment, new_rs, desired)
            return
        total = new_replicas + sum(int(rs["spec"]["replicas"]) for rs in active_old)
        if new_replicas < desired:
            grow = min(desired + surge - total, desired - new_replicas)
            if grow > 0:
                new_replicas += grow
                total += grow
                self._scale(deployment, new_rs, new_replicas)
        elif new_replicas > desired:
            self._scale(deployment, new_rs, desired)
            total -= new_replicas - desired
            new_replicas = desired
        # scale old sets down as far as availability allows
        new_unavailable = new_replicas - int((new_rs.get("status") or {}).get(
            "availableReplicas", 0))
        budget = total - (desired - unavailable) - max(new_unavailable, 0)
        for rs in sorted(active_old, key=_revision):
            replicas = int(rs["spec"]["replicas"])
            old_unavailable = replicas - int((rs.get("status") or {}).get("availableReplicas", 0))
            # unhealthy old pods cost no availability: always remove them
            cut = min(replicas, max(old_unavailable, 0) + max(budget, 0))
            if cut <= 0:
                continue
            budget -= max(cut - max(old_unavailable, 0), 0)
            self._scale(deployment, rs, replicas - cut)

    def _recreate(self, deployment: Obj, new_rs: Obj, old_sets: list[Obj]) -> None:
        running = [rs for rs in old_sets if int((rs.get("status") or {}).get("replicas", 0))
                   or int(rs["spec"].get("replicas", 0))]
        for rs in running:
            self._scale(deployment, rs, 0)
        if not running:
            self._scale(deployment, new_rs, int(deployment["spec"].get("replicas", 1)))

    def _clean_history(self, deployment: Obj, old_sets: list[Obj]) -> None:
        limit = int(deployment["spec"].get("revisionHistoryLimit", 10))
        idle = sorted((rs for rs in old_sets if not int(rs["spec"].get("replicas", 0))
                       and not int((rs.get("status") or {}).get("replicas", 0))), key=_revision)
        for rs in idle[: max(len(idle) - limit, 0)]:
            self.store.delete(self.sets, meta(rs)["namespace"], meta(rs)["name"])

    # status ---------------------------------------------------------------------------

    def _sync_status(self, deployment: Obj, new_rs: Obj | None,
                     old_sets: list[Obj]) -> float | None:
        spec, previous = deployment["spec"], deployment.get("status") or {}
        desired = int(spec.get("replicas", 1))
        all_sets = ([new_rs] if new_rs is not None else []) + old_sets

        def total(field: str) -> int:
            return sum(int((rs.get("status") or {}).get(field, 0)) for rs in all_sets)

        updated = int((new_rs.get("status") or {}).get("replicas", 0)) if new_rs else 0
        available = total("availableReplicas")
        counts = {"replicas": total("replicas"), "updatedReplicas": updated,
                  "readyReplicas": total("readyReplicas"), "availableReplicas": available,
                  "unavailableReplicas": max(desired - available, 0)}
        rolling = (spec.get("strategy") or {}).get("rollingUpdate") or {}
        max_unavailable = _scaled(rolling.get("maxUnavailable", 0), desired, round_up=False)
        now_moment = self.store.clock()
        now = rfc3339(now_moment)
        conditions = clone(previous.get("conditions") or [])
        if available >= desired - max_unavailable:
            set_condition(conditions, "Available", "True", now, "MinimumReplicasAvailable",
                          "Deployment has minimum availability.")
        else:
            set_condition(conditions, "Available", "False", now, "MinimumReplicasUnavailable",
                          "Deployment does not have minimum availability.")
        rs_name = meta(new_rs)["name"] if new_rs else ""
        complete = (updated == desired and counts["replicas"] == desired
                    and available == desired)
        progressing = next((c for c in conditions if c.get("type") == "Progressing"), None)
        changed = any(previous.get(k, 0) != v for k, v in counts.items()) or \
            previous.get("observedGeneration") != meta(deployment).get("generation")
        recheck: float | None = None
        deadline = spec.get("progressDeadlineSeconds")
        if spec.get("paused"):
            set_condition(conditions, "Progressing", "Unknown", now, "DeploymentPaused",
                          "Deployment is paused")
        elif complete:
            set_condition(conditions, "Progressing", "True", now, "NewReplicaSetAvailable",
                          f'ReplicaSet "{rs_name}" has successfully progressed.')
            _touch(conditions, "Progressing", now, changed)
        elif changed or progressing is None or progressing.get("reason") in (
                "NewReplicaSetAvailable", "DeploymentPaused"):
            set_condition(conditions, "Progressing", "True", now, "ReplicaSetUpdated",
                          f'ReplicaSet "{rs_name}" is progressing.')
            _touch(conditions, "Progressing", now, True)
            if deadline is not None:
                recheck = float(deadline) + 0.5
        elif deadline is not None and progressing.get("reason") != "ProgressDeadlineExceeded":
            since = parse_time(progressing.get("lastUpdateTime") or now)
            if now_moment - since > timedelta(seconds=int(deadline)):
                set_condition(conditions, "Progressing", "False", now,
                              "ProgressDeadlineExceeded",
                              f'ReplicaSet "{rs_name}" has timed out progressing.')
                _touch(conditions, "Progressing", now, True)
            else:
                recheck = (since + timedelta(seconds=int(deadline)) - now_moment
                           ).total_seconds() + 0.5
        new_status = {"observedGeneration": meta(deployment).get("generation", 1), **counts,
                      "conditions": sorted(conditions, key=lambda c: c["type"])}
        if "collisionCount" in previous:
            new_status["collisionCount"] = previous["collisionCount"]
        new_status = {k: v for k, v in new_status.items()
                      if v or k in ("observedGeneration", "replicas", "conditions")}
        if previous != new_status:
            self.store.modify(self.deployments, meta(deployment)["namespace"],
                              meta(deployment)["name"],
                              lambda obj: obj.__setitem__("status", new_status),
                              subresource="status")
        return recheck


def _touch(conditions: list[dict[str, Any]], type_: str, now: str, changed: bool) -> None:
    for condition in conditions:
        if condition.get("type") == type_:
            if changed or "lastUpdateTime" not in condition:
                condition["lastUpdateTime"] = now
            condition.setdefault("lastTransitionTime", now)
