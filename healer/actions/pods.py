"""restart-pod: delete a pod so that its controller replaces it.

`prepare` reads the pod and the workload that controls it, and refuses what a restart
would not fix or would make worse: a pod nobody would replace (unless the step sets
`allowUnmanaged: true`), a static pod (the API only holds its mirror; deleting that
restarts nothing), a pod already being deleted. `apply` deletes the pod read, by uid, so
a replacement that took its name (a StatefulSet's) is never deleted in its place.

It deletes rather than evicts: a PodDisruptionBudget does not stop it. The engine's
`minHealthy` guard does, reading the ready replicas of `Plan.workload`.

Neighbours: `base` (the two-phase interface), the kube facade (`get`, `owner_of`,
`delete_pod`), `catalog` (`RestartPodParams`, the registration).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from healer.actions.base import ActionRefused, ActionRequest, Plan
from healer.kube import SCALABLE_KINDS, WORKLOAD_KINDS, KubeObject, ObjectRef

if TYPE_CHECKING:
    from healer.actions.catalog import RestartPodParams

ACTION = "restart-pod"
MIRROR = "kubernetes.io/config.mirror"  # the annotation of a static pod's mirror
# controllers whose ready replicas minHealthy can read
REPLICATED = WORKLOAD_KINDS | SCALABLE_KINDS


def prepare_restart_pod(request: ActionRequest) -> Plan:
    """Read the pod and its controller; the plan deletes that pod (that uid).

    `before`: {"pod": "shop/web-1", "uid", "phase", "ready", "restarts", "node",
    "owner": "Deployment shop/web" or None}.
    `after`: {"deleted": True, "uid", "gracePeriodSeconds" (as the server took it),
    "alreadyDone": True when a retry found the pod gone}; a dry run: {"deleted": False,
    "dryRun": True, "uid", "gracePeriodSeconds"} from the server's answer.
    """
    params: RestartPodParams = request.params
    kube, target = request.kube, request.target
    namespace = target.namespace
    if target.kind != "Pod" or not namespace:
        raise ValueError(f"restart-pod acts on a namespaced Pod, not on {target}")
    pod = kube.get(target)
    where = f"{namespace}/{target.name}"
    metadata = pod.get("metadata", {})
    if metadata.get("deletionTimestamp"):
        raise ActionRefused(ACTION, f"pod {where} is already being deleted (since "
                                    f"{metadata['deletionTimestamp']})")
    owner = kube.owner_of(pod)
    if MIRROR in (metadata.get("annotations") or {}) or (owner and owner.kind == "Node"):
        node = owner.name if owner else pod.get("spec", {}).get("nodeName", "its node")
        raise ActionRefused(ACTION, f"pod {where} is a static pod of node {node}: deleting "
                                    f"it through the API restarts nothing (the kubelet "
                                    f"runs it from a file)")
    if owner is None and not params.allow_unmanaged:
        raise ActionRefused(ACTION, f"pod {where} has no controller: nothing would replace "
                                    f"it; set allowUnmanaged: true on the step to delete it "
                                    f"anyway")
    uid = metadata.get("uid")
    grace = params.grace_period_seconds
    change = f"delete pod {where} (" + (f"{owner} replaces it)" if owner else
                                        "no controller: nothing replaces it)")
    if grace is not None:
        change += f" with a {grace}s grace period"

    def apply(dry_run: bool) -> Mapping[str, Any]:
        done = kube.delete_pod(namespace, target.name, uid=uid, grace_period_seconds=grace,
                               dry_run=dry_run)
        answer: dict[str, Any] = dict((done.answer or {}).get("metadata", {}))
        after: dict[str, Any] = {"deleted": not dry_run, "uid": answer.get("uid", uid)}
        if dry_run:
            after["dryRun"] = True
        if "deletionGracePeriodSeconds" in answer:
            after["gracePeriodSeconds"] = answer["deletionGracePeriodSeconds"]
        if done.already_done:
            after["alreadyDone"] = True
        return after

    return Plan(before=_pod_state(pod, where, owner), change=change,
                workload=owner if owner is not None and owner.kind in REPLICATED else None,
                apply=apply)


def _pod_state(pod: KubeObject, where: str, owner: ObjectRef | None) -> dict[str, Any]:
    status = pod.get("status") or {}
    ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                for c in status.get("conditions") or [])
    restarts = sum(int(c.get("restartCount") or 0)
                   for c in status.get("containerStatuses") or [])
    return {"pod": where, "uid": pod.get("metadata", {}).get("uid"),
            "phase": status.get("phase"), "ready": ready, "restarts": restarts,
            "node": pod.get("spec", {}).get("nodeName"),
            "owner": str(owner) if owner is not None else None}
