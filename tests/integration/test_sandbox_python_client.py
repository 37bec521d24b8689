"""The official `kubernetes` Python client against the cluster under test, unchanged.

Runs against the session sandbox, or against a real cluster with HEALER_TEST_KUBECONFIG
(every test here holds on both: nodes are discovered, the image is the pause image).

Covers:
- list: labelSelector; fieldSelector on `status.phase`, `spec.nodeName` and
  `metadata.name`; `limit`/`continue` paging over a consistent snapshot;
- watch: resuming from a list's resourceVersion; a deleted pod and its replacement;
- patch: strategic merge (a new image rolls out a new ReplicaSet, lists merge by key),
  JSON merge patch (lists are replaced, null removes), JSON patch (including a failed
  `test` operation);
- the scale subresource of Deployments and StatefulSets;
- delete: `gracePeriodSeconds`; propagation Background, Foreground and Orphan;
- eviction: refused (429 TooManyRequests, DisruptionBudget cause) by a PDB with
  `maxUnavailable: 0`; allowed, after which the ReplicaSet replaces the pod;
- server-filled metadata: uid, creationTimestamp, increasing resourceVersion, generation
  bumped by spec changes only;
- optimistic concurrency: a stale resourceVersion is 409 Conflict;
- error bodies: 404 NotFound, 409 AlreadyExists, 422 Invalid;
- server-side dry run (`dryRun=All`) on create, patch and delete;
- events through `v1` and `events.k8s.io/v1`;
- leases, configmaps (immutable ones too), services, jobs, HPAs (autoscaling/v2),
  daemonsets (one pod per schedulable node).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kubernetes import client, watch
from kubernetes.client.rest import ApiException

from tests.support import Wait

PAUSE = "registry.k8s.io/pause:3.10"
PAUSE_PREVIOUS = "registry.k8s.io/pause:3.9"

Manifest = dict[str, Any]


# helpers -------------------------------------------------------------------------------


def pod_spec(**extra: Any) -> Manifest:
    return {"containers": [{"name": "app", "image": PAUSE}], **extra}


def bare_pod(name: str, labels: dict[str, str] | None = None, **spec: Any) -> Manifest:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": labels or {"app": name}},
            "spec": pod_spec(**spec)}


def deployment(name: str, replicas: int = 1, labels: dict[str, str] | None = None,
               **spec: Any) -> Manifest:
    labels = labels or {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "labels": dict(labels)},
            "spec": {"replicas": replicas, "selector": {"matchLabels": dict(labels)},
                     "template": {"metadata": {"labels": dict(labels)}, "spec": pod_spec()},
                     **spec}}


def is_ready(pod: client.V1Pod) -> bool:
    return (pod.metadata.deletion_timestamp is None and pod.status.phase == "Running"
            and any(c.type == "Ready" and c.status == "True"
                    for c in pod.status.conditions or []))


def ready_pods(core: client.CoreV1Api, namespace: str, selector: str) -> list[client.V1Pod]:
    return [p for p in core.list_namespaced_pod(namespace, label_selector=selector).items
            if is_ready(p)]


def has_ready(core: client.CoreV1Api, namespace: str, selector: str,
              count: int) -> list[client.V1Pod] | None:
    """The ready pods when exactly `count` pods match and all are ready; else None."""
    pods = core.list_namespaced_pod(namespace, label_selector=selector).items
    if len(pods) == count and all(is_ready(p) for p in pods):
        return pods
    return None


def error_body(error: ApiException) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(error.body)
    return body


def schedulable_nodes(core: client.CoreV1Api) -> set[str]:
    """Ready nodes without NoSchedule/NoExecute taints that are not cordoned."""
    found = set()
    for node in core.list_node().items:
        ready = any(c.type == "Ready" and c.status == "True"
                    for c in node.status.conditions or [])
        tainted = any(t.effect in ("NoSchedule", "NoExecute") for t in node.spec.taints or [])
        if ready and not tainted and not node.spec.unschedulable:
            found.add(node.metadata.name)
    return found


def daemon_nodes(core: client.CoreV1Api) -> set[str]:
    """The nodes a DaemonSet runs on: Ready and untainted, cordoned ones included (daemon
    pods tolerate `node.kubernetes.io/unschedulable`)."""
    found = set()
    for node in core.list_node().items:
        ready = any(c.type == "Ready" and c.status == "True"
                    for c in node.status.conditions or [])
        tainted = any(t.effect in ("NoSchedule", "NoExecute")
                      and t.key != "node.kubernetes.io/unschedulable"
                      for t in node.spec.taints or [])
        if ready and not tainted:
            found.add(node.metadata.name)
    return found


def any_schedulable_node(core: client.CoreV1Api) -> str:
    nodes = schedulable_nodes(core)
    assert nodes, "the cluster has no schedulable node"
    return sorted(nodes)[0]


# list ----------------------------------------------------------------------------------


def test_label_selector_filters_pods(core: client.CoreV1Api, namespace: str) -> None:
    """Equality, set-based and inequality label selectors pick the matching pods."""
    for name, tier in (("front-1", "front"), ("front-2", "front"), ("back-1", "back")):
        core.create_namespaced_pod(namespace, bare_pod(name, {"app": "shop", "tier": tier}))
    core.create_namespaced_pod(namespace, bare_pod("other", {"app": "other"}))

    def names(selector: str) -> set[str]:
        pods = core.list_namespaced_pod(namespace, label_selector=selector).items
        return {p.metadata.name for p in pods}

    assert names("tier=front") == {"front-1", "front-2"}
    assert names("app=shop,tier!=front") == {"back-1"}
    assert names("tier in (front,back)") == {"front-1", "front-2", "back-1"}
    assert names("!tier") == {"other"}
    assert names("app=nothing") == set()


def test_field_selectors_filter_pods(core: client.CoreV1Api, namespace: str,
                                     wait: Wait) -> None:
    """`status.phase`, `spec.nodeName` and `metadata.name` field selectors filter pods."""
    node = any_schedulable_node(core)
    core.create_namespaced_pod(namespace, bare_pod("pinned", nodeName=node))
    core.create_namespaced_pod(namespace, bare_pod("scheduled"))
    core.create_namespaced_pod(namespace, bare_pod(
        "stuck", nodeSelector={"healer.dev/no-such-node": "true"}))

    def names(selector: str) -> set[str]:
        pods = core.list_namespaced_pod(namespace, field_selector=selector).items
        return {p.metadata.name for p in pods}

    wait(lambda: names("status.phase=Running") == {"pinned", "scheduled"},
         "the two schedulable pods to run")
    assert names("status.phase=Pending") == {"stuck"}
    assert names("status.phase!=Running") == {"stuck"}
    assert "pinned" in names(f"spec.nodeName={node}")
    assert names("spec.nodeName=") == {"stuck"}
    assert names("metadata.name=scheduled") == {"scheduled"}
    assert names("metadata.name=scheduled,status.phase=Pending") == set()


def test_list_pages_with_limit_and_continue(core: client.CoreV1Api, namespace: str) -> None:
    """`limit` pages a list; `continue` resumes the same snapshot, changes come later."""
    for index in range(5):
        core.create_namespaced_config_map(namespace, {"metadata": {"name": f"cm-{index}"}})
    everything = core.list_namespaced_config_map(namespace)
    expected = [c.metadata.name for c in everything.items]  # a real cluster adds its own

    first = core.list_namespaced_config_map(namespace, limit=2)
    assert [c.metadata.name for c in first.items] == expected[:2]
    assert first.metadata._continue
    assert first.metadata.remaining_item_count == len(expected) - 2
    # changes after the first page are not part of this list: it is one snapshot
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "cm-9-late"}})
    core.delete_namespaced_config_map(expected[2], namespace)
    seen = [c.metadata.name for c in first.items]
    token = first.metadata._continue
    while token:
        page = core.list_namespaced_config_map(namespace, limit=2, _continue=token)
        assert len(page.items) <= 2
        assert page.metadata.resource_version == first.metadata.resource_version
        seen += [c.metadata.name for c in page.items]
        token = page.metadata._continue
    assert seen == expected

    fresh = core.list_namespaced_config_map(namespace)
    assert "cm-9-late" in {c.metadata.name for c in fresh.items}
    assert expected[2] not in {c.metadata.name for c in fresh.items}
    # a filtered list does not count what remains (the count would be inaccurate)
    filtered = core.list_namespaced_config_map(namespace, limit=1,
                                               field_selector="metadata.name!=cm-0")
    assert filtered.metadata._continue
    assert filtered.metadata.remaining_item_count is None


# watch ---------------------------------------------------------------------------------


def test_watch_resumes_from_a_list_resource_version(core: client.CoreV1Api,
                                                   namespace: str) -> None:
    """A watch from a list's resourceVersion replays what changed since, in order."""
    listed = core.list_namespaced_config_map(namespace)
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "watched"},
                                                  "data": {"step": "1"}})
    core.patch_namespaced_config_map("watched", namespace, {"data": {"step": "2"}})
    core.delete_namespaced_config_map("watched", namespace)

    seen: list[tuple[str, str | None]] = []
    stream = watch.Watch()
    for event in stream.stream(core.list_namespaced_config_map, namespace,
                               field_selector="metadata.name=watched",
                               resource_version=listed.metadata.resource_version,
                               timeout_seconds=5):
        seen.append((event["type"], (event["object"].data or {}).get("step")))
        if event["type"] == "DELETED":
            stream.stop()
    assert seen == [("ADDED", "1"), ("MODIFIED", "2"), ("DELETED", "2")]


