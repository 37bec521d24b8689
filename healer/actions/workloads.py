"""rollout-restart and scale: the actions on a workload as a whole.

- rollout-restart does what `kubectl rollout restart` does: it sets the pod template
  annotation `kubectl.kubernetes.io/restartedAt`, and the workload's own update strategy
  replaces the pods. It refuses a paused Deployment and a workload that updates its pods
  `OnDelete` (the template would change, no pod would);
- scale sets `replicas` through the scale subresource, to a count or by a change of the
  current count, within the step's `min` and `max`. It refuses when that changes nothing,
  a ReplicaSet a Deployment controls (the Deployment would undo it), and a workload a
  HorizontalPodAutoscaler scales (the HPA would undo it at its next sync) unless the step
  sets `adjustHpa: true`: then it raises the HPA's minReplicas (and maxReplicas, when
  below) to the new count, and the HPA scales the workload.

Neighbours: `base` (the two-phase interface), the kube facade (`get`, `read_scale`,
`hpa_for`, `restart_workload`, `scale`, `patch_hpa`), `catalog` (`ScaleParams`, the
registrations).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC
from typing import TYPE_CHECKING, Any

from healer.actions.base import ActionRefused, ActionRequest, Plan
from healer.kube import (
    RESTARTED_AT,
    SCALABLE_KINDS,
    WORKLOAD_KINDS,
    Kube,
    KubeObject,
    ObjectRef,
    controller_of,
)
from healer.kube.objects import replicas_of

if TYPE_CHECKING:
    from healer.actions.catalog import ScaleParams

RESTART = "rollout-restart"
SCALE = "scale"


# rollout-restart ----------------------------------------------------------------------


def prepare_rollout_restart(request: ActionRequest) -> Plan:
    """Read the workload; the plan sets its template's restartedAt to `request.now`.

    `before` and `after`: {"restartedAt": the annotation (None: never restarted),
    "replicas": desired replicas, "generation"}; `before` also has "ready".
    """
    kube, target = request.kube, request.target
    if target.kind not in WORKLOAD_KINDS:
        raise ValueError(f"rollout-restart acts on a Deployment, StatefulSet or DaemonSet, "
                         f"not on {target}")
    workload = kube.get(target)
    spec = workload.get("spec", {})
    if target.kind == "Deployment" and spec.get("paused"):
        raise ActionRefused(RESTART, f"{target} is paused: a restart would not roll it; "
                                     f"resume it first (kubectl rollout resume)")
    strategy = (spec.get("updateStrategy") or {}).get("type")
    if strategy == "OnDelete":
        raise ActionRefused(RESTART, f"{target} updates its pods OnDelete: a restart would "
                                     f"change its template and replace no pod; use "
                                     f"restart-pod on each pod")
    stamp = request.now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    before = _restart_state(target, workload)
    if before["restartedAt"] == stamp:
        raise ActionRefused(RESTART, f"{target} was already restarted at {stamp}")
    before["ready"] = replicas_of(target.kind, workload).ready
    change = (f"rollout restart {target}: restartedAt "
              f"{before['restartedAt'] or 'unset'} → {stamp}")

    def apply(dry_run: bool) -> Mapping[str, Any]:
        done = kube.restart_workload(target, at=request.now, dry_run=dry_run)
        return _restart_state(target, done.answer or {})

    return Plan(before=before, change=change, workload=target, apply=apply)


def _restart_state(target: ObjectRef, workload: KubeObject) -> dict[str, Any]:
    template = workload.get("spec", {}).get("template") or {}
    annotations = (template.get("metadata") or {}).get("annotations") or {}
    return {"restartedAt": annotations.get(RESTARTED_AT),
            "replicas": replicas_of(target.kind, workload).desired,
            "generation": workload.get("metadata", {}).get("generation")}


# scale --------------------------------------------------------------------------------


def prepare_scale(request: ActionRequest) -> Plan:
    """Read the scale subresource (and the HPA); the plan sets the new count.

    `before`: {"replicas": 3}; `after`: {"replicas": 5}, as the API answered.
    With `adjustHpa` and an HPA: `before` {"replicas", "hpa": "shop/web", "minReplicas",
    "maxReplicas"}, `after` {"hpa", "minReplicas", "maxReplicas"} as the API answered.
    """
    params: ScaleParams = request.params
    kube, target = request.kube, request.target
    if target.kind not in SCALABLE_KINDS:
        raise ValueError(f"scale acts on a Deployment, StatefulSet or ReplicaSet, not on "
                         f"{target}")
    if target.kind == "ReplicaSet":
        _refuse_a_deployments_replicaset(kube, target)
    current = kube.read_scale(target).replicas
    wanted = wanted_replicas(params, current)
    if wanted == current:
        raise ActionRefused(SCALE, _nothing_to_do(target, current, params))
    hpa = kube.hpa_for(target)
    if hpa is not None:
        return _through_hpa(kube, target, hpa, current, wanted, adjust=params.adjust_hpa)

    def apply(dry_run: bool) -> Mapping[str, Any]:
        done = kube.scale(target, wanted, dry_run=dry_run)
        return {"replicas": int(((done.answer or {}).get("spec") or {}).get("replicas") or 0)}

    return Plan(before={"replicas": current}, change=f"replicas {current} → {wanted}",
                workload=target, apply=apply)


def wanted_replicas(params: ScaleParams, current: int) -> int:
    """The count to scale to: the step's count or change, within min and max (and 0);
    a change never moves the count against its sign (+2 at or above max does nothing)."""
    count = params.replicas
    wanted = count.applied_to(current)
    if params.max is not None:
        wanted = min(wanted, params.max)
    if params.min is not None:
        wanted = max(wanted, params.min)
    wanted = max(wanted, 0)
    if count.relative:
        wanted = max(wanted, current) if count.value > 0 else min(wanted, current)
    return wanted


def _nothing_to_do(target: ObjectRef, current: int, params: ScaleParams) -> str:
    """Why the count would not change: `Deployment shop/web already runs 20 replicas,
    its max`."""
    text = f"{target} already runs {current} replica{'' if current == 1 else 's'}"
    count = params.replicas
    if not count.relative:
        return f"{text}, as asked"
    if count.value > 0 and params.max is not None:
        return f"{text}, {'its' if current == params.max else 'above its'} max" + (
            "" if current == params.max else f" ({params.max})")
    if count.value < 0 and params.min is not None and current <= params.min:
        return f"{text}, {'its' if current == params.min else 'below its'} min" + (
            "" if current == params.min else f" ({params.min})")
    return text


def _refuse_a_deployments_replicaset(kube: Kube, target: ObjectRef) -> None:
    owner = controller_of(kube.get(target))
    if owner is not None and owner.get("kind") == "Deployment":
        raise ActionRefused(SCALE, f"{target} is controlled by Deployment "
                                   f"{target.namespace}/{owner.get('name')}, which would undo "
                                   f"the scale: scale the Deployment")


def _through_hpa(kube: Kube, target: ObjectRef, hpa: KubeObject, current: int, wanted: int,
                 *, adjust: bool) -> Plan:
    """The plan for a workload an HPA scales: refused, or (adjustHpa) the HPA's floor."""
    name = hpa.get("metadata", {}).get("name", "")
    namespace = target.namespace or ""
    spec = hpa.get("spec", {})
    low, high = int(spec.get("minReplicas") or 1), int(spec.get("maxReplicas") or 0)
    which = f"HorizontalPodAutoscaler {namespace}/{name}"
    if not adjust:
        raise ActionRefused(SCALE, f"{which} scales {target} (minReplicas {low}, maxReplicas "
                                   f"{high}) and would undo this scale; set adjustHpa: true "
                                   f"on the step to raise its minReplicas instead")
    if wanted < current:
        raise ActionRefused(SCALE, f"{which} scales {target}, and adjustHpa only raises its "
                                   f"minReplicas: scaling down ({current} → {wanted}) would "
                                   f"mean capping the autoscaler; change the HPA by hand")
    if low >= wanted:
        raise ActionRefused(SCALE, f"{which} already keeps {target} at {low} replicas or "
                                   f"more (its minReplicas): nothing to raise")
    patch: dict[str, int] = {"minReplicas": wanted}
    change = f"{which} minReplicas {low} → {wanted}"
    if high < wanted:
        patch["maxReplicas"] = wanted
        change += f", maxReplicas {high} → {wanted}"
    change += f", so it scales {target} from {current} to {wanted}"

    def apply(dry_run: bool) -> Mapping[str, Any]:
        done = kube.patch_hpa(namespace, name, {"spec": patch}, dry_run=dry_run)
        answered = (done.answer or {}).get("spec") or {}
        return {"hpa": f"{namespace}/{name}", "minReplicas": answered.get("minReplicas"),
                "maxReplicas": answered.get("maxReplicas")}

    before = {"replicas": current, "hpa": f"{namespace}/{name}", "minReplicas": low,
              "maxReplicas": high}
    return Plan(before=before, change=change, workload=target, apply=apply)
