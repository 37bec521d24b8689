"""What the kube facade takes and hands back: references, raw objects, results of writes.

Objects come back as the API server's JSON (`KubeObject`, a `TypedDict` over the fields
healer reads), not as the client's generated models: the JSON is what an audit record
stores, and it never fails to deserialize when a newer server adds a field. Derived
answers are frozen dataclasses: `Scale` (the scale subresource), `Replicas` (how far a
workload's rollout is), `Change` (what a write did, with the attempts it took).

Neighbours: `healer.kube.client` (builds these), actions and guards (read them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypedDict

WORKLOAD_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet"})
SCALABLE_KINDS = frozenset({"Deployment", "StatefulSet", "ReplicaSet"})
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"  # the pod template annotation kubectl sets


class OwnerReference(TypedDict, total=False):
    apiVersion: str
    kind: str
    name: str
    uid: str
    controller: bool
    blockOwnerDeletion: bool


class ObjectMeta(TypedDict, total=False):
    name: str
    namespace: str
    uid: str
    resourceVersion: str
    generation: int
    creationTimestamp: str
    deletionTimestamp: str
    labels: dict[str, str]
    annotations: dict[str, str]
    ownerReferences: list[OwnerReference]


class KubeObject(TypedDict, total=False):
    """A Kubernetes object as the API serves it (JSON); only the common fields typed."""

    apiVersion: str
    kind: str
    metadata: ObjectMeta
    spec: dict[str, Any]
    status: dict[str, Any]


@dataclass(frozen=True)
class ObjectRef:
    """Which object: its kind (`Deployment`), name, and namespace (None: cluster-scoped)."""

    kind: str
    name: str
    namespace: str | None = None

    def __str__(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind} {where}"


@dataclass(frozen=True)
class Scale:
    """A workload's scale subresource: wanted replicas, existing ones, the pod selector."""

    ref: ObjectRef
    replicas: int  # spec.replicas: what the workload is asked to run
    current: int  # status.replicas: pods that exist now (old revisions included)
    selector: str  # status.selector, the label selector of its pods ("app=web")


@dataclass(frozen=True)
class Replicas:
    """How far a workload is from what it was asked for (verification reads this)."""

    desired: int  # spec.replicas (DaemonSet: nodes that should run a pod)
    current: int  # pods that exist, any revision
    updated: int  # pods of the newest revision
    ready: int  # pods passing their readiness probe
    available: int  # pods ready for at least minReadySeconds
    observed: bool  # the controller has seen the latest spec (observedGeneration)

    @property
    def settled(self) -> bool:
        """The rollout is complete: every pod is updated and available, no old pod left."""
        return (self.observed and self.updated == self.desired == self.current
                and self.available >= self.desired and self.ready >= self.desired)


@dataclass(frozen=True)
class Change:
    """What one write to the API did, for the outcome in the audit trail.

    `answer` is the server's answer (for a dry run: the object as it would be); None
    when there was none to give (`already_done`). `already_done` is True when a retry
    found the work done: a DELETE whose earlier attempt was lost on the way back (the
    server had deleted the pod) answers 404 or a uid conflict on the retry.
    """

    request: str  # "PATCH deployments shop/checkout (dry run)"
    dry_run: bool
    attempts: int  # requests sent, retries included
    answer: KubeObject | None
    already_done: bool = False


def controller_of(obj: KubeObject) -> OwnerReference | None:
    """The ownerReference with `controller: true` (at most one exists), if any."""
    for owner in obj.get("metadata", {}).get("ownerReferences") or []:
        if owner.get("controller"):
            return owner
    return None


def replicas_of(kind: str, obj: KubeObject) -> Replicas:
    """The replica counts of a Deployment, StatefulSet, ReplicaSet or DaemonSet."""
    spec, status = obj.get("spec", {}), obj.get("status") or {}
    generation = obj.get("metadata", {}).get("generation", 0)
    observed = int(status.get("observedGeneration") or 0) >= generation
    if kind == "DaemonSet":
        return Replicas(
            desired=int(status.get("desiredNumberScheduled") or 0),
            current=int(status.get("currentNumberScheduled") or 0),
            updated=int(status.get("updatedNumberScheduled") or 0),
            ready=int(status.get("numberReady") or 0),
            available=int(status.get("numberAvailable") or 0),
            observed=observed)
    current = int(status.get("replicas") or 0)
    return Replicas(
        desired=int(spec.get("replicas", 1)),
        current=current,
        # a ReplicaSet has no revisions of its own: all its pods are "updated"
        updated=current if kind == "ReplicaSet" else int(status.get("updatedReplicas") or 0),
        ready=int(status.get("readyReplicas") or 0),
        available=int(status.get("availableReplicas") or 0),
        observed=observed)