def test_watch_sees_a_deleted_pod_replaced(core: client.CoreV1Api, apps: client.AppsV1Api,
                                          namespace: str, wait: Wait) -> None:
    """After `delete_namespaced_pod`, a watch sees the pod DELETED and its replacement ADDED."""
    apps.create_namespaced_deployment(namespace, deployment("web"))
    (victim,) = wait(lambda: has_ready(core, namespace, "app=web", 1), "one ready pod")
    listed = core.list_namespaced_pod(namespace, label_selector="app=web")
    core.delete_namespaced_pod(victim.metadata.name, namespace)

    deleted, added = False, []
    stream = watch.Watch()
    for event in stream.stream(core.list_namespaced_pod, namespace, label_selector="app=web",
                               resource_version=listed.metadata.resource_version,
                               timeout_seconds=20):
        name = event["object"].metadata.name
        if event["type"] == "DELETED":
            assert name == victim.metadata.name
            deleted = True
        elif event["type"] == "ADDED":
            added.append(name)
        if deleted and added:
            stream.stop()
    assert deleted
    assert victim.metadata.name not in added
    assert len(added) == 1


# patch ---------------------------------------------------------------------------------


def test_strategic_merge_patch_of_an_image_rolls_out(core: client.CoreV1Api,
                                                    apps: client.AppsV1Api, namespace: str,
                                                    wait: Wait) -> None:
    """Patching the image merges the container by name and rolls out a new ReplicaSet."""
    manifest = deployment("web", replicas=2)
    manifest["spec"]["template"]["spec"]["containers"][0]["env"] = [{"name": "MODE",
                                                                     "value": "test"}]
    apps.create_namespaced_deployment(namespace, manifest)
    wait(lambda: has_ready(core, namespace, "app=web", 2), "two ready pods")

    patched = apps.patch_namespaced_deployment("web", namespace, {"spec": {"template": {
        "spec": {"containers": [{"name": "app", "image": PAUSE_PREVIOUS}]}}}})
    container = patched.spec.template.spec.containers[0]
    assert (container.image, [e.name for e in container.env]) == (PAUSE_PREVIOUS, ["MODE"])
    assert patched.metadata.generation == 2

    def rolled_out() -> bool:
        d = apps.read_namespaced_deployment("web", namespace)
        return (d.status.observed_generation == 2 and d.status.updated_replicas == 2
                and d.status.replicas == 2 and d.status.available_replicas == 2)

    wait(rolled_out, "the rollout to finish")
    sets = apps.list_namespaced_replica_set(namespace, label_selector="app=web").items
    by_image = {s.spec.template.spec.containers[0].image: s for s in sets}
    assert set(by_image) == {PAUSE, PAUSE_PREVIOUS}
    assert by_image[PAUSE].spec.replicas == 0
    assert by_image[PAUSE_PREVIOUS].spec.replicas == 2
    revision = "deployment.kubernetes.io/revision"
    assert by_image[PAUSE_PREVIOUS].metadata.annotations[revision] == "2"
    pods = wait(lambda: has_ready(core, namespace, "app=web", 2), "two new ready pods")
    assert {p.spec.containers[0].image for p in pods} == {PAUSE_PREVIOUS}


