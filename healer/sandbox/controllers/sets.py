"""StatefulSets and DaemonSets: pods with an identity, and pods with a node.

StatefulSet: pods named `<set>-<ordinal>` (hostname = pod name, subdomain = serviceName,
labelled with their name, index and revision), created in ordinal order, each only once
its predecessors are Running and Ready (`OrderedReady`), or all at once (`Parallel`);
removed highest ordinal first. A deleted pod comes back under the same name. A template
change (e.g. `kubectl rollout restart`) is rolled out by deleting the highest-ordinal
pod not at the update revision, one at a time (`maxUnavailable`, default 1), above
`partition`; `OnDelete` leaves it to whoever deletes pods. Status is what `kubectl rollout
status statefulset` reads: ready/current/updated counts and current/update revisions,
the update revision becoming current once every pod runs it and is ready.

Revisions are named `<set>-<template hash>`. The sandbox serves no ControllerRevisions,
so the templates of the revisions still in use live in the controller's memory (the
store is in memory too); a pod below the partition is re-created from its revision's
template when the controller has seen it, from the current template otherwise.

DaemonSet: one pod per eligible node (nodeName, nodeSelector, required node affinity,
taints it does not tolerate), bound directly with `spec.nodeName` and a matching node
affinity, with the tolerations the real controller adds (not-ready, unreachable,
pressure, unschedulable). A node that stops fitting keeps its pod unless a NoExecute
taint forbids it. Failed pods are deleted and replaced with a per-node back-off. A
template change rolls node by node within `maxUnavailable` (or surges within
`maxSurge`). Pods left on nodes that no longer exist are force-deleted, standing in for
the pod garbage collector.

Neighbours: `base` (runtime, helpers), `workloads` (`template_hash`, `pod_available`),
`nodes` (`tolerates`), `events`, `admission` (defaults every pod written
here); `jobs` uses `pod_from_template`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Hashable, Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any, cast

from healer.sandbox.controllers.base import (
    OwnerIndex,
    object_key,
    owner_reference,
)
from healer.sandbox.controllers.nodes import tolerates
from healer.sandbox.controllers.workloads import pod_available, template_hash
from healer.sandbox.disruption import pod_ready
from healer.sandbox.events import EventRecorder
from healer.sandbox.resources import ResourceRegistry
from healer.sandbox.status import ApiError
from healer.sandbox.store import DELETED, Change, Obj, Store, clone, meta, rfc3339

REVISION_LABEL = "controller-revision-hash"
POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"
TEMPLATE_GENERATION_LABEL = "pod-template-generation"
TEMPLATE_GENERATION_ANNOTATION = "deprecated.daemonset.template.generation"

# What the real DaemonSet controller adds to every daemon pod (AddOrUpdateDaemonPodTolerations).
DAEMON_TOLERATIONS: tuple[Mapping[str, str], ...] = (
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/memory-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"},
)
_HOST_NETWORK_TOLERATION = {"key": "node.kubernetes.io/network-unavailable",
                            "operator": "Exists", "effect": "NoSchedule"}
_FAILED_POD_BACKOFF = (1.0, 900.0)  # seconds: first delay, cap (the real controller's)
_ORDINAL = re.compile(r"^(.*)-([0-9]+)$")
_TERMINAL = ("Succeeded", "Failed")


def pod_from_template(template: Mapping[str, Any], owner: Obj) -> Obj:
    """A new pod for `owner` from its pod template (GetPodFromTemplate), not yet named."""
    template_meta = template.get("metadata") or {}
    pod_meta: dict[str, Any] = {"namespace": meta(owner)["namespace"],
                                "labels": clone(template_meta.get("labels") or {}),
                                "ownerReferences": [owner_reference(owner)]}
    for name in ("annotations", "finalizers"):
        if template_meta.get(name):
            pod_meta[name] = clone(template_meta[name])
    return {"metadata": pod_meta, "spec": clone(template.get("spec") or {})}


def _scaled_up(value: Any, total: int) -> int:
    """An int-or-percent against `total`, rounding up (GetScaledValueFromIntOrPercent)."""
    if isinstance(value, str) and value.endswith("%"):
        return math.ceil(total * int(value[:-1]) / 100)
    return int(value)


def _terminating(pod: Mapping[str, Any]) -> bool:
    return bool(meta(pod).get("deletionTimestamp"))


def _phase(pod: Mapping[str, Any]) -> str:
    return str((pod.get("status") or {}).get("phase", ""))


def _running_and_ready(pod: Obj) -> bool:
    return _phase(pod) == "Running" and pod_ready(pod)


def _created_order(pod: Obj) -> tuple[str, str]:
    """Oldest first (podByCreationTimestampAndPhase, for pods that are all scheduled)."""
    return str(meta(pod).get("creationTimestamp", "")), str(meta(pod).get("name", ""))


def _becoming_available(pods: list[Obj], min_ready: int, now: str) -> float | None:
    """A recheck delay when some ready pods only need time to count as available."""
    if min_ready > 0 and any(pod_ready(p) and not pod_available(p, min_ready, now)
                             for p in pods):
        return 1.0
    return None


# StatefulSet ---------------------------------------------------------------------------


class StatefulSetController:
    name = "statefulset-controller"

    def __init__(self, store: Store, registry: ResourceRegistry, recorder: EventRecorder) -> None:
        self.store = store
        self.sets = registry.core("statefulsets")
        self.pods = registry.core("pods")
        self.recorder = recorder
        self.index = OwnerIndex(store, self.pods)
        # set uid → revision name → pod template: the ControllerRevisions still in use
        self._revisions: dict[str, dict[str, Any]] = {}

    def keys_for(self, change: Change) -> Iterator[Hashable]:
        if change.resource.storage_key == self.sets.storage_key:
            if change.type == DELETED:
                self._revisions.pop(str(meta(change.object).get("uid")), None)
            yield object_key(change)
        elif change.resource.storage_key == self.pods.storage_key:
            yield from self.index.owners(change, "StatefulSet")

    def reconcile(self, key: Hashable) -> float | None:
        namespace, name = cast(tuple[str, str], key)
        sts = self.store.find(self.sets, namespace, name)
        if sts is None:
            return None
        spec, status = sts.get("spec") or {}, sts.get("status") or {}
        collisions = int(status.get("collisionCount", 0))
        template = spec.get("template") or {}
        update_revision = f"{name}-{template_hash(template, collisions)}"
        revisions = self._revisions.setdefault(str(meta(sts)["uid"]), {})
        revisions[update_revision] = template
        current_revision = str(status.get("currentRevision") or "")
        if current_revision not in revisions:
            current_revision = update_revision
        members = self._members(sts)
        if not meta(sts).get("deletionTimestamp") and self._sync_pods(
                sts, members, current_revision, update_revision, revisions):
            members = self._members(sts)
        pods = [pod for _, pod in members]
        live = {current_revision, update_revision,
                *((meta(p).get("labels") or {}).get(REVISION_LABEL) for p in pods)}
        for stale in [r for r in revisions if r not in live]:
            del revisions[stale]
        return self._update_status(sts, pods, current_revision, update_revision, collisions)

    def _members(self, sts: Obj) -> list[tuple[int, Obj]]:
        """The set's pods with their ordinals, parsed from `<set>-<ordinal>` names."""
        found = []
        for pod in self.index.owned(sts):
            match = _ORDINAL.match(str(meta(pod).get("name", "")))
            if match and match.group(1) == meta(sts)["name"]:
                found.append((int(match.group(2)), pod))
        return sorted(found, key=lambda item: item[0])

    # the update step (updateStatefulSet) ---------------------------------------------

    def _sync_pods(self, sts: Obj, members: list[tuple[int, Obj]], current_revision: str,
                   update_revision: str, revisions: dict[str, Any]) -> bool:
        """One step of updateStatefulSet; returns whether it created or deleted pods."""
        spec = sts["spec"]
        now = rfc3339(self.store.clock())
        min_ready = int(spec.get("minReadySeconds", 0))
        start = int((spec.get("ordinals") or {}).get("start", 0))
        end = start + int(spec.get("replicas", 1))
        strategy = spec.get("updateStrategy") or {}
        rolling = strategy.get("type", "RollingUpdate") == "RollingUpdate"
        rolling_update = strategy.get("rollingUpdate") or {}
        partition = int(rolling_update.get("partition", 0)) if rolling else 0
        monotonic = spec.get("podManagementPolicy", "OrderedReady") != "Parallel"

        def available(pod: Obj) -> bool:
            return (not _terminating(pod) and _running_and_ready(pod)
                    and pod_available(pod, min_ready, now))

        replicas: dict[int, Obj] = {}
        condemned: list[tuple[int, Obj]] = []
        healthy: dict[int, bool] = {}  # ordinal → available (a missing replica is not)
        for ordinal, member in members:
            healthy[ordinal] = available(member)
            if start <= ordinal < end:
                replicas[ordinal] = member
            else:
                condemned.append((ordinal, member))
        condemned.sort(key=lambda item: item[0], reverse=True)
        # the first unavailable pod, by ordinal: a missing replica counts, by name
        first_unhealthy = next(
            (f"{meta(sts)['name']}-{o}" for o in range(start, end) if not healthy.get(o)),
            next((meta(p)["name"] for o, p in reversed(condemned) if not healthy[o]), None))

        acted = False
        for ordinal in range(start, end):
            pod = replicas.get(ordinal)
            if pod is not None and _phase(pod) in _TERMINAL:
                if not _terminating(pod):
                    self._delete_pod(sts, pod)
                    acted = True
                if monotonic:
                    return acted
                continue
            if pod is None:
                revision = (current_revision if rolling and ordinal - start < partition
                            else update_revision)
                self._create_pod(sts, ordinal, revision,
                                 revisions.get(revision, revisions[update_revision]))
                acted = True
                if monotonic:
                    return acted
                continue
            if monotonic and not healthy[ordinal]:
                return acted  # wait: terminating, not Running and Ready, or not available

        for ordinal, doomed in condemned:  # highest ordinal first
            if _terminating(doomed):
                if monotonic:
                    return acted
                continue
            if monotonic and not healthy[ordinal] and meta(doomed)["name"] != first_unhealthy:
                return acted
            self._delete_pod(sts, doomed)
            acted = True
            if monotonic:
                return acted

        if not rolling:
            return acted  # OnDelete: pods are updated when someone deletes them
        budget = max(_scaled_up(rolling_update.get("maxUnavailable", 1), end - start), 1)
        budget -= sum(1 for o in range(start, end) if o not in replicas or not healthy[o])
        return self._roll(sts, [replicas[o] for o in range(end - 1, start + partition - 1, -1)
                                if o in replicas], update_revision, budget) or acted

    def _roll(self, sts: Obj, candidates: list[Obj], update_revision: str,
              budget: int) -> bool:
        """Delete up to `budget` pods not at the update revision, in the order given."""
        acted = False
        for pod in candidates:
            if budget <= 0:
                break
            if _terminating(pod) or (meta(pod).get("labels") or {}).get(
                    REVISION_LABEL) == update_revision:
                continue
            self._delete_pod(sts, pod)
            acted = True
            budget -= 1
        return acted

    def _create_pod(self, sts: Obj, ordinal: int, revision: str, template: Any) -> None:
        set_name = meta(sts)["name"]
        pod = pod_from_template(template, sts)
        name = pod["metadata"]["name"] = f"{set_name}-{ordinal}"
        labels = pod["metadata"]["labels"]
        labels[POD_NAME_LABEL] = name
        labels[POD_INDEX_LABEL] = str(ordinal)
        labels[REVISION_LABEL] = revision
        spec = pod["spec"]
        spec["hostname"] = name
        if sts["spec"].get("serviceName"):
            spec["subdomain"] = sts["spec"]["serviceName"]
        claims = [c for c in sts["spec"].get("volumeClaimTemplates") or []
                  if (c.get("metadata") or {}).get("name")]
        if claims:
            names = {c["metadata"]["name"] for c in claims}
            spec["volumes"] = [
                *({"name": c["metadata"]["name"],
                   "persistentVolumeClaim": {
                       "claimName": f"{c['metadata']['name']}-{set_name}-{ordinal}"}}
                  for c in claims),
                *(v for v in spec.get("volumes") or [] if v.get("name") not in names)]
        try:
            self.store.create(self.pods, pod)
        except ApiError as error:
            if error.code != 409:
                raise
            return  # the previous pod of that name is still being removed
        self.recorder.record(sts, "Normal", "SuccessfulCreate",
                             f"create Pod {name} in StatefulSet {set_name} successful",
                             component=self.name)

    def _delete_pod(self, sts: Obj, pod: Obj) -> None:
        try:
            self.store.delete(self.pods, meta(pod)["namespace"], meta(pod)["name"],
                              preconditions={"uid": meta(pod).get("uid")})
        except ApiError as error:
            if error.code not in (404, 409):
                raise
            return
        self.recorder.record(sts, "Normal", "SuccessfulDelete",
                             f"delete Pod {meta(pod)['name']} in StatefulSet "
                             f"{meta(sts)['name']} successful", component=self.name)

    # status ----------------------------------------------------------------------------

    def _update_status(self, sts: Obj, pods: list[Obj], current_revision: str,
                       update_revision: str, collisions: int) -> float | None:
        spec = sts["spec"]
        now = rfc3339(self.store.clock())
        min_ready = int(spec.get("minReadySeconds", 0))
        ready = [p for p in pods if _running_and_ready(p)]
        available = sum(1 for p in ready if pod_available(p, min_ready, now))
        revisions = [(meta(p).get("labels") or {}).get(REVISION_LABEL)
                     for p in pods if not _terminating(p)]
        current = revisions.count(current_revision)
        updated = revisions.count(update_revision)
        rolling = (spec.get("updateStrategy") or {}).get("type",
                                                         "RollingUpdate") == "RollingUpdate"
        if rolling and updated == len(pods) and len(ready) == len(pods):
            current, current_revision = updated, update_revision  # the rollout is complete
        new_status: dict[str, Any] = {
            "observedGeneration": meta(sts).get("generation", 1),
            "replicas": len(pods), "readyReplicas": len(ready),
            "currentReplicas": current, "updatedReplicas": updated,
            "currentRevision": current_revision, "updateRevision": update_revision,
            "collisionCount": collisions, "availableReplicas": available,
        }
        new_status = {k: v for k, v in new_status.items()
                      if v or k not in ("readyReplicas", "currentReplicas", "updatedReplicas")}
        if (sts.get("status") or {}) != new_status:
            self.store.modify(self.sets, meta(sts)["namespace"], meta(sts)["name"],
                              lambda obj: obj.__setitem__("status", new_status),
                              subresource="status")
        return _becoming_available(pods, min_ready, now)


