"""Where the sandbox's scheduler may put a pod, and how it explains a pod it cannot place.

Covers: cordoned nodes (unless the pod tolerates the unschedulable taint), NotReady and
unreachable nodes (their taints, even before the taints land), untolerated taints with
their key and value, nodeSelector mismatches, the order the real scheduler's filters
apply in, and the FailedScheduling text with its per-reason histogram.
"""

from __future__ import annotations

from typing import Any

import pytest

from healer.sandbox.controllers.nodes import Scheduler, unschedulable_message


def node(ready: str = "True", *, unschedulable: bool = False,
         taints: list[dict[str, str]] | None = None, **labels: str) -> dict[str, Any]:
    return {"metadata": {"name": "n", "labels": labels},
            "spec": {"unschedulable": unschedulable, "taints": taints or []},
            "status": {"conditions": [{"type": "Ready", "status": ready}]}}


POD: dict[str, Any] = {"containers": [{"name": "a", "image": "a"}]}


@pytest.mark.parametrize(("pod_spec", "candidate", "reason"), [
    (POD, node(), None),
    (POD, node(unschedulable=True), "node(s) were unschedulable"),
    ({**POD, "tolerations": [{"key": "node.kubernetes.io/unschedulable",
                              "operator": "Exists", "effect": "NoSchedule"}]},
     node(unschedulable=True), None),
    (POD, node("False"), "node(s) had untolerated taint {node.kubernetes.io/not-ready: }"),
    (POD, node("Unknown"),
     "node(s) had untolerated taint {node.kubernetes.io/unreachable: }"),
    (POD, node(taints=[{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]),
     "node(s) had untolerated taint {dedicated: gpu}"),
    ({**POD, "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "gpu",
                              "effect": "NoSchedule"}]},
     node(taints=[{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]), None),
    (POD, node(taints=[{"key": "soft", "effect": "PreferNoSchedule"}]), None),
    ({**POD, "nodeSelector": {"zone": "a"}}, node(zone="b"),
     "node(s) didn't match Pod's node affinity/selector"),
    ({**POD, "nodeSelector": {"zone": "a"}}, node(unschedulable=True, zone="b"),
     "node(s) were unschedulable"),
])
def test_where_a_pod_may_go(pod_spec: dict[str, Any], candidate: dict[str, Any],
                            reason: str | None) -> None:
    """Each node either fits or fails with the first failing filter's reason."""
    assert Scheduler._misfit(pod_spec, candidate) == reason


def test_failed_scheduling_message_counts_reasons() -> None:
    """The message counts nodes per reason, sorted, as `kubectl describe pod` shows it."""
    message = unschedulable_message([
        "node(s) were unschedulable",
        "node(s) didn't match Pod's node affinity/selector",
        "node(s) didn't match Pod's node affinity/selector",
    ])
    assert message == (
        "0/3 nodes are available: 1 node(s) were unschedulable, 2 node(s) didn't match "
        "Pod's node affinity/selector. preemption: 0/3 nodes are available: "
        "3 Preemption is not helpful for scheduling.")


def test_no_nodes_at_all() -> None:
    """A cluster without nodes says so."""
    assert unschedulable_message([]) == "no nodes available to schedule pods"