def test_json_merge_patch_replaces_lists_and_removes_nulls(apps: client.AppsV1Api,
                                                          namespace: str) -> None:
    """A JSON merge patch replaces a list whole and deletes keys set to null."""
    manifest = deployment("web", labels={"app": "web"})
    manifest["metadata"]["labels"]["tier"] = "front"
    manifest["spec"]["template"]["spec"]["containers"][0]["env"] = [{"name": "MODE",
                                                                     "value": "test"}]
    apps.create_namespaced_deployment(namespace, manifest)

    patched = apps.patch_namespaced_deployment(
        "web", namespace,
        {"metadata": {"labels": {"tier": None, "team": "sre"}},
         "spec": {"template": {"spec": {"containers": [{"name": "app", "image": PAUSE}]}}}},
        _content_type="application/merge-patch+json")
    assert patched.metadata.labels == {"app": "web", "team": "sre"}
    assert patched.spec.template.spec.containers[0].env is None


def test_json_patch_applies_operations_in_order(core: client.CoreV1Api,
                                               namespace: str) -> None:
    """A JSON patch list adds, replaces and removes; a failed `test` changes nothing (422)."""
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "settings"},
                                                  "data": {"a": "1", "c": "3"}})
    patched = core.patch_namespaced_config_map("settings", namespace, [
        {"op": "test", "path": "/data/a", "value": "1"},
        {"op": "add", "path": "/data/b", "value": "2"},
        {"op": "replace", "path": "/data/a", "value": "9"},
        {"op": "remove", "path": "/data/c"}])
    assert patched.data == {"a": "9", "b": "2"}

    with pytest.raises(ApiException) as refused:
        core.patch_namespaced_config_map("settings", namespace, [
            {"op": "test", "path": "/data/a", "value": "1"},
            {"op": "replace", "path": "/data/b", "value": "lost"}])
    assert refused.value.status == 422
    assert core.read_namespaced_config_map("settings", namespace).data == {"a": "9", "b": "2"}


# scale ---------------------------------------------------------------------------------


def test_deployment_scale_subresource(core: client.CoreV1Api, apps: client.AppsV1Api,
                                      namespace: str, wait: Wait) -> None:
    """Patching `deployments/scale` changes spec.replicas; reading it reports the selector."""
    apps.create_namespaced_deployment(namespace, deployment("web"))
    scale = apps.patch_namespaced_deployment_scale("web", namespace, {"spec": {"replicas": 3}})
    assert scale.spec.replicas == 3
    assert apps.read_namespaced_deployment("web", namespace).spec.replicas == 3
    wait(lambda: has_ready(core, namespace, "app=web", 3), "three ready pods")

    def scaled() -> client.V1Scale | None:
        read = apps.read_namespaced_deployment_scale("web", namespace)
        return read if read.status.replicas == 3 else None

    read = wait(scaled, "the scale status to report three replicas")
    assert read.spec.replicas == 3
    assert read.status.selector == "app=web"