# DaemonSet -----------------------------------------------------------------------------


def daemon_pod_spec(template_spec: Mapping[str, Any]) -> dict[str, Any]:
    """The template's pod spec with the tolerations every daemon pod gets."""
    spec: dict[str, Any] = clone(dict(template_spec))
    tolerations: list[dict[str, Any]] = spec.setdefault("tolerations", [])
    wanted = list(DAEMON_TOLERATIONS)
    if spec.get("hostNetwork"):
        wanted.append(_HOST_NETWORK_TOLERATION)
    for toleration in wanted:
        same = next((i for i, t in enumerate(tolerations)
                     if all(t.get(k, "") == toleration.get(k, "")
                            for k in ("key", "operator", "value", "effect"))), None)
        if same is None:
            tolerations.append(dict(toleration))
        else:
            tolerations[same] = dict(toleration)
    return spec


def _expression_matches(expression: Mapping[str, Any], value: str | None) -> bool:
    operator, values = expression.get("operator"), list(expression.get("values") or [])
    if operator == "In":
        return value is not None and value in values
    if operator == "NotIn":
        return value is None or value not in values
    if operator == "Exists":
        return value is not None
    if operator == "DoesNotExist":
        return value is None
    if operator in ("Gt", "Lt") and value is not None and len(values) == 1:
        try:
            number, bound = int(value), int(values[0])
        except ValueError:
            return False
        return number > bound if operator == "Gt" else number < bound
    return False


