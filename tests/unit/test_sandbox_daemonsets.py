"""The sandbox's DaemonSet controller (healer.sandbox.controllers.sets).

Covers:
- one pod per eligible node, bound with `spec.nodeName` and a metadata.name node affinity,
  with the daemon tolerations and the controller-revision-hash label;
- eligibility: nodeSelector, required node affinity, untolerated taints; a NoSchedule
  taint keeps a running pod (misscheduled), a NoExecute one removes it; cordoned nodes
  still run daemon pods;
- reacting to nodes being added, relabelled and deleted;
- a failed daemon pod is replaced (FailedDaemonPod);
- rolling updates: node by node within maxUnavailable, and with maxSurge the new pod
  starts before the old one goes;
- status: desired/current/ready/available/updated/misscheduled/unavailable counts and
  observedGeneration.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from healer.sandbox.controllers.sets import DaemonSetController
from healer.sandbox.store import Obj, meta
from tests.unit.sandbox_harness import Harness, ready

NODES = ("node-a", "node-b", "node-c")


@pytest.fixture
def harness() -> Iterator[Harness]:
    with Harness(DaemonSetController) as h:
        for name in NODES:
            add_node(h, name)
        yield h


def add_node(harness: Harness, name: str, labels: dict[str, str] | None = None,
             taints: list[dict[str, str]] | None = None) -> None:
    harness.create("nodes", {"metadata": {"name": name, "labels": {
        "kubernetes.io/hostname": name, **(labels or {})}},
        "spec": {"taints": taints} if taints else {}})


def agent(**spec: Any) -> dict[str, Any]:
    template_spec = {"containers": [{"name": "agent", "image": "agent:1"}],
                     **spec.pop("pod", {})}
    return {"metadata": {"name": "agent"},
            "spec": {"selector": {"matchLabels": {"app": "agent"}},
                     "template": {"metadata": {"labels": {"app": "agent"}},
                                  "spec": template_spec}, **spec}}


def by_node(harness: Harness) -> dict[str, list[Obj]]:
    placed: dict[str, list[Obj]] = {}
    for pod in harness.pods("agent"):
        placed.setdefault(pod["spec"]["nodeName"], []).append(pod)
    return placed


def revision(pod: Obj) -> str:
    return str(meta(pod)["labels"]["controller-revision-hash"])


def settled_status(harness: Harness, **expected: int) -> dict[str, Any]:
    """The DaemonSet's status once it has the expected counts."""
    def check() -> dict[str, Any]:
        status = harness.status("daemonsets", "agent")
        return status if all(status.get(k, 0) == v for k, v in expected.items()) else {}
    return harness.eventually(check, what=f"daemonset status {expected}")


