"""The sandbox's HorizontalPodAutoscaler controller (healer.sandbox.controllers.autoscaling).

Covers:
- without metrics: AbleToScale SucceededGetScale, ScalingActive False with the real reason
  and message per metric type (CPU by default), the warning events, no scaling;
- a target outside [minReplicas, maxReplicas] scaled into range with SuccessfulRescale,
  lastScaleTime and the rescale reason, also when it is scaled out of range later;
- the `sandbox.healer.dev/desired-replicas` annotation as the metric recommendation:
  ValidMetricFound, ScalingLimited TooManyReplicas (desiredReplicas == maxReplicas, what
  KubeHpaMaxedOut looks at) / TooFewReplicas / DesiredWithinRange / ScaleUpLimit;
- a missing target (FailedGetScale) and a target at zero replicas (ScalingDisabled);
- StatefulSet targets.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

import pytest

from healer.sandbox.controllers.autoscaling import (
    DESIRED_REPLICAS,
    HorizontalPodAutoscalerController,
)
from healer.sandbox.store import meta
from tests.unit.sandbox_harness import Harness, condition

NO_METRICS_API = ("unable to fetch metrics from resource metrics API: the server could not "
                  "find the requested resource (get pods.metrics.k8s.io)")


@pytest.fixture
def harness() -> Iterator[Harness]:
    with Harness(HorizontalPodAutoscalerController) as h:
        yield h


def deployment(replicas: int, name: str = "web") -> dict[str, Any]:
    return {"metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "app", "image": "web:1"}]}}}}


def hpa(low: int = 1, high: int = 5, desired: int | None = None, kind: str = "Deployment",
        **spec: Any) -> dict[str, Any]:
    annotations = {DESIRED_REPLICAS: str(desired)} if desired is not None else {}
    return {"metadata": {"name": "web", "annotations": annotations},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": kind, "name": "web"},
                     "minReplicas": low, "maxReplicas": high, **spec}}


def replicas(harness: Harness, plural: str = "deployments") -> int:
    return int((harness.get(plural, "web") or {})["spec"]["replicas"])


def hpa_status(harness: Harness, **expected: Any) -> dict[str, Any]:
    """The HPA's status once it has the expected fields (and conditions by type: reason)."""
    def check() -> dict[str, Any]:
        status = harness.status("horizontalpodautoscalers", "web")
        for key, value in expected.items():
            if key[0].isupper():
                if condition(status, key).get("reason") != value:
                    return {}
            elif status.get(key) != value:
                return {}
        return status
    return harness.eventually(check, what=f"hpa status {expected}")


def annotate(harness: Harness, desired: int | str) -> None:
    harness.modify("horizontalpodautoscalers", "web", lambda obj: obj["metadata"].setdefault(
        "annotations", {}).__setitem__(DESIRED_REPLICAS, str(desired)))


def test_without_metrics_scaling_is_not_active(harness: Harness) -> None:
    """No metrics API: FailedGetResourceMetric, warnings, and the target left alone."""
    harness.create("deployments", deployment(2))
    harness.create("horizontalpodautoscalers", hpa())
    status = hpa_status(harness, currentReplicas=2, ScalingActive="FailedGetResourceMetric")
    assert status["desiredReplicas"] == 0
    assert "lastScaleTime" not in status
    able = condition(status, "AbleToScale")
    assert (able["status"], able["reason"], able["message"]) == (
        "True", "SucceededGetScale",
        "the HPA controller was able to get the target's current scale")
    active = condition(status, "ScalingActive")
    assert active["status"] == "False"
    assert active["message"] == (
        "the HPA was unable to compute the replica count: failed to get cpu utilization: "
        f"unable to get metrics for resource cpu: {NO_METRICS_API}")
    assert condition(status, "ScalingLimited") == {}
    assert harness.messages("FailedGetResourceMetric") == [
        f"failed to get cpu utilization: unable to get metrics for resource cpu: {NO_METRICS_API}"]
    assert harness.messages("FailedComputeMetricsReplicas") == [
        "invalid metrics (1 invalid out of 1), first error is: failed to get cpu resource metric "
        f"value: failed to get cpu utilization: unable to get metrics for resource cpu: "
        f"{NO_METRICS_API}"]
    harness.settle()
    assert replicas(harness) == 2
    assert not harness.events("SuccessfulRescale")


