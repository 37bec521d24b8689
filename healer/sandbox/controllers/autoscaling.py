"""HorizontalPodAutoscalers in a cluster without metrics.

The sandbox serves no metrics APIs, so an HPA behaves as a real one does where
metrics-server is missing: ScalingActive is False (FailedGetResourceMetric,
FailedGetPodsMetric ... with the real messages), it never scales on metrics, but a target
(`scaleTargetRef`: an apps/v1 Deployment, StatefulSet or ReplicaSet) whose `spec.replicas`
is outside [minReplicas, maxReplicas] is still scaled into range ("Current number of
replicas above Spec.MaxReplicas", a SuccessfulRescale event). A target scaled to 0 by
hand disables autoscaling (ScalingDisabled), as on a real cluster.

Tests and scenarios stand in for the metrics with an annotation on the HPA:

    metadata:
      annotations:
        sandbox.healer.dev/desired-replicas: "12"

The value is the replica count the metrics recommend. The controller then does what it
does with a real recommendation: ScalingActive True (ValidMetricFound), the
recommendation kept within maxReplicas, minReplicas and the scale-up rate limit
(max(2 x current, 4)), with ScalingLimited True and TooManyReplicas / TooFewReplicas /
ScaleUpLimit when that changed it, and the target scaled. `status.desiredReplicas ==
spec.maxReplicas` is what the KubeHpaMaxedOut alert looks for. A value that is not a
non-negative integer is ignored. There is no stabilization window: a recommendation
applies as soon as it is seen.

Each HPA is evaluated every `sync_period` seconds (15, the real
`--horizontal-pod-autoscaler-sync-period`), and at once when its spec or annotations
change or someone else changes its target's `spec.replicas` (the real controller would
wait for the next sync; the sandbox does not make tests wait). Between syncs the status
keeps showing the replica count it scaled from, as on a real cluster. An HPA without
`spec.metrics` is treated as the API server defaults one: CPU at 80% utilization.

Neighbours: `base` (runtime, `set_condition`), `events`;
`admission` validates the HPA.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, cast

from healer.sandbox.controllers.base import object_key, set_condition
from healer.sandbox.events import EventRecorder
from healer.sandbox.resources import ResourceRegistry, ResourceType
from healer.sandbox.store import DELETED, Change, Obj, Store, clone, meta, rfc3339

DESIRED_REPLICAS = "sandbox.healer.dev/desired-replicas"

_DEFAULT_METRICS = ({"type": "Resource",
                     "resource": {"name": "cpu", "target": {"type": "Utilization",
                                                            "averageUtilization": 80}}},)
_NO_RESOURCE_METRICS = ("unable to fetch metrics from resource metrics API: the server could "
                        "not find the requested resource (get pods.metrics.k8s.io)")
_NO_CUSTOM_METRICS = ("unable to fetch metrics from custom metrics API: no custom metrics API "
                      "(custom.metrics.k8s.io) registered")
_NO_EXTERNAL_METRICS = ("unable to fetch metrics from external metrics API: no external "
                        "metrics API (external.metrics.k8s.io) registered")

TargetKey = tuple[str, str, str]  # (namespace, kind, name)


@dataclass(frozen=True)
class MetricFailure:
    """Why one metric gave no value, as the real controller words it."""

    reason: str  # the ScalingActive reason and event reason, e.g. FailedGetResourceMetric
    error: str  # the event message, and the condition's after "unable to compute ...: "
    wrapped: str  # the error as FailedComputeMetricsReplicas quotes it


def describe_metric(metric: Mapping[str, Any], namespace: str) -> tuple[str, MetricFailure]:
    """A metric's name as conditions show it, and how fetching it fails without metrics."""
    kind = str(metric.get("type", ""))
    if kind in ("Resource", "ContainerResource"):
        source = metric.get("resource" if kind == "Resource" else "containerResource") or {}
        name = str(source.get("name", ""))
        utilization = (source.get("target") or {}).get("type", "Utilization") == "Utilization"
        what = "utilization" if utilization else "usage"
        error = (f"failed to get {name} {what}: unable to get metrics for resource {name}: "
                 f"{_NO_RESOURCE_METRICS}")
        label = f"{name} resource" if kind == "Resource" else f"{name} container resource"
        if utilization:
            label += " utilization (percentage of request)"
        if kind == "Resource":
            return label, MetricFailure("FailedGetResourceMetric", error,
                                        f"failed to get {name} resource metric value: {error}")
        container = source.get("container", "")
        return label, MetricFailure("FailedGetContainerResourceMetric", error,
                                    f"failed to get {container} container metric value: {error}")
    if kind in ("Pods", "Object"):
        source = metric.get("pods" if kind == "Pods" else "object") or {}
        name = str((source.get("metric") or {}).get("name", ""))
        error = f"unable to get metric {name}: {_NO_CUSTOM_METRICS}"
        if kind == "Pods":
            return f"pods metric {name}", MetricFailure(
                "FailedGetPodsMetric", error, f"failed to get pods metric value: {error}")
        described = (source.get("describedObject") or {}).get("kind", "")
        return f"{described} metric {name}", MetricFailure(
            "FailedGetObjectMetric", error, f"failed to get object metric value: {error}")
    if kind == "External":
        name = str(((metric.get("external") or {}).get("metric") or {}).get("name", ""))
        error = f"unable to get external metric {namespace}/{name}/nil: {_NO_EXTERNAL_METRICS}"
        return f"external metric {name}", MetricFailure(
            "FailedGetExternalMetric", error, f"failed to get {name} external metric value: "
                                              f"{error}")
    error = f'unknown metric source type "{kind}"'
    return kind, MetricFailure("InvalidMetricSourceType", error, error)


