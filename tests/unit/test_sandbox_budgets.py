"""The sandbox's PodDisruptionBudget controller (healer.sandbox.controllers.budgets).

Covers:
- status (currentHealthy, desiredHealthy, expectedPods, disruptionsAllowed, the
  DisruptionAllowed condition, observedGeneration) kept current as matching pods come,
  go and change readiness, while other pods are ignored;
- expectedPods from the owning workload's replicas, recomputed when it is scaled;
- an eviction spending the budget, and the status catching up after the pod is gone;
- `disruptedPods` entries expiring after two minutes;
- the NoPods event for a budget that selects nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from healer.sandbox import status as api_status
from healer.sandbox.controllers.budgets import PodDisruptionBudgetController
from healer.sandbox.disruption import evict
from healer.sandbox.store import Obj, meta, rfc3339
from tests.unit.sandbox_harness import Harness, condition


@pytest.fixture
def harness() -> Iterator[Harness]:
    with Harness(PodDisruptionBudgetController) as h:
        h.kubelet.hold = lambda pod: True  # the tests set pod status themselves
        yield h


def pod(harness: Harness, name: str, labels: dict[str, str], *, healthy: bool = True,
        owner: Obj | None = None) -> Obj:
    metadata: dict[str, Any] = {"name": name, "labels": labels}
    if owner is not None:
        metadata["ownerReferences"] = [{"apiVersion": owner["apiVersion"],
                                        "kind": owner["kind"], "name": meta(owner)["name"],
                                        "uid": meta(owner)["uid"], "controller": True}]
    harness.create("pods", {"metadata": metadata, "spec": {
        "containers": [{"name": "app", "image": "web:1"}]}})
    set_ready(harness, name, healthy)
    return harness.get("pods", name) or {}


def set_ready(harness: Harness, name: str, ready: bool) -> None:
    def change(obj: Obj) -> None:
        obj["status"].update(phase="Running", conditions=[
            {"type": "Ready", "status": "True" if ready else "False"}])
    harness.modify("pods", name, change, subresource="status")


def budget(harness: Harness, **spec: Any) -> Obj:
    return harness.create("poddisruptionbudgets", {
        "metadata": {"name": "web"},
        "spec": {"selector": {"matchLabels": {"app": "web"}}, **spec}})


def pdb_status(harness: Harness, **expected: Any) -> dict[str, Any]:
    def check() -> dict[str, Any]:
        status = harness.status("poddisruptionbudgets", "web")
        return status if all(status.get(k) == v for k, v in expected.items()) else {}
    return harness.eventually(check, what=f"pdb status {expected}")


def test_status_follows_matching_pods(harness: Harness) -> None:
    """Healthy counts and allowed disruptions follow the selected pods' readiness."""
    created = budget(harness, minAvailable=2)
    for name in ("web-1", "web-2", "web-3"):
        pod(harness, name, {"app": "web"})
    pod(harness, "other", {"app": "other"})
    status = pdb_status(harness, currentHealthy=3, disruptionsAllowed=1)
    assert status["desiredHealthy"] == 2
    assert status["expectedPods"] == 3
    assert status["observedGeneration"] == meta(created)["generation"]
    allowed = condition(status, "DisruptionAllowed")
    assert (allowed["status"], allowed["reason"]) == ("True", "SufficientPods")
    set_ready(harness, "web-2", False)
    status = pdb_status(harness, currentHealthy=2, disruptionsAllowed=0)
    allowed = condition(status, "DisruptionAllowed")
    assert (allowed["status"], allowed["reason"]) == ("False", "InsufficientPods")
    harness.delete("pods", "web-2")
    pdb_status(harness, currentHealthy=2, expectedPods=2, disruptionsAllowed=0)
    pod(harness, "web-4", {"app": "web"})
    pdb_status(harness, currentHealthy=3, expectedPods=3, disruptionsAllowed=1)


def test_expected_pods_follow_the_owner_replicas(harness: Harness) -> None:
    """With maxUnavailable, expectedPods is the owner's replicas and follows its scaling."""
    owner = harness.create("replicasets", {
        "metadata": {"name": "web-abc"},
        "spec": {"replicas": 4, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "app", "image": "web:1"}]}}}})
    budget(harness, maxUnavailable=1)
    for name in ("web-abc-1", "web-abc-2", "web-abc-3"):
        pod(harness, name, {"app": "web"}, owner=owner)
    pdb_status(harness, expectedPods=4, desiredHealthy=3, currentHealthy=3,
               disruptionsAllowed=0)
    harness.modify("replicasets", "web-abc", lambda rs: rs["spec"].__setitem__("replicas", 3))
    pdb_status(harness, expectedPods=3, desiredHealthy=2, currentHealthy=3,
               disruptionsAllowed=1)


def test_eviction_spends_the_budget(harness: Harness) -> None:
    """An allowed eviction removes the pod; the next one is refused with 429."""
    budget(harness, minAvailable=2)
    for name in ("web-1", "web-2", "web-3"):
        pod(harness, name, {"app": "web"})
    pdb_status(harness, currentHealthy=3, disruptionsAllowed=1)
    pods = harness.registry.core("pods")
    evict(harness.store, harness.registry, "default", "web-1", {})
    pdb_status(harness, currentHealthy=2, expectedPods=2, disruptionsAllowed=0)
    with pytest.raises(api_status.ApiError) as refused:
        evict(harness.store, harness.registry, "default", "web-2", {})
    assert refused.value.code == 429
    assert harness.store.find(pods, "default", "web-2") is not None


def test_disrupted_pod_entries_expire(harness: Harness) -> None:
    """A disruptedPods entry older than two minutes is dropped and the budget restored."""
    budget(harness, minAvailable=1)
    for name in ("web-1", "web-2"):
        pod(harness, name, {"app": "web"})
    pdb_status(harness, currentHealthy=2, disruptionsAllowed=1)
    nearly = rfc3339(harness.store.clock() - timedelta(seconds=118))

    def disrupt(obj: Obj) -> None:
        obj["status"]["disruptedPods"] = {"web-1": nearly}

    harness.modify("poddisruptionbudgets", "web", disrupt, subresource="status")
    status = pdb_status(harness, currentHealthy=1, disruptionsAllowed=0)
    assert status["disruptedPods"] == {"web-1": nearly}
    status = pdb_status(harness, currentHealthy=2, disruptionsAllowed=1)
    assert "disruptedPods" not in status


def test_budget_without_pods_says_so(harness: Harness) -> None:
    """A budget selecting no pods reports zero of everything and a NoPods event."""
    budget(harness, minAvailable=1)
    status = pdb_status(harness, currentHealthy=0, expectedPods=0, disruptionsAllowed=0,
                        desiredHealthy=1)
    assert status["observedGeneration"] == 1
    assert harness.eventually(lambda: harness.messages("NoPods")) == ["No matching pods found"]
