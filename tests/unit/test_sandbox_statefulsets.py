"""The sandbox's StatefulSet controller (healer.sandbox.controllers.sets).

Covers:
- pod identity: `<set>-<ordinal>` names, hostname/subdomain, the pod-name, pod-index and
  controller-revision-hash labels, the controller owner reference, claim volumes, events;
- OrderedReady: ordinal i only once 0..i-1 are Running and Ready; Parallel: all at once;
- a deleted or failed pod comes back under the same name;
- scale-down removes the highest ordinal first, one at a time, waiting for termination;
- RollingUpdate of a template change: highest ordinal first, one at a time (also with
  Parallel), waiting for the replacement to be Ready; partition; OnDelete;
- status as `kubectl rollout status statefulset` reads it (observedGeneration, ready,
  current/updated counts and revisions, collisionCount).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from healer.sandbox.controllers.sets import StatefulSetController
from healer.sandbox.store import Obj, meta
from tests.unit.sandbox_harness import Harness, ready

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"


@pytest.fixture
def harness() -> Iterator[Harness]:
    with Harness(StatefulSetController) as h:
        yield h


def web(replicas: int = 3, **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "web"},
            "spec": {"replicas": replicas, "serviceName": "web-headless",
                     "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "app", "image": "nginx:1"}]}},
                     **spec}}


def revision(pod: Obj) -> str:
    return str((meta(pod).get("labels") or {}).get("controller-revision-hash"))


def restart(harness: Harness, stamp: str = "2025-01-01T00:00:00Z") -> None:
    """What `kubectl rollout restart` does to the template."""
    harness.modify("statefulsets", "web", lambda obj: obj["spec"]["template"]["metadata"]
                   .setdefault("annotations", {}).__setitem__(RESTARTED_AT, stamp))


def all_ready(harness: Harness, count: int) -> list[Obj]:
    pods = harness.pods("web")
    return pods if len(pods) == count and all(ready(p) for p in pods) else []


def rolled_out(harness: Harness, replicas: int) -> dict[str, Any]:
    """The status once `kubectl rollout status statefulset` would report success."""
    found = harness.get("statefulsets", "web") or {}
    status = found.get("status") or {}
    done = (status.get("observedGeneration") == meta(found).get("generation")
            and status.get("readyReplicas") == replicas
            and status.get("updatedReplicas") == replicas
            and status.get("currentRevision") == status.get("updateRevision"))
    return status if done else {}


def test_pods_get_a_stable_identity(harness: Harness) -> None:
    """Pods are named by ordinal and carry hostname, subdomain, identity labels and owner."""
    sts = harness.create("statefulsets", web(
        2, volumeClaimTemplates=[{"metadata": {"name": "data"}, "spec": {}}]))
    pods = harness.eventually(lambda: all_ready(harness, 2))
    assert [meta(p)["name"] for p in pods] == ["web-0", "web-1"]
    for ordinal, pod in enumerate(pods):
        labels = meta(pod)["labels"]
        assert labels["app"] == "web"
        assert labels["statefulset.kubernetes.io/pod-name"] == f"web-{ordinal}"
        assert labels["apps.kubernetes.io/pod-index"] == str(ordinal)
        assert labels["controller-revision-hash"].startswith("web-")
        assert pod["spec"]["hostname"] == f"web-{ordinal}"
        assert pod["spec"]["subdomain"] == "web-headless"
        assert {"name": "data", "persistentVolumeClaim": {"claimName": f"data-web-{ordinal}"}} \
            in pod["spec"]["volumes"]
        owner = meta(pod)["ownerReferences"][0]
        assert (owner["kind"], owner["uid"], owner["controller"]) == (
            "StatefulSet", meta(sts)["uid"], True)
    assert harness.messages("SuccessfulCreate") == [
        "create Pod web-0 in StatefulSet web successful",
        "create Pod web-1 in StatefulSet web successful"]


def test_ordered_ready_waits_for_each_predecessor(harness: Harness) -> None:
    """OrderedReady creates web-1 only once web-0 is Running and Ready."""
    harness.kubelet.hold = lambda pod: meta(pod)["name"] == "web-0"
    harness.create("statefulsets", web(3))
    harness.eventually(lambda: harness.pod_names("web") == ["web-0"])
    harness.settle()
    assert harness.pod_names("web") == ["web-0"]
    harness.kubelet.hold = lambda pod: meta(pod)["name"] == "web-1"
    harness.kick_pods()
    harness.eventually(lambda: harness.pod_names("web") == ["web-0", "web-1"])
    harness.settle()
    assert harness.pod_names("web") == ["web-0", "web-1"]
    harness.kubelet.hold = lambda pod: False
    harness.kick_pods()
    harness.eventually(lambda: all_ready(harness, 3))


def test_parallel_creates_every_pod_at_once(harness: Harness) -> None:
    """Parallel pod management does not wait for predecessors to be ready."""
    harness.kubelet.hold = lambda pod: True
    harness.create("statefulsets", web(3, podManagementPolicy="Parallel"))
    harness.eventually(lambda: harness.pod_names("web") == ["web-0", "web-1", "web-2"])
    assert not any(ready(p) for p in harness.pods("web"))


def test_deleted_pod_comes_back_under_the_same_name(harness: Harness) -> None:
    """A deleted pod is replaced by a new pod of the same name."""
    harness.create("statefulsets", web(3))
    before = {meta(p)["name"]: meta(p)["uid"] for p in harness.eventually(
        lambda: all_ready(harness, 3))}
    harness.delete("pods", "web-1")

    def replaced() -> bool:
        pod = harness.get("pods", "web-1")
        return pod is not None and meta(pod)["uid"] != before["web-1"] and ready(pod)

    harness.eventually(replaced)
    after = {meta(p)["name"]: meta(p)["uid"] for p in harness.pods("web")}
    assert after["web-0"] == before["web-0"]
    assert after["web-2"] == before["web-2"]


def test_failed_pod_is_deleted_and_recreated(harness: Harness) -> None:
    """A pod that ends Failed is deleted and created again."""
    harness.create("statefulsets", web(1))
    first = harness.eventually(lambda: all_ready(harness, 1))[0]
    harness.kubelet.finish = lambda pod: "Failed" if meta(pod)["uid"] == meta(first)["uid"] \
        else None
    harness.kick_pods()
    harness.eventually(lambda: [p for p in all_ready(harness, 1)
                                if meta(p)["uid"] != meta(first)["uid"]])
    assert "delete Pod web-0 in StatefulSet web successful" in harness.messages(
        "SuccessfulDelete")


def test_scale_down_removes_the_highest_ordinal_first(harness: Harness) -> None:
    """Scaling 3 → 1 terminates web-2, waits for it to be gone, then web-1."""
    harness.create("statefulsets", web(3))
    harness.eventually(lambda: all_ready(harness, 3))
    harness.kubelet.linger = lambda pod: True
    harness.modify("statefulsets", "web", lambda obj: obj["spec"].__setitem__("replicas", 1))

    def terminating() -> list[str]:
        return sorted(meta(p)["name"] for p in harness.pods("web")
                      if meta(p).get("deletionTimestamp"))

    assert harness.eventually(terminating) == ["web-2"]
    harness.settle()
    assert terminating() == ["web-2"]
    harness.kubelet.linger = lambda pod: meta(pod)["name"] != "web-2"
    harness.kick_pods()
    harness.eventually(lambda: terminating() == ["web-1"])
    harness.kubelet.linger = lambda pod: False
    harness.kick_pods()
    harness.eventually(lambda: harness.pod_names("web") == ["web-0"])
    status = harness.eventually(lambda: harness.status("statefulsets", "web")
                                if harness.status("statefulsets", "web")["replicas"] == 1
                                else None)
    assert status["readyReplicas"] == 1


def test_rolling_update_goes_from_the_highest_ordinal_down(harness: Harness) -> None:
    """A restart replaces web-2, web-1, web-0 in turn, each once the previous is Ready."""
    harness.create("statefulsets", web(3))
    old = revision(harness.eventually(lambda: all_ready(harness, 3))[0])
    harness.eventually(lambda: rolled_out(harness, 3))
    harness.kubelet.hold = lambda pod: revision(pod) != old  # replacements stay Pending
    restart(harness)
    harness.eventually(lambda: [p for p in harness.pods("web")
                                if meta(p)["name"] == "web-2" and revision(p) != old])
    harness.settle()
    assert [revision(p) == old for p in harness.pods("web")] == [True, True, False]
    status = harness.status("statefulsets", "web")
    assert status["currentRevision"] == old
    assert status["updateRevision"] != status["currentRevision"]
    assert status["updatedReplicas"] == 1
    harness.kubelet.hold = lambda pod: False
    harness.kick_pods()
    status = harness.eventually(lambda: rolled_out(harness, 3))
    assert status["currentReplicas"] == 3
    assert all(revision(p) == status["updateRevision"] for p in harness.pods("web"))
    assert harness.messages("SuccessfulDelete") == [
        f"delete Pod web-{i} in StatefulSet web successful" for i in (2, 1, 0)]


def test_parallel_rolling_update_still_replaces_one_pod_at_a_time(harness: Harness) -> None:
    """Parallel pod management does not widen the update beyond maxUnavailable 1."""
    harness.create("statefulsets", web(3, podManagementPolicy="Parallel"))
    old = harness.eventually(lambda: rolled_out(harness, 3))["currentRevision"]
    harness.kubelet.hold = lambda pod: revision(pod) != old
    restart(harness)
    harness.eventually(lambda: any(revision(p) != old for p in harness.pods("web")))
    harness.settle()
    assert [revision(p) == old for p in harness.pods("web")] == [True, True, False]
    harness.kubelet.hold = lambda pod: False
    harness.kick_pods()
    harness.eventually(lambda: rolled_out(harness, 3))


def test_partition_updates_only_the_ordinals_above_it(harness: Harness) -> None:
    """With partition 2 only web-2 is updated; a deleted web-0 returns at the old revision."""
    harness.create("statefulsets", web(3, updateStrategy={
        "type": "RollingUpdate", "rollingUpdate": {"partition": 2}}))
    harness.eventually(lambda: all_ready(harness, 3))
    old = harness.eventually(lambda: rolled_out(harness, 3))["currentRevision"]
    restart(harness)

    def partitioned() -> dict[str, Any]:
        status = harness.status("statefulsets", "web")
        return status if status.get("updatedReplicas") == 1 and status.get(
            "readyReplicas") == 3 else {}

    status = harness.eventually(partitioned)
    assert status["currentRevision"] == old
    assert status["currentReplicas"] == 2
    assert [revision(p) == old for p in harness.pods("web")] == [True, True, False]
    first = meta(harness.get("pods", "web-0") or {})["uid"]
    harness.delete("pods", "web-0")
    back = harness.eventually(lambda: [p for p in all_ready(harness, 3)
                                       if meta(p)["name"] == "web-0"
                                       and meta(p)["uid"] != first])[0]
    assert revision(back) == old


def test_on_delete_updates_a_pod_only_when_it_is_deleted(harness: Harness) -> None:
    """OnDelete leaves pods alone after a template change; a deleted one comes back new."""
    harness.create("statefulsets", web(2, updateStrategy={"type": "OnDelete"}))
    harness.eventually(lambda: all_ready(harness, 2))
    old = harness.eventually(lambda: rolled_out(harness, 2))["currentRevision"]
    restart(harness)
    harness.eventually(lambda: harness.status("statefulsets", "web")["updateRevision"] != old)
    harness.settle()
    assert not harness.events("SuccessfulDelete")
    assert all(revision(p) == old for p in harness.pods("web"))
    harness.delete("pods", "web-1")
    new = harness.eventually(lambda: [p for p in all_ready(harness, 2)
                                      if meta(p)["name"] == "web-1" and revision(p) != old])[0]
    assert revision(new) == harness.status("statefulsets", "web")["updateRevision"]


def test_status_carries_what_rollout_status_reads(harness: Harness) -> None:
    """Status has observedGeneration, counts, revisions and collisionCount."""
    created = harness.create("statefulsets", web(2))
    status = harness.eventually(lambda: rolled_out(harness, 2))
    assert status == {
        "observedGeneration": meta(created)["generation"], "replicas": 2, "readyReplicas": 2,
        "currentReplicas": 2, "updatedReplicas": 2, "availableReplicas": 2,
        "currentRevision": status["updateRevision"], "updateRevision": status["updateRevision"],
        "collisionCount": 0}
    assert status["updateRevision"] == "web-" + revision(harness.pods("web")[0]).split("-")[1]