def test_pods_metrics_fail_with_their_own_reason(harness: Harness) -> None:
    """A Pods metric fails with FailedGetPodsMetric."""
    harness.create("deployments", deployment(2))
    harness.create("horizontalpodautoscalers", hpa(metrics=[{
        "type": "Pods", "pods": {"metric": {"name": "http_requests"},
                                 "target": {"type": "AverageValue", "averageValue": "10"}}}]))
    status = hpa_status(harness, ScalingActive="FailedGetPodsMetric")
    assert "unable to get metric http_requests" in condition(status, "ScalingActive")["message"]


def test_target_above_max_is_scaled_down_to_max(harness: Harness) -> None:
    """A target with more replicas than maxReplicas is scaled to maxReplicas."""
    harness.create("deployments", deployment(9))
    harness.create("horizontalpodautoscalers", hpa(high=4))
    harness.eventually(lambda: replicas(harness) == 4)
    # until the next sync the status shows the count it scaled from
    status = hpa_status(harness, currentReplicas=9, desiredReplicas=4,
                        AbleToScale="SucceededRescale")
    assert condition(status, "AbleToScale")["message"] == (
        "the HPA controller was able to update the target scale to 4")
    assert status["lastScaleTime"]
    assert harness.messages("SuccessfulRescale") == [
        "New size: 4; reason: Current number of replicas above Spec.MaxReplicas"]


def test_target_below_min_is_scaled_up_to_min(harness: Harness) -> None:
    """A target with fewer replicas than minReplicas is scaled to minReplicas."""
    harness.create("deployments", deployment(1))
    harness.create("horizontalpodautoscalers", hpa(low=3))
    harness.eventually(lambda: replicas(harness) == 3)
    assert harness.messages("SuccessfulRescale") == [
        "New size: 3; reason: Current number of replicas below Spec.MinReplicas"]


def test_target_scaled_out_of_range_later_is_scaled_back(harness: Harness) -> None:
    """Scaling the target past maxReplicas by hand is undone without waiting for a resync."""
    harness.create("deployments", deployment(2))
    harness.create("horizontalpodautoscalers", hpa(high=5))
    hpa_status(harness, currentReplicas=2)
    harness.modify("deployments", "web", lambda obj: obj["spec"].__setitem__("replicas", 30))
    harness.eventually(lambda: replicas(harness) == 5)


def test_recommendation_above_max_maxes_out(harness: Harness) -> None:
    """desired-replicas 20 with maxReplicas 6: scaled to 6, TooManyReplicas, desired == max."""
    harness.create("deployments", deployment(4))
    harness.create("horizontalpodautoscalers", hpa(high=6, desired=20))
    harness.eventually(lambda: replicas(harness) == 6)
    status = hpa_status(harness, currentReplicas=4, desiredReplicas=6,
                        ScalingLimited="TooManyReplicas")
    # what KubeHpaMaxedOut compares
    assert status["desiredReplicas"] == (harness.get("horizontalpodautoscalers", "web")
                                         or {})["spec"]["maxReplicas"]
    limited = condition(status, "ScalingLimited")
    assert (limited["status"], limited["message"]) == (
        "True", "the desired replica count is more than the maximum replica count")
    active = condition(status, "ScalingActive")
    assert (active["status"], active["reason"], active["message"]) == (
        "True", "ValidMetricFound", "the HPA was able to successfully calculate a replica count "
        "from cpu resource utilization (percentage of request)")
    assert harness.messages("SuccessfulRescale") == [
        "New size: 6; reason: cpu resource utilization (percentage of request) above target"]


def test_recommendation_below_min_is_limited(harness: Harness) -> None:
    """desired-replicas 0 with minReplicas 2: scaled to 2, TooFewReplicas."""
    harness.create("deployments", deployment(4))
    harness.create("horizontalpodautoscalers", hpa(low=2, desired=0))
    harness.eventually(lambda: replicas(harness) == 2)
    status = hpa_status(harness, currentReplicas=4, desiredReplicas=2,
                        ScalingLimited="TooFewReplicas")
    assert condition(status, "ScalingLimited")["status"] == "True"
    assert harness.messages("SuccessfulRescale") == [
        "New size: 2; reason: All metrics below target"]