def test_statefulset_scale_subresource(core: client.CoreV1Api, apps: client.AppsV1Api,
                                       namespace: str, wait: Wait) -> None:
    """Scaling a StatefulSet through `statefulsets/scale` adds pods with the next ordinals."""
    core.create_namespaced_service(namespace, {"metadata": {"name": "db"}, "spec": {
        "clusterIP": "None", "selector": {"app": "db"}, "ports": [{"port": 5432}]}})
    apps.create_namespaced_stateful_set(namespace, {
        "metadata": {"name": "db"},
        "spec": {"replicas": 1, "serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
                 "template": {"metadata": {"labels": {"app": "db"}}, "spec": pod_spec()}}})
    wait(lambda: has_ready(core, namespace, "app=db", 1), "db-0 to be ready")

    apps.patch_namespaced_stateful_set_scale("db", namespace, {"spec": {"replicas": 3}})
    pods = wait(lambda: has_ready(core, namespace, "app=db", 3), "three ready pods")
    assert {p.metadata.name for p in pods} == {"db-0", "db-1", "db-2"}
    scale = apps.read_namespaced_stateful_set_scale("db", namespace)
    assert (scale.spec.replicas, scale.status.replicas) == (3, 3)


# delete --------------------------------------------------------------------------------


def test_delete_honours_the_grace_period(core: client.CoreV1Api, namespace: str,
                                         wait: Wait) -> None:
    """A graceful delete leaves the pod Terminating, then gone; grace 0 removes it at once."""
    core.create_namespaced_pod(namespace, bare_pod("slow"))
    core.create_namespaced_pod(namespace, bare_pod("fast"))
    wait(lambda: len(ready_pods(core, namespace, "app in (slow,fast)")) == 2, "ready pods")

    terminating = core.delete_namespaced_pod("slow", namespace, grace_period_seconds=30)
    assert terminating.metadata.deletion_timestamp is not None
    assert terminating.metadata.deletion_grace_period_seconds == 30
    assert core.read_namespaced_pod("slow", namespace).metadata.deletion_timestamp

    core.delete_namespaced_pod("fast", namespace, grace_period_seconds=0)

    def gone(name: str) -> Callable[[], bool]:
        return lambda: not core.list_namespaced_pod(
            namespace, field_selector=f"metadata.name={name}").items

    wait(gone("fast"), "the pod deleted with grace 0 to go")
    wait(gone("slow"), "the gracefully deleted pod to terminate")


def test_background_propagation_deletes_dependents(core: client.CoreV1Api,
                                                   apps: client.AppsV1Api, namespace: str,
                                                   wait: Wait) -> None:
    """Deleting a Deployment in the background removes it at once, its ReplicaSets and pods
    soon after."""
    apps.create_namespaced_deployment(namespace, deployment("web", replicas=2))
    wait(lambda: has_ready(core, namespace, "app=web", 2), "two ready pods")
    apps.delete_namespaced_deployment("web", namespace, propagation_policy="Background")
    with pytest.raises(ApiException) as missing:
        apps.read_namespaced_deployment("web", namespace)
    assert missing.value.status == 404
    wait(lambda: not apps.list_namespaced_replica_set(namespace).items,
         "the ReplicaSet to be collected")
    wait(lambda: not core.list_namespaced_pod(namespace).items, "the pods to be collected")


def test_foreground_propagation_waits_for_dependents(core: client.CoreV1Api,
                                                     apps: client.AppsV1Api, namespace: str,
                                                     wait: Wait) -> None:
    """Deleting in the foreground keeps the Deployment (foregroundDeletion) until its
    dependents are gone."""
    apps.create_namespaced_deployment(namespace, deployment("web", replicas=2))
    wait(lambda: has_ready(core, namespace, "app=web", 2), "two ready pods")
    apps.delete_namespaced_deployment("web", namespace, propagation_policy="Foreground")
    held = apps.read_namespaced_deployment("web", namespace)
    assert held.metadata.deletion_timestamp is not None
    assert "foregroundDeletion" in held.metadata.finalizers

    def deployment_gone() -> bool:
        try:
            apps.read_namespaced_deployment("web", namespace)
        except ApiException as error:
            if error.status == 404:
                return True
            raise
        return False

    wait(deployment_gone, "the deployment to go once its dependents are gone")
    assert not apps.list_namespaced_replica_set(namespace).items
    assert not [p for p in core.list_namespaced_pod(namespace).items
                if not p.metadata.deletion_timestamp]