def _fits_node(spec: Mapping[str, Any], node: Obj) -> bool:
    """nodeName, nodeSelector and required node affinity (predicates' first two checks)."""
    name = meta(node)["name"]
    if spec.get("nodeName") and spec["nodeName"] != name:
        return False
    labels = meta(node).get("labels") or {}
    if any(labels.get(k) != v for k, v in (spec.get("nodeSelector") or {}).items()):
        return False
    required = ((((spec.get("affinity") or {}).get("nodeAffinity") or {})
                 .get("requiredDuringSchedulingIgnoredDuringExecution")) or {})
    terms = required.get("nodeSelectorTerms") or []
    if not terms:
        return True
    return any(
        (term.get("matchExpressions") or term.get("matchFields"))
        and all(_expression_matches(e, labels.get(str(e.get("key"))))
                for e in term.get("matchExpressions") or [])
        and all(_expression_matches(e, name if e.get("key") == "metadata.name" else None)
                for e in term.get("matchFields") or [])
        for term in terms)


def placement(spec: Mapping[str, Any], node: Obj) -> tuple[bool, bool]:
    """(should run, should continue running) a daemon pod with `spec` on `node`."""
    if not _fits_node(spec, node):
        return False, False
    untolerated = [t for t in (node.get("spec") or {}).get("taints") or []
                   if t.get("effect") in ("NoSchedule", "NoExecute") and not tolerates(spec, t)]
    if untolerated:
        return False, not any(t.get("effect") == "NoExecute" for t in untolerated)
    return True, True