def test_recommendation_within_range_is_applied(harness: Harness) -> None:
    """desired-replicas 3 within [1, 5]: scaled to 3, ScalingLimited False; then back to 2."""
    harness.create("deployments", deployment(2))
    harness.create("horizontalpodautoscalers", hpa(desired=3))
    harness.eventually(lambda: replicas(harness) == 3)
    status = hpa_status(harness, currentReplicas=2, desiredReplicas=3,
                        ScalingLimited="DesiredWithinRange", AbleToScale="SucceededRescale")
    assert condition(status, "ScalingLimited")["status"] == "False"
    annotate(harness, 2)
    harness.eventually(lambda: replicas(harness) == 2)


def test_invalid_annotation_is_ignored(harness: Harness) -> None:
    """A desired-replicas value that is not a number counts as no metrics."""
    harness.create("deployments", deployment(2))
    harness.create("horizontalpodautoscalers", hpa(desired=None))
    annotate(harness, "lots")
    hpa_status(harness, ScalingActive="FailedGetResourceMetric")
    harness.settle()
    assert replicas(harness) == 2


def test_scale_up_is_rate_limited(harness: Harness) -> None:
    """From 1 replica a recommendation of 10 is limited to 4 until the next sync."""
    harness.create("deployments", deployment(1))
    harness.create("horizontalpodautoscalers", hpa(high=20, desired=10))
    harness.eventually(lambda: replicas(harness) == 4)
    status = hpa_status(harness, ScalingLimited="ScaleUpLimit", desiredReplicas=4)
    assert condition(status, "ScalingLimited")["message"] == (
        "the desired replica count is increasing faster than the maximum scale rate")
    harness.settle()
    assert replicas(harness) == 4


def test_rate_limited_scale_up_continues_each_sync() -> None:
    """Each sync period takes the scale-up one step further: 4, 8, then 10."""
    quick = functools.partial(HorizontalPodAutoscalerController, sync_period=0.2)
    with Harness(quick) as harness:
        harness.create("deployments", deployment(1))
        harness.create("horizontalpodautoscalers", hpa(high=20, desired=10))
        harness.eventually(lambda: replicas(harness) == 10)
        sizes = [int(m.split(";")[0].split()[-1]) for m in harness.messages("SuccessfulRescale")]
        assert sizes == [4, 8, 10]
        hpa_status(harness, ScalingLimited="DesiredWithinRange", currentReplicas=10,
                   desiredReplicas=10)


def test_missing_target_cannot_be_scaled(harness: Harness) -> None:
    """An HPA whose target does not exist reports FailedGetScale."""
    harness.create("horizontalpodautoscalers", hpa())
    status = hpa_status(harness, AbleToScale="FailedGetScale")
    able = condition(status, "AbleToScale")
    assert able["status"] == "False"
    assert able["message"] == ("the HPA controller was unable to get the target's current "
                               'scale: deployments.apps "web" not found')
    assert harness.messages("FailedGetScale") == ['deployments.apps "web" not found']


def test_target_at_zero_replicas_disables_scaling(harness: Harness) -> None:
    """A target scaled to 0 is left at 0 with ScalingDisabled."""
    harness.create("deployments", deployment(0))
    harness.create("horizontalpodautoscalers", hpa(low=2, desired=4))
    status = hpa_status(harness, ScalingActive="ScalingDisabled", desiredReplicas=0)
    assert "currentReplicas" not in status  # omitempty, like the real status
    assert condition(status, "ScalingActive")["message"] == (
        "scaling is disabled since the replica count of the target is zero")
    harness.settle()
    assert replicas(harness) == 0


def test_statefulset_target(harness: Harness) -> None:
    """StatefulSets are scaled the same way."""
    sts = deployment(7)
    sts["spec"]["serviceName"] = "web"
    harness.create("statefulsets", sts)
    harness.create("horizontalpodautoscalers", hpa(high=3, kind="StatefulSet"))
    harness.eventually(lambda: replicas(harness, "statefulsets") == 3)
    assert meta(harness.get("statefulsets", "web") or {})["generation"] == 2