def test_orphan_propagation_keeps_dependents(core: client.CoreV1Api, apps: client.AppsV1Api,
                                             namespace: str, wait: Wait) -> None:
    """Deleting with Orphan removes the Deployment and frees its ReplicaSet and pods."""
    apps.create_namespaced_deployment(namespace, deployment("web", replicas=2))
    pods = wait(lambda: has_ready(core, namespace, "app=web", 2), "two ready pods")
    apps.delete_namespaced_deployment("web", namespace, propagation_policy="Orphan")

    def orphaned() -> list[client.V1ReplicaSet]:
        sets = apps.list_namespaced_replica_set(namespace).items
        return [s for s in sets if not s.metadata.owner_references]

    def deployment_gone() -> bool:
        return not apps.list_namespaced_deployment(namespace).items

    wait(deployment_gone, "the deployment to go")
    (replica_set,) = wait(orphaned, "the ReplicaSet to lose its owner reference")
    assert replica_set.metadata.deletion_timestamp is None
    still = has_ready(core, namespace, "app=web", 2)
    assert still is not None
    assert {p.metadata.name for p in still} == {p.metadata.name for p in pods}
    assert all(p.metadata.owner_references[0].name == replica_set.metadata.name for p in still)


# eviction ------------------------------------------------------------------------------


def pdb(name: str, selector: dict[str, str], max_unavailable: int) -> Manifest:
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {"name": name},
            "spec": {"maxUnavailable": max_unavailable,
                     "selector": {"matchLabels": selector}}}


def eviction(name: str, namespace: str) -> client.V1Eviction:
    return client.V1Eviction(metadata=client.V1ObjectMeta(name=name, namespace=namespace))


def budgeted_pods(core: client.CoreV1Api, apps: client.AppsV1Api, namespace: str, wait: Wait,
                  max_unavailable: int) -> tuple[list[client.V1Pod], client.PolicyV1Api]:
    """Deployment `web` with two ready pods under a budget allowing `max_unavailable` of
    them; the pods, and the policy API to read the budget through."""
    apps.create_namespaced_deployment(namespace, deployment("web", replicas=2))
    pods = wait(lambda: has_ready(core, namespace, "app=web", 2), "two ready pods")
    policy = client.PolicyV1Api(core.api_client)
    policy.create_namespaced_pod_disruption_budget(
        namespace, pdb("web", {"app": "web"}, max_unavailable))
    return pods, policy


def test_eviction_forbidden_by_a_disruption_budget(core: client.CoreV1Api,
                                                   apps: client.AppsV1Api, namespace: str,
                                                   wait: Wait) -> None:
    """A PDB with maxUnavailable 0 refuses an eviction: 429 TooManyRequests, DisruptionBudget."""
    pods, policy = budgeted_pods(core, apps, namespace, wait, max_unavailable=0)

    def observed() -> bool:
        status = policy.read_namespaced_pod_disruption_budget("web", namespace).status
        return bool(status and status.expected_pods == 2 and status.current_healthy == 2)

    wait(observed, "the budget's status")
    victim = pods[0].metadata.name
    with pytest.raises(ApiException) as refused:
        core.create_namespaced_pod_eviction(victim, namespace, eviction(victim, namespace))
    assert refused.value.status == 429
    body = error_body(refused.value)
    assert body["reason"] == "TooManyRequests"
    assert [c["reason"] for c in body["details"]["causes"]] == ["DisruptionBudget"]
    assert core.read_namespaced_pod(victim, namespace).metadata.deletion_timestamp is None


def test_allowed_eviction_is_replaced(core: client.CoreV1Api, apps: client.AppsV1Api,
                                      namespace: str, wait: Wait) -> None:
    """An eviction the budget allows removes the pod; its ReplicaSet creates a replacement."""
    pods, policy = budgeted_pods(core, apps, namespace, wait, max_unavailable=1)

    def allowed() -> bool:
        status = policy.read_namespaced_pod_disruption_budget("web", namespace).status
        return bool(status and status.disruptions_allowed == 1)

    wait(allowed, "the budget to allow one disruption")
    victim = pods[0].metadata.name
    core.create_namespaced_pod_eviction(victim, namespace, eviction(victim, namespace))

    def replaced() -> bool:
        current = has_ready(core, namespace, "app=web", 2)
        return current is not None and victim not in {p.metadata.name for p in current}

    wait(replaced, "the evicted pod to be replaced")


# metadata and concurrency -----------------------------------------------------------------


def test_server_fills_metadata(core: client.CoreV1Api, namespace: str) -> None:
    """Create fills uid, creationTimestamp and resourceVersion; every write raises the RV."""
    created = core.create_namespaced_config_map(namespace, {"metadata": {"name": "filled"}})
    assert created.metadata.uid
    assert abs(created.metadata.creation_timestamp - datetime.now(UTC)) < timedelta(minutes=5)
    first = int(created.metadata.resource_version)
    updated = core.patch_namespaced_config_map("filled", namespace, {"data": {"a": "1"}})
    second = int(updated.metadata.resource_version)
    again = core.patch_namespaced_config_map("filled", namespace, {"data": {"a": "2"}})
    assert first < second < int(again.metadata.resource_version)
    assert updated.metadata.uid == created.metadata.uid
    assert updated.metadata.creation_timestamp == created.metadata.creation_timestamp