def _bound_to(spec: dict[str, Any], node_name: str) -> None:
    """Bind to `node_name`: nodeName, and the node affinity the real controller sets."""
    spec["nodeName"] = node_name
    field = {"key": "metadata.name", "operator": "In", "values": [node_name]}
    affinity = spec.setdefault("affinity", {}).setdefault("nodeAffinity", {})
    required = affinity.setdefault("requiredDuringSchedulingIgnoredDuringExecution", {})
    terms = required.get("nodeSelectorTerms") or [{}]
    for term in terms:
        term["matchFields"] = [f for f in term.get("matchFields") or []
                               if f.get("key") != "metadata.name"] + [dict(field)]
    required["nodeSelectorTerms"] = terms


class DaemonSetController:
    name = "daemonset-controller"

    def __init__(self, store: Store, registry: ResourceRegistry, recorder: EventRecorder) -> None:
        self.store = store
        self.daemonsets = registry.core("daemonsets")
        self.pods = registry.core("pods")
        self.nodes = registry.core("nodes")
        self.recorder = recorder
        self.index = OwnerIndex(store, self.pods)
        self._known: set[tuple[str, str]] = set()
        # (daemonset uid, node) → (delay, not before): back-off for replacing failed pods
        self._backoff: dict[tuple[str, str], tuple[float, datetime]] = {}

    def keys_for(self, change: Change) -> Iterator[Hashable]:
        kind = change.resource.storage_key
        if kind == self.daemonsets.storage_key:
            key = object_key(change)
            if change.type == DELETED:
                self._known.discard(key)
                uid = str(meta(change.object).get("uid"))
                for backoff_key in [k for k in self._backoff if k[0] == uid]:
                    del self._backoff[backoff_key]
            else:
                self._known.add(key)
            yield key
        elif kind == self.pods.storage_key:
            yield from self.index.owners(change, "DaemonSet")
        elif kind == self.nodes.storage_key and _placement_changed(change):
            yield from sorted(self._known)

    def reconcile(self, key: Hashable) -> float | None:
        namespace, name = cast(tuple[str, str], key)
        ds = self.store.find(self.daemonsets, namespace, name)
        if ds is None or meta(ds).get("deletionTimestamp"):
            return None
        spec = ds.get("spec") or {}
        digest = template_hash(spec.get("template") or {},
                               int((ds.get("status") or {}).get("collisionCount", 0)))
        pod_spec = daemon_pod_spec((spec.get("template") or {}).get("spec") or {})
        nodes = self.store.objects(self.nodes)
        placements = {meta(n)["name"]: placement(pod_spec, n) for n in nodes}
        acted, backoff = self._manage(ds, digest, pod_spec, placements)
        # like the real controller's expectations: roll only once the last changes are seen
        if not acted and (spec.get("updateStrategy") or {}).get(
                "type", "RollingUpdate") == "RollingUpdate":
            self._roll(ds, digest, pod_spec, placements)
        pending = self._update_status(ds, digest, placements)
        delays = [d for d in (backoff, pending) if d is not None]
        return min(delays) if delays else None

    def _by_node(self, ds: Obj) -> dict[str, list[Obj]]:
        """The daemon pods on each node (pods both deleted and finished are gone already)."""
        grouped: dict[str, list[Obj]] = {}
        for pod in self.index.owned(ds):
            if _terminating(pod) and _phase(pod) in _TERMINAL:
                continue
            grouped.setdefault(str((pod.get("spec") or {}).get("nodeName") or ""),
                               []).append(pod)
        for pods in grouped.values():
            pods.sort(key=_created_order)
        return grouped

    # manage: the right number of pods on each node -------------------------------------

    def _manage(self, ds: Obj, digest: str, pod_spec: dict[str, Any],
                placements: dict[str, tuple[bool, bool]]) -> tuple[bool, float | None]:
        """Create and delete pods node by node: whether it acted, and the seconds until a
        failed pod's back-off ends (None: none waiting)."""
        by_node = self._by_node(ds)
        surge = _allows_surge(ds)
        now = self.store.clock()
        uid = str(meta(ds)["uid"])
        create: list[str] = []
        delete: list[Obj] = []
        waits: list[float] = []
        for node_name, (run, keep) in placements.items():
            on_node = by_node.get(node_name, [])
            if run and not on_node:
                create.append(node_name)
            elif keep:
                running = []
                for pod in on_node:
                    if _terminating(pod):
                        continue
                    if _phase(pod) == "Failed":
                        wait = self._back_off(uid, node_name, now)
                        if wait > 0:
                            waits.append(wait)
                            continue
                        self.recorder.record(
                            ds, "Warning", "FailedDaemonPod",
                            f"Found failed daemon pod {meta(pod)['namespace']}/"
                            f"{meta(pod)['name']} on node {node_name}, will try to kill it",
                            component=self.name)
                        delete.append(pod)
                    elif _phase(pod) == "Succeeded":
                        delete.append(pod)
                    else:
                        running.append(pod)
                delete.extend(_duplicates(ds, running, digest, surge, now))
            else:
                delete.extend(p for p in on_node if not _terminating(p))
        orphans = [p for n, pods in by_node.items() if n not in placements for p in pods]
        for pod in orphans:  # on a node that is gone: what the pod GC would remove
            self._delete_pod(ds, pod, grace_period=0)
        for pod in delete:
            self._delete_pod(ds, pod)
        for node_name in create:
            self._create_pod(ds, digest, pod_spec, node_name)
        return bool(create or delete or orphans), min(waits) if waits else None

    def _back_off(self, uid: str, node_name: str, now: datetime) -> float:
        """Seconds to wait before replacing a failed pod on this node again (0: go)."""
        key = (uid, node_name)
        delay, not_before = self._backoff.get(key, (0.0, now))
        if now < not_before:
            return (not_before - now).total_seconds()
        first, cap = _FAILED_POD_BACKOFF
        delay = min(delay * 2, cap) if delay else first
        self._backoff[key] = (delay, now + timedelta(seconds=delay))
        return 0.0

    # rolling update --------------------------------------------------------------------

    def _roll(self, ds: Obj, digest: str, pod_spec: dict[str, Any],
              placements: dict[str, tuple[bool, bool]]) -> None:
        spec = ds["spec"]
        now = rfc3339(self.store.clock())
        min_ready = int(spec.get("minReadySeconds", 0))
        rolling = (spec.get("updateStrategy") or {}).get("rollingUpdate") or {}
        desired = sum(1 for run, _ in placements.values() if run)
        max_surge = _scaled_up(rolling.get("maxSurge", 0), desired)
        max_unavailable = _scaled_up(rolling.get("maxUnavailable", 1), desired)
        if desired and not max_surge and not max_unavailable:
            max_unavailable = 1
        by_node = self._by_node(ds)
        nodes = sorted({n for n, (run, _) in placements.items() if run}
                       | {n for n in by_node if n in placements})

        def available(pod: Obj) -> bool:
            return pod_available(pod, min_ready, now)

        plan: Plan = [(n, *_split_by_revision(by_node.get(n, []), digest)) for n in nodes]
        delete, create = (_replacing(plan, available, max_unavailable) if max_surge == 0
                          else _surging(plan, available, max_surge))
        for pod in delete:
            self._delete_pod(ds, pod)
        for node_name in create:
            self._create_pod(ds, digest, pod_spec, node_name)

    # pods and status -------------------------------------------------------------------

    def _create_pod(self, ds: Obj, digest: str, pod_spec: dict[str, Any],
                    node_name: str) -> None:
        pod = pod_from_template(ds["spec"].get("template") or {}, ds)
        pod["metadata"]["generateName"] = f"{meta(ds)['name']}-"
        labels = pod["metadata"]["labels"]
        labels[REVISION_LABEL] = digest
        labels[TEMPLATE_GENERATION_LABEL] = str(
            (meta(ds).get("annotations") or {}).get(TEMPLATE_GENERATION_ANNOTATION)
            or meta(ds).get("generation", 1))
        pod["spec"] = clone(pod_spec)
        _bound_to(pod["spec"], node_name)
        created = self.store.create(self.pods, pod)
        self.recorder.record(ds, "Normal", "SuccessfulCreate",
                             f"Created pod: {meta(created)['name']}", component=self.name)

    def _delete_pod(self, ds: Obj, pod: Obj, *, grace_period: int | None = None) -> None:
        try:
            self.store.delete(self.pods, meta(pod)["namespace"], meta(pod)["name"],
                              grace_period=grace_period,
                              preconditions={"uid": meta(pod).get("uid")})
        except ApiError as error:
            if error.code not in (404, 409):
                raise
            return
        self.recorder.record(ds, "Normal", "SuccessfulDelete",
                             f"Deleted pod: {meta(pod)['name']}", component=self.name)

    def _update_status(self, ds: Obj, digest: str,
                       placements: dict[str, tuple[bool, bool]]) -> float | None:
        now = rfc3339(self.store.clock())
        min_ready = int(ds["spec"].get("minReadySeconds", 0))
        by_node = self._by_node(ds)
        desired = current = misscheduled = ready = available = updated = 0
        oldest: list[Obj] = []
        for node_name, (run, _) in placements.items():
            on_node = by_node.get(node_name, [])
            if not run:
                misscheduled += 1 if on_node else 0
                continue
            desired += 1
            if not on_node:
                continue
            current += 1
            pod = on_node[0]
            oldest.append(pod)
            if pod_ready(pod):
                ready += 1
                available += 1 if pod_available(pod, min_ready, now) else 0
            if (meta(pod).get("labels") or {}).get(REVISION_LABEL) == digest:
                updated += 1
        new_status: dict[str, Any] = {
            "currentNumberScheduled": current, "numberMisscheduled": misscheduled,
            "desiredNumberScheduled": desired, "numberReady": ready,
            "observedGeneration": meta(ds).get("generation", 1),
            "updatedNumberScheduled": updated, "numberAvailable": available,
            "numberUnavailable": desired - available,
        }
        previous = ds.get("status") or {}
        if "collisionCount" in previous:
            new_status["collisionCount"] = previous["collisionCount"]
        new_status = {k: v for k, v in new_status.items()
                      if v or k in ("currentNumberScheduled", "numberMisscheduled",
                                    "desiredNumberScheduled", "numberReady")}
        if previous != new_status:
            self.store.modify(self.daemonsets, meta(ds)["namespace"], meta(ds)["name"],
                              lambda obj: obj.__setitem__("status", new_status),
                              subresource="status")
        return _becoming_available(oldest, min_ready, now)