def test_one_bound_pod_per_node(harness: Harness) -> None:
    """Every node gets one pod, bound to it, tolerating node problems, with status counts."""
    created = harness.create("daemonsets", agent())
    status = settled_status(harness, desiredNumberScheduled=3, numberReady=3,
                            numberAvailable=3, updatedNumberScheduled=3)
    assert status == {"currentNumberScheduled": 3, "numberMisscheduled": 0,
                      "desiredNumberScheduled": 3, "numberReady": 3,
                      "observedGeneration": meta(created)["generation"],
                      "updatedNumberScheduled": 3, "numberAvailable": 3}
    placed = by_node(harness)
    assert sorted(placed) == list(NODES)
    for node, pods in placed.items():
        (pod,) = pods
        assert meta(pod)["name"].startswith("agent-")
        assert meta(pod)["labels"]["app"] == "agent"
        assert revision(pod)
        assert meta(pod)["labels"]["pod-template-generation"] == "1"
        terms = pod["spec"]["affinity"]["nodeAffinity"][
            "requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
        assert terms == [{"matchFields": [{"key": "metadata.name", "operator": "In",
                                           "values": [node]}]}]
        tolerated = {(t["key"], t["effect"]) for t in pod["spec"]["tolerations"]}
        assert tolerated >= {("node.kubernetes.io/not-ready", "NoExecute"),
                             ("node.kubernetes.io/unreachable", "NoExecute"),
                             ("node.kubernetes.io/disk-pressure", "NoSchedule"),
                             ("node.kubernetes.io/memory-pressure", "NoSchedule"),
                             ("node.kubernetes.io/pid-pressure", "NoSchedule"),
                             ("node.kubernetes.io/unschedulable", "NoSchedule")}
    assert len(harness.messages("SuccessfulCreate")) == 3


def test_node_selector_affinity_and_taints_choose_the_nodes(harness: Harness) -> None:
    """Only nodes matching nodeSelector and affinity, whose taints are tolerated, get pods."""
    add_node(harness, "gpu-1", {"gpu": "true"})
    add_node(harness, "gpu-2", {"gpu": "true"}, [{"key": "dedicated", "value": "ml",
                                                  "effect": "NoSchedule"}])
    add_node(harness, "gpu-3", {"gpu": "true", "zone": "b"})
    add_node(harness, "cordoned", {"gpu": "true", "zone": "a"}, [
        {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}])
    harness.create("daemonsets", agent(pod={
        "nodeSelector": {"gpu": "true"},
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [
                {"key": "zone", "operator": "NotIn", "values": ["b"]}]}]}}}}))
    settled_status(harness, desiredNumberScheduled=2, numberReady=2)
    placed = by_node(harness)
    assert sorted(placed) == ["cordoned", "gpu-1"]
    terms = placed["gpu-1"][0]["spec"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert terms == [{"matchExpressions": [{"key": "zone", "operator": "NotIn",
                                            "values": ["b"]}],
                      "matchFields": [{"key": "metadata.name", "operator": "In",
                                       "values": ["gpu-1"]}]}]


def test_follows_nodes_added_relabelled_and_deleted(harness: Harness) -> None:
    """A new node gets a pod; losing the label or the node removes it."""
    harness.create("daemonsets", agent(pod={"nodeSelector": {"agent": "yes"}}))
    harness.settle()
    assert by_node(harness) == {}
    add_node(harness, "node-d", {"agent": "yes"})
    add_node(harness, "node-e", {"agent": "yes"})
    harness.eventually(lambda: sorted(by_node(harness)) == ["node-d", "node-e"])
    harness.modify("nodes", "node-d", lambda node: node["metadata"]["labels"].pop("agent"))
    harness.eventually(lambda: sorted(by_node(harness)) == ["node-e"])
    harness.kubelet.linger = lambda pod: True  # a deleted node's kubelet never finishes
    harness.delete("nodes", "node-e")
    harness.eventually(lambda: by_node(harness) == {})
    settled_status(harness, desiredNumberScheduled=0, currentNumberScheduled=0)


def test_noschedule_taint_keeps_the_pod_noexecute_removes_it(harness: Harness) -> None:
    """A NoSchedule taint leaves the running pod (misscheduled); NoExecute evicts it."""
    harness.create("daemonsets", agent())
    settled_status(harness, desiredNumberScheduled=3, numberReady=3)
    harness.modify("nodes", "node-a", lambda node: node.setdefault("spec", {}).__setitem__(
        "taints", [{"key": "maintenance", "effect": "NoSchedule"}]))
    status = settled_status(harness, desiredNumberScheduled=2, numberMisscheduled=1)
    assert status["currentNumberScheduled"] == 2
    assert "node-a" in by_node(harness)
    harness.modify("nodes", "node-a", lambda node: node["spec"].__setitem__(
        "taints", [{"key": "maintenance", "effect": "NoExecute"}]))
    harness.eventually(lambda: sorted(by_node(harness)) == ["node-b", "node-c"])
    settled_status(harness, desiredNumberScheduled=2, numberMisscheduled=0)


def test_failed_daemon_pod_is_replaced(harness: Harness) -> None:
    """A Failed daemon pod is deleted with a FailedDaemonPod warning and replaced."""
    harness.create("daemonsets", agent())
    settled_status(harness, numberReady=3)
    doomed = by_node(harness)["node-b"][0]
    harness.kubelet.finish = lambda pod: "Failed" if meta(pod)["uid"] == meta(doomed)[
        "uid"] else None
    harness.kick_pods()
    harness.eventually(lambda: [p for p in by_node(harness).get("node-b", [])
                                if meta(p)["uid"] != meta(doomed)["uid"] and ready(p)])
    (message,) = harness.messages("FailedDaemonPod")
    assert message == (f"Found failed daemon pod default/{meta(doomed)['name']} on node "
                       "node-b, will try to kill it")


def test_rolling_update_replaces_one_node_at_a_time(harness: Harness) -> None:
    """With maxUnavailable 1, only one node is without a ready pod during the update."""
    harness.create("daemonsets", agent())
    settled_status(harness, numberReady=3)
    old = revision(by_node(harness)["node-a"][0])
    harness.kubelet.hold = lambda pod: revision(pod) != old  # new pods stay Pending
    harness.modify("daemonsets", "agent", lambda ds: ds["spec"]["template"]["metadata"]
                   .setdefault("annotations", {}).__setitem__("restartedAt", "now"))

    def updated_nodes() -> list[str]:
        return sorted(n for n, pods in by_node(harness).items()
                      if any(revision(p) != old for p in pods))

    assert len(harness.eventually(updated_nodes)) == 1
    harness.settle()
    assert len(updated_nodes()) == 1
    assert sum(1 for pods in by_node(harness).values() for p in pods
               if revision(p) == old) == 2
    harness.kubelet.hold = lambda pod: False
    harness.kick_pods()
    harness.eventually(lambda: updated_nodes() == list(NODES))
    status = settled_status(harness, updatedNumberScheduled=3, numberAvailable=3)
    assert status["observedGeneration"] == meta(harness.get("daemonsets", "agent") or {})[
        "generation"]


def test_max_surge_starts_the_new_pod_before_removing_the_old(harness: Harness) -> None:
    """With maxSurge 1 and maxUnavailable 0 the old pod stays until its successor is ready."""
    harness.create("daemonsets", agent(updateStrategy={
        "type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}))
    settled_status(harness, numberReady=3)
    old = revision(by_node(harness)["node-a"][0])
    harness.kubelet.hold = lambda pod: revision(pod) != old
    harness.modify("daemonsets", "agent", lambda ds: ds["spec"]["template"]["metadata"]
                   .setdefault("annotations", {}).__setitem__("restartedAt", "now"))

    def doubled() -> list[str]:
        return [n for n, pods in by_node(harness).items() if len(pods) == 2]

    assert len(harness.eventually(doubled)) == 1
    harness.settle()
    assert len(doubled()) == 1
    assert all(any(revision(p) == old and ready(p) for p in pods)
               for pods in by_node(harness).values())
    harness.kubelet.hold = lambda pod: False
    harness.kick_pods()
    harness.eventually(lambda: all(len(pods) == 1 and revision(pods[0]) != old
                                   for pods in by_node(harness).values())
                       and len(by_node(harness)) == 3)
    settled_status(harness, updatedNumberScheduled=3, numberAvailable=3)