def test_generation_counts_spec_changes_only(apps: client.AppsV1Api, namespace: str) -> None:
    """metadata.generation rises with spec changes, not with metadata or status changes."""
    created = apps.create_namespaced_deployment(namespace, deployment("web"))
    assert created.metadata.generation == 1
    labelled = apps.patch_namespaced_deployment("web", namespace,
                                                {"metadata": {"labels": {"team": "sre"}}})
    assert labelled.metadata.generation == 1
    status = apps.patch_namespaced_deployment_status("web", namespace, {"status": {
        "conditions": [{"type": "HealerProbe", "status": "True"}]}})
    assert status.metadata.generation == 1
    assert int(status.metadata.resource_version) > int(labelled.metadata.resource_version)
    scaled = apps.patch_namespaced_deployment("web", namespace, {"spec": {"replicas": 2}})
    assert scaled.metadata.generation == 2


def test_stale_resource_version_conflicts(apps: client.AppsV1Api, namespace: str) -> None:
    """A replace carrying an old resourceVersion is refused with 409 Conflict."""
    apps.create_namespaced_deployment(namespace, deployment("web"))
    stale = apps.read_namespaced_deployment("web", namespace)
    apps.patch_namespaced_deployment("web", namespace, {"metadata": {"labels": {"v": "2"}}})
    stale.spec.replicas = 3
    with pytest.raises(ApiException) as conflict:
        apps.replace_namespaced_deployment("web", namespace, stale)
    assert conflict.value.status == 409
    assert error_body(conflict.value)["reason"] == "Conflict"
    assert apps.read_namespaced_deployment("web", namespace).spec.replicas == 1

    fresh = apps.read_namespaced_deployment("web", namespace)
    fresh.spec.replicas = 3
    assert apps.replace_namespaced_deployment("web", namespace, fresh).spec.replicas == 3


# errors --------------------------------------------------------------------------------


def test_missing_object_is_not_found(core: client.CoreV1Api, namespace: str) -> None:
    """Reading a missing pod is 404 with a NotFound Status naming it."""
    with pytest.raises(ApiException) as missing:
        core.read_namespaced_pod("no-such-pod", namespace)
    assert missing.value.status == 404
    body = error_body(missing.value)
    assert (body["kind"], body["status"], body["reason"]) == ("Status", "Failure", "NotFound")
    assert body["details"] == {"name": "no-such-pod", "kind": "pods"}


def test_duplicate_name_already_exists(core: client.CoreV1Api, namespace: str) -> None:
    """Creating a second object with a taken name is 409 AlreadyExists."""
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "taken"}})
    with pytest.raises(ApiException) as duplicate:
        core.create_namespaced_config_map(namespace, {"metadata": {"name": "taken"}})
    assert duplicate.value.status == 409
    assert error_body(duplicate.value)["reason"] == "AlreadyExists"


def test_selector_not_matching_template_is_invalid(apps: client.AppsV1Api,
                                                   namespace: str) -> None:
    """A Deployment whose selector does not match its template labels is 422 Invalid."""
    manifest = deployment("web")
    manifest["spec"]["template"]["metadata"]["labels"] = {"app": "other"}
    with pytest.raises(ApiException) as invalid:
        apps.create_namespaced_deployment(namespace, manifest)
    assert invalid.value.status == 422
    body = error_body(invalid.value)
    assert body["reason"] == "Invalid"
    assert "spec.template.metadata.labels" in {c["field"] for c in body["details"]["causes"]}
    assert not apps.list_namespaced_deployment(namespace).items


# dry run -------------------------------------------------------------------------------


def test_dry_run_changes_nothing(core: client.CoreV1Api, apps: client.AppsV1Api,
                                 namespace: str, wait: Wait) -> None:
    """dryRun=All create, patch and delete answer as if done but store nothing."""
    answered = apps.create_namespaced_deployment(namespace, deployment("ghost"), dry_run="All")
    assert answered.metadata.name == "ghost"
    assert answered.spec.strategy.type == "RollingUpdate"  # defaulted, as if created
    assert not apps.list_namespaced_deployment(namespace).items

    apps.create_namespaced_deployment(namespace, deployment("web"))
    wait(lambda: has_ready(core, namespace, "app=web", 1), "one ready pod")
    preview = apps.patch_namespaced_deployment("web", namespace, {"spec": {"replicas": 4}},
                                               dry_run="All")
    assert (preview.spec.replicas, preview.metadata.generation) == (4, 2)
    apps.delete_namespaced_deployment("web", namespace, dry_run="All")

    after = apps.read_namespaced_deployment("web", namespace)
    assert after.spec.replicas == 1
    assert after.metadata.generation == 1
    assert after.metadata.deletion_timestamp is None
    assert len(core.list_namespaced_pod(namespace).items) == 1
    assert len(apps.list_namespaced_replica_set(namespace).items) == 1


# events --------------------------------------------------------------------------------