def _placement_changed(change: Change) -> bool:
    """Whether a node change can change where daemon pods belong."""
    if change.type != "MODIFIED" or change.previous is None:
        return True
    before, after = change.previous, change.object
    return (meta(before).get("labels") != meta(after).get("labels")
            or (before.get("spec") or {}) != (after.get("spec") or {}))


def _allows_surge(ds: Obj) -> bool:
    strategy = (ds.get("spec") or {}).get("updateStrategy") or {}
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        return False
    return _scaled_up((strategy.get("rollingUpdate") or {}).get("maxSurge", 0), 1) > 0


def _split_by_revision(pods: list[Obj], digest: str) -> tuple[Obj | None, Obj | None, bool]:
    """(the updated pod, the old pod, False if a node has two of either) on one node."""
    new = old = None
    for pod in pods:
        if _terminating(pod):
            continue
        if (meta(pod).get("labels") or {}).get(REVISION_LABEL) == digest:
            if new is not None:
                return None, None, False
            new = pod
        else:
            if old is not None:
                return None, None, False
            old = pod
    return new, old, True


Plan = list[tuple[str, Obj | None, Obj | None, bool]]  # node, new pod, old pod, well-formed


def _replacing(plan: Plan, available: Callable[[Obj], bool],
               max_unavailable: int) -> tuple[list[Obj], list[str]]:
    """Rolling without surge: old pods to delete, unavailable ones first, within
    maxUnavailable (the manage step then creates their replacements)."""
    unavailable = 0
    replace: list[Obj] = []
    candidates: list[Obj] = []
    for _, new, old, ok in plan:
        if not ok or (new is None) == (old is None):
            unavailable += 1  # the manage step will fix this node
        elif new is not None:
            unavailable += 0 if available(new) else 1
        elif old is not None and not available(old):
            replace.append(old)
        elif old is not None and unavailable < max_unavailable:
            candidates.append(old)
    room = min(max(max_unavailable - unavailable, 0), len(candidates))
    return replace + candidates[:room], []