def desired_annotation(hpa: Obj) -> int | None:
    """The recommendation a test or scenario set, if any."""
    text = (meta(hpa).get("annotations") or {}).get(DESIRED_REPLICAS)
    try:
        value = int(str(text))
    except ValueError:
        return None
    return value if value >= 0 else None


def within_rules(current: int, recommended: int, low: int,
                 high: int) -> tuple[int, str, str]:
    """The recommendation kept within min/max and the scale-up limit, and why."""
    scale_up_limit = max(2 * current, 4)
    if high > scale_up_limit:
        ceiling, reason, message = (scale_up_limit, "ScaleUpLimit", "the desired replica count "
                                    "is increasing faster than the maximum scale rate")
    else:
        ceiling, reason, message = (high, "TooManyReplicas",
                                    "the desired replica count is more than the maximum "
                                    "replica count")
    if recommended < low:
        return low, "TooFewReplicas", ("the desired replica count is less than the minimum "
                                       "replica count")
    if recommended > ceiling:
        return ceiling, reason, message
    return recommended, "DesiredWithinRange", "the desired count is within the acceptable range"


class HorizontalPodAutoscalerController:
    name = "horizontal-pod-autoscaler"

    def __init__(self, store: Store, registry: ResourceRegistry, recorder: EventRecorder, *,
                 sync_period: float = 15.0) -> None:
        self.store = store
        self.registry = registry
        self.hpas = registry.core("horizontalpodautoscalers")
        self.recorder = recorder
        self.sync_period = sync_period
        self._watchers: dict[TargetKey, set[tuple[str, str]]] = {}  # target → HPAs on it
        self._target_of: dict[tuple[str, str], TargetKey] = {}
        self._rescaled: dict[TargetKey, int] = {}  # targets this controller just scaled

    def keys_for(self, change: Change) -> Iterator[Hashable]:
        if change.resource.storage_key == self.hpas.storage_key:
            key = object_key(change)
            if change.type == "MODIFIED" and change.previous is not None and _same_intent(
                    change.previous, change.object):
                return  # its own status write: the real controller waits for the resync
            old = self._target_of.pop(key, None)
            if old is not None:
                self._watchers.get(old, set()).discard(key)
            if change.type != DELETED:
                ref = (change.object.get("spec") or {}).get("scaleTargetRef") or {}
                target = (key[0], str(ref.get("kind", "")), str(ref.get("name", "")))
                self._target_of[key] = target
                self._watchers.setdefault(target, set()).add(key)
            yield key
        elif change.resource.has_scale:
            m = meta(change.object)
            target = (str(m.get("namespace", "")), change.resource.kind, str(m.get("name", "")))
            watchers = self._watchers.get(target)
            if not watchers:
                return
            if change.type == "MODIFIED" and change.previous is not None:
                if _replicas(change.previous) == _replicas(change.object):
                    return
                if self._rescaled.pop(target, None) == _replicas(change.object):
                    return  # its own rescale: the next look is at the next sync
            yield from sorted(watchers)

    def reconcile(self, key: Hashable) -> float | None:
        namespace, name = cast(tuple[str, str], key)
        hpa = self.store.find(self.hpas, namespace, name)
        if hpa is None:
            return None
        self._evaluate(hpa)
        return self.sync_period

    # reconcileAutoscaler -------------------------------------------------------------

    def _evaluate(self, hpa: Obj) -> None:
        spec, status = hpa.get("spec") or {}, hpa.get("status") or {}
        conditions: list[dict[str, Any]] = clone(status.get("conditions") or [])
        now = rfc3339(self.store.clock())
        new_status = {k: v for k, v in status.items()
                      if k in ("currentReplicas", "desiredReplicas", "lastScaleTime")}
        new_status.setdefault("desiredReplicas", 0)
        ref = spec.get("scaleTargetRef") or {}
        resource = self.registry.for_kind(str(ref.get("apiVersion", "")),
                                          str(ref.get("kind", "")))
        target = (self.store.find(resource, meta(hpa)["namespace"], str(ref.get("name")))
                  if resource is not None and resource.has_scale else None)
        if resource is None or target is None:
            self._cannot_scale(hpa, ref, resource, conditions, now)
            self._write(hpa, {**new_status, "conditions": conditions})
            return
        set_condition(conditions, "AbleToScale", "True", now, "SucceededGetScale",
                      "the HPA controller was able to get the target's current scale")
        current = _replicas(target)
        new_status["currentReplicas"] = current
        low, high = int(spec.get("minReplicas", 1)), int(spec.get("maxReplicas", 1))
        desired, reason = 0, ""
        if current == 0 and low != 0:
            set_condition(conditions, "ScalingActive", "False", now, "ScalingDisabled",
                          "scaling is disabled since the replica count of the target is zero")
            desired = current
        elif current > high:
            desired, reason = high, "Current number of replicas above Spec.MaxReplicas"
        elif current < low:
            desired, reason = low, "Current number of replicas below Spec.MinReplicas"
        else:
            recommended = self._recommend(hpa, conditions, now)
            if recommended is None:
                self._write(hpa, {**new_status, "conditions": conditions})
                return
            recommendation, metric_name = recommended
            if recommendation > current:
                reason = f"{metric_name} above target"
            elif recommendation < current:
                reason = "All metrics below target"
            set_condition(conditions, "AbleToScale", "True", now, "ReadyForNewScale",
                          "recommended size matches current size")
            desired, limit, message = within_rules(current, recommendation, low, high)
            set_condition(conditions, "ScalingLimited",
                          "True" if desired != recommendation else "False", now, limit, message)
        if desired != current and self._scale(resource, target, desired):
            set_condition(conditions, "AbleToScale", "True", now, "SucceededRescale",
                          f"the HPA controller was able to update the target scale to {desired}")
            self.recorder.record(hpa, "Normal", "SuccessfulRescale",
                                 f"New size: {desired}; reason: {reason}", component=self.name)
            new_status["lastScaleTime"] = now
        else:
            desired = current
        new_status["desiredReplicas"] = desired
        self._write(hpa, {**new_status, "conditions": conditions})

    def _recommend(self, hpa: Obj, conditions: list[dict[str, Any]],
                   now: str) -> tuple[int, str] | None:
        """The annotation's recommendation and the metric it stands for; None (with the
        failure recorded) when metrics are all there is to go by."""
        metrics = list((hpa.get("spec") or {}).get("metrics") or _DEFAULT_METRICS)
        described = [describe_metric(m, meta(hpa)["namespace"]) for m in metrics]
        recommendation = desired_annotation(hpa)
        if recommendation is not None:
            metric_name = described[0][0]
            set_condition(conditions, "ScalingActive", "True", now, "ValidMetricFound",
                          "the HPA was able to successfully calculate a replica count from "
                          f"{metric_name}")
            return recommendation, metric_name
        for _, failure in described:
            self.recorder.record(hpa, "Warning", failure.reason, failure.error,
                                 component=self.name)
        first = described[0][1]
        set_condition(conditions, "ScalingActive", "False", now, first.reason,
                      f"the HPA was unable to compute the replica count: {first.error}")
        self.recorder.record(hpa, "Warning", "FailedComputeMetricsReplicas",
                             f"invalid metrics ({len(described)} invalid out of "
                             f"{len(described)}), first error is: {first.wrapped}",
                             component=self.name)
        return None

    def _cannot_scale(self, hpa: Obj, ref: Mapping[str, Any], resource: ResourceType | None,
                      conditions: list[dict[str, Any]], now: str) -> None:
        if resource is None or not resource.has_scale:
            api_version = str(ref.get("apiVersion", ""))
            error = (f'no matches for kind "{ref.get("kind", "")}" in version "{api_version}"'
                     if resource is None else
                     f'{resource.describe()} "{ref.get("name", "")}" has no scale subresource')
        else:
            error = f'{resource.describe()} "{ref.get("name", "")}" not found'
        set_condition(conditions, "AbleToScale", "False", now, "FailedGetScale",
                      f"the HPA controller was unable to get the target's current scale: {error}")
        self.recorder.record(hpa, "Warning", "FailedGetScale", error, component=self.name)

    def _scale(self, resource: ResourceType, target: Obj, replicas: int) -> bool:
        self._rescaled[(meta(target)["namespace"], resource.kind, meta(target)["name"])] = (
            replicas)
        updated = self.store.modify(resource, meta(target)["namespace"], meta(target)["name"],
                                    lambda obj: obj.setdefault("spec", {}).__setitem__(
                                        "replicas", replicas))
        return updated is not None

    def _write(self, hpa: Obj, new_status: dict[str, Any]) -> None:
        for omitted_when_empty in ("conditions", "currentReplicas"):
            if not new_status.get(omitted_when_empty):
                new_status.pop(omitted_when_empty, None)
        if (hpa.get("status") or {}) != new_status:
            self.store.modify(self.hpas, meta(hpa)["namespace"], meta(hpa)["name"],
                              lambda obj: obj.__setitem__("status", new_status),
                              subresource="status")


def _same_intent(before: Obj, after: Obj) -> bool:
    """Whether an HPA change leaves its spec and annotations (the metric stand-in) alone."""
    return (before.get("spec") == after.get("spec")
            and meta(before).get("annotations") == meta(after).get("annotations"))


def _replicas(obj: Mapping[str, Any]) -> int:
    return int((obj.get("spec") or {}).get("replicas", 1))