def test_events_are_served_by_both_event_apis(core: client.CoreV1Api, namespace: str) -> None:
    """An event written through either API reads back through both, with v1 field names."""
    events_v1 = client.EventsV1Api(core.api_client)
    subject = core.create_namespaced_config_map(namespace, {"metadata": {"name": "subject"}})
    reference = {"kind": "ConfigMap", "apiVersion": "v1", "namespace": namespace,
                 "name": "subject", "uid": subject.metadata.uid}
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")  # a MicroTime
    events_v1.create_namespaced_event(namespace, {
        "metadata": {"name": "subject.new-api"}, "eventTime": now,
        "regarding": reference, "note": "written through events.k8s.io/v1",
        "reason": "Tested", "action": "Testing", "type": "Normal",
        "reportingController": "healer.dev/tests", "reportingInstance": "tests-1"})
    core.create_namespaced_event(namespace, {
        "metadata": {"name": "subject.old-api"}, "eventTime": now,
        "involvedObject": reference, "message": "written through v1",
        "reason": "Tested", "action": "Testing", "type": "Warning",
        "reportingComponent": "healer.dev/tests", "reportingInstance": "tests-1"})

    old = {e.metadata.name: e for e in core.list_namespaced_event(namespace).items}
    new = {e.metadata.name: e for e in events_v1.list_namespaced_event(namespace).items}
    assert set(old) == set(new) == {"subject.new-api", "subject.old-api"}
    for name, event in new.items():
        assert event.regarding.name == old[name].involved_object.name == "subject"
        assert event.regarding.uid == subject.metadata.uid
        assert event.note == old[name].message
        assert event.reporting_controller == old[name].reporting_component
        assert event.metadata.uid == old[name].metadata.uid
    assert new["subject.old-api"].note == "written through v1"
    assert old["subject.new-api"].message == "written through events.k8s.io/v1"
    assert old["subject.new-api"].type == "Normal"


def test_controller_events_show_in_both_event_apis(core: client.CoreV1Api,
                                                   apps: client.AppsV1Api, namespace: str,
                                                   wait: Wait) -> None:
    """Events about a pod (Scheduled ...) are listed by both event APIs."""
    apps.create_namespaced_deployment(namespace, deployment("web"))
    (pod,) = wait(lambda: has_ready(core, namespace, "app=web", 1), "one ready pod")
    about_pod = f"involvedObject.name={pod.metadata.name}"
    old = wait(lambda: core.list_namespaced_event(namespace, field_selector=about_pod).items,
               "events about the pod")
    assert "Scheduled" in {e.reason for e in old}
    # Events recorded by kubelets and controllers carry no eventTime (client-go's legacy
    # recorder), which this client's EventsV1Event model refuses; read the wire format.
    response = client.EventsV1Api(core.api_client).list_namespaced_event(
        namespace, _preload_content=False)
    new = {e["metadata"]["uid"]: e for e in json.loads(response.data)["items"]}
    for event in old:
        shown = new[event.metadata.uid]
        assert shown["regarding"]["name"] == pod.metadata.name
        assert shown["note"] == event.message
        assert "involvedObject" not in shown
        assert "message" not in shown


# other resources -------------------------------------------------------------------------


def test_lease_round_trips_and_guards_takeover(kube: client.ApiClient, namespace: str) -> None:
    """A Lease keeps its holder and microsecond times; a stale takeover is a 409."""
    leases = client.CoordinationV1Api(kube)
    acquired = datetime.now(UTC).replace(microsecond=123456)
    leases.create_namespaced_lease(namespace, client.V1Lease(
        metadata=client.V1ObjectMeta(name="healer-leader"),
        spec=client.V1LeaseSpec(holder_identity="healer-a", lease_duration_seconds=15,
                                acquire_time=acquired, renew_time=acquired,
                                lease_transitions=0)))
    lease = leases.read_namespaced_lease("healer-leader", namespace)
    assert lease.spec.holder_identity == "healer-a"
    assert lease.spec.renew_time == acquired

    rival = leases.read_namespaced_lease("healer-leader", namespace)
    lease.spec.renew_time = acquired + timedelta(seconds=5)
    renewed = leases.replace_namespaced_lease("healer-leader", namespace, lease)
    assert renewed.spec.renew_time == acquired + timedelta(seconds=5)
    rival.spec.holder_identity = "healer-b"
    rival.spec.lease_transitions = 1
    with pytest.raises(ApiException) as conflict:
        leases.replace_namespaced_lease("healer-leader", namespace, rival)
    assert conflict.value.status == 409
    assert leases.read_namespaced_lease("healer-leader", namespace).spec.holder_identity \
        == "healer-a"


def test_configmap_data_and_immutability(core: client.CoreV1Api, namespace: str) -> None:
    """ConfigMap data and binaryData round-trip; an immutable ConfigMap refuses changes."""
    core.create_namespaced_config_map(namespace, {
        "metadata": {"name": "settings"}, "data": {"mode": "fast"},
        "binaryData": {"blob": "AAEC"}})
    read = core.read_namespaced_config_map("settings", namespace)
    assert (read.data, read.binary_data) == ({"mode": "fast"}, {"blob": "AAEC"})
    read.data["mode"] = "slow"
    assert core.replace_namespaced_config_map("settings", namespace, read).data == {
        "mode": "slow"}

    core.create_namespaced_config_map(namespace, {"metadata": {"name": "frozen"},
                                                  "data": {"mode": "fast"},
                                                  "immutable": True})
    with pytest.raises(ApiException) as refused:
        core.patch_namespaced_config_map("frozen", namespace, {"data": {"mode": "slow"}})
    assert refused.value.status == 422
    assert core.read_namespaced_config_map("frozen", namespace).data == {"mode": "fast"}
    labelled = core.patch_namespaced_config_map("frozen", namespace,
                                                {"metadata": {"labels": {"team": "sre"}}})
    assert labelled.metadata.labels == {"team": "sre"}