def _surging(plan: Plan, available: Callable[[Obj], bool],
             max_surge: int) -> tuple[list[Obj], list[str]]:
    """Rolling with surge: nodes to start an updated pod on beside the old one, within
    maxSurge, and old pods whose updated pod is available."""
    surging = 0
    delete: list[Obj] = []
    allowed: list[str] = []
    candidates: list[str] = []
    for node_name, new, old, ok in plan:
        if not ok:
            surging += 1
        elif old is None:
            continue
        elif new is None:
            if not available(old):
                allowed.append(node_name)
            elif surging < max_surge:
                candidates.append(node_name)
        elif not available(new):
            surging += 1
        else:
            delete.append(old)
    room = min(max(max_surge - surging, 0), len(candidates))
    return delete, allowed + candidates[:room]


def _duplicates(ds: Obj, running: list[Obj], digest: str, surge: bool,
                now: datetime) -> list[Obj]:
    """Surplus daemon pods on one node: all but the oldest, or (surging) all but the oldest
    updated and the oldest old pod, the old one too once the updated one is available."""
    if len(running) <= 1:
        return []
    if not surge:
        return running[1:]
    surplus: list[Obj] = []
    oldest_new = oldest_old = None
    for pod in running:
        if (meta(pod).get("labels") or {}).get(REVISION_LABEL) == digest:
            if oldest_new is None:
                oldest_new = pod
                continue
        elif oldest_old is None:
            oldest_old = pod
            continue
        surplus.append(pod)
    if oldest_new is not None and oldest_old is not None and (
            not pod_ready(oldest_old) or pod_available(
                oldest_new, int(ds["spec"].get("minReadySeconds", 0)), rfc3339(now))):
        surplus.append(oldest_old)
    return surplus