def test_service_gets_and_keeps_a_cluster_ip(core: client.CoreV1Api, namespace: str) -> None:
    """A Service is given a cluster IP and port defaults; updates keep the IP."""
    created = core.create_namespaced_service(namespace, {
        "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}})
    assert created.spec.type == "ClusterIP"
    assert created.spec.cluster_ip
    assert created.spec.cluster_ip != "None"
    assert created.spec.cluster_ips == [created.spec.cluster_ip]
    assert created.spec.ports[0].protocol == "TCP"
    patched = core.patch_namespaced_service("web", namespace,
                                            {"spec": {"selector": {"app": "web-v2"}}})
    assert patched.spec.selector == {"app": "web-v2"}
    assert patched.spec.cluster_ip == created.spec.cluster_ip

    headless = core.create_namespaced_service(namespace, {
        "metadata": {"name": "peers"},
        "spec": {"clusterIP": "None", "selector": {"app": "web"}, "ports": [{"port": 80}]}})
    assert headless.spec.cluster_ip == "None"
    assert headless.spec.ports[0].target_port == 80


def test_job_runs_to_completion(core: client.CoreV1Api, kube: client.ApiClient,
                                namespace: str, wait: Wait) -> None:
    """A Job's pod succeeds; the Job reports succeeded=1 and a Complete condition."""
    batch = client.BatchV1Api(kube)
    # `pause -v` prints its version and exits 0: a run-to-completion pod on a real node
    batch.create_namespaced_job(namespace, {
        "metadata": {"name": "once"},
        "spec": {"backoffLimit": 0, "template": {"spec": pod_spec(
            restartPolicy="Never", containers=[{"name": "app", "image": PAUSE,
                                                "args": ["-v"]}])}}})

    def complete() -> client.V1Job | None:
        job = batch.read_namespaced_job("once", namespace)
        conditions = {c.type: c.status for c in job.status.conditions or []}
        return job if conditions.get("Complete") == "True" else None

    job = wait(complete, "the job to complete")
    assert job.status.succeeded == 1
    assert not job.status.failed
    assert job.status.completion_time is not None
    pods = core.list_namespaced_pod(namespace, label_selector="job-name=once").items
    assert [p.status.phase for p in pods] == ["Succeeded"]


def test_horizontal_pod_autoscaler_round_trips(apps: client.AppsV1Api, kube: client.ApiClient,
                                               namespace: str) -> None:
    """An autoscaling/v2 HPA is stored as given, defaulted, and can be patched."""
    autoscaling = client.AutoscalingV2Api(kube)
    apps.create_namespaced_deployment(namespace, deployment("web"))
    autoscaling.create_namespaced_horizontal_pod_autoscaler(namespace, {
        "metadata": {"name": "web"},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                    "name": "web"},
                 "maxReplicas": 3,
                 "metrics": [{"type": "Resource", "resource": {
                     "name": "cpu", "target": {"type": "Utilization",
                                               "averageUtilization": 80}}}]}})
    hpa = autoscaling.read_namespaced_horizontal_pod_autoscaler("web", namespace)
    assert hpa.spec.scale_target_ref.name == "web"
    assert (hpa.spec.min_replicas, hpa.spec.max_replicas) == (1, 3)
    assert hpa.spec.metrics[0].resource.target.average_utilization == 80
    patched = autoscaling.patch_namespaced_horizontal_pod_autoscaler(
        "web", namespace, {"spec": {"maxReplicas": 5}})
    assert patched.spec.max_replicas == 5


def test_daemonset_runs_one_pod_per_schedulable_node(core: client.CoreV1Api,
                                                     apps: client.AppsV1Api, namespace: str,
                                                     wait: Wait) -> None:
    """A DaemonSet puts exactly one ready pod on every schedulable node."""
    nodes = daemon_nodes(core)
    assert nodes
    apps.create_namespaced_daemon_set(namespace, {
        "metadata": {"name": "agent"},
        "spec": {"selector": {"matchLabels": {"app": "agent"}},
                 "template": {"metadata": {"labels": {"app": "agent"}}, "spec": pod_spec()}}})
    pods = wait(lambda: has_ready(core, namespace, "app=agent", len(nodes)),
                "a ready pod per node")
    assert sorted(p.spec.node_name for p in pods) == sorted(nodes)

    def reported() -> bool:
        status = apps.read_namespaced_daemon_set("agent", namespace).status
        return (status.desired_number_scheduled == status.number_ready == len(nodes)
                and status.current_number_scheduled == len(nodes))

    wait(reported, "the DaemonSet status to count every node")
