"""The kube facade (`healer.kube.Kube`) against the cluster under test, over HTTP.

Covers:
- reads of each kind it serves: pods (and listing them), nodes, Deployments,
  ReplicaSets, StatefulSets, DaemonSets, HPAs; the scale subresource; replica counts;
- owner resolution: pod → ReplicaSet → Deployment, StatefulSet and DaemonSet pods, a
  bare pod (no owner); the HPA whose scaleTargetRef is a workload;
- writes: delete a pod (its uid pinned as a precondition, so a StatefulSet's
  replacement with the same name is never deleted), rollout restart through the
  `restartedAt` annotation, scale, an HPA's bounds; dry run changes nothing and sends
  `dryRun=All`;
- error mapping: 404 NotFound, 409 Conflict (a stale resourceVersion, a uid
  precondition), 422 Invalid, 403 Forbidden, with messages an audit trail can show;
- retries (sandbox only, by fault injection): 503 twice then success takes 3
  attempts; 429 waits out Retry-After, and gives up at once when it cannot fit the
  budget; a dropped DELETE ends deleted; a DELETE whose answer was lost after the server
  acted ends `already_done`; 403 is sent once; a persistent 500 gives up after the
  policy's attempts; urllib3 adds no retries of its own; timeouts are retried;
- `Kube.connect` reports a missing kubeconfig as a ConfigError.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from healer.errors import ConfigError
from healer.kube import (
    RESTARTED_AT,
    Conflict,
    Forbidden,
    Invalid,
    Kube,
    NotFound,
    ObjectRef,
    RetryPolicy,
    Throttled,
    Timeouts,
    Unavailable,
)
from healer.sandbox import Sandbox
from tests.conftest import FAST, Cluster
from tests.support import Wait, running_pods, settled

PAUSE = "registry.k8s.io/pause:3.10"

Manifest = dict[str, Any]


def template(app: str) -> Manifest:
    return {"metadata": {"labels": {"app": app}},
            "spec": {"containers": [{"name": "app", "image": PAUSE}]}}


def make_deployment(apps: client.AppsV1Api, namespace: str, name: str,
                    replicas: int = 2) -> ObjectRef:
    apps.create_namespaced_deployment(namespace, {
        "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": template(name)}})
    return ObjectRef("Deployment", name, namespace)


def make_statefulset(core: client.CoreV1Api, apps: client.AppsV1Api, namespace: str,
                     name: str = "db") -> ObjectRef:
    core.create_namespaced_service(namespace, {"metadata": {"name": name}, "spec": {
        "clusterIP": "None", "selector": {"app": name}, "ports": [{"port": 5432}]}})
    apps.create_namespaced_stateful_set(namespace, {
        "metadata": {"name": name},
        "spec": {"replicas": 1, "serviceName": name, "selector": {"matchLabels": {"app": name}},
                 "template": template(name)}})
    return ObjectRef("StatefulSet", name, namespace)




def pod_names(facade: Kube, namespace: str, app: str) -> set[str]:
    return {p["metadata"]["name"] for p in running_pods(facade, namespace, app)}


@pytest.fixture
def web(facade: Kube, apps: client.AppsV1Api, namespace: str, wait: Wait) -> ObjectRef:
    """A Deployment `web` with two ready replicas."""
    ref = make_deployment(apps, namespace, "web")
    settled(facade, wait, ref, 2)
    return ref


# reads ---------------------------------------------------------------------------------


def test_reads_each_kind_as_the_apis_json(facade: Kube, web: ObjectRef, core: client.CoreV1Api,
                                          apps: client.AppsV1Api, namespace: str,
                                          wait: Wait) -> None:
    """Pods, nodes, Deployments, ReplicaSets, StatefulSets, DaemonSets and HPAs read back
    as JSON objects with their kind, and list_pods filters by label selector."""
    db = make_statefulset(core, apps, namespace)
    apps.create_namespaced_daemon_set(namespace, {
        "metadata": {"name": "agent"},
        "spec": {"selector": {"matchLabels": {"app": "agent"}}, "template": template("agent")}})
    settled(facade, wait, db, 1)

    deployment = facade.get_deployment(namespace, "web")
    assert (deployment["kind"], deployment["metadata"]["name"]) == ("Deployment", "web")
    assert deployment["spec"]["replicas"] == 2
    pods = running_pods(facade, namespace, "web")
    assert len(pods) == 2
    assert {p["kind"] for p in pods} == {"Pod"}
    pod = facade.get_pod(namespace, pods[0]["metadata"]["name"])
    assert pod["metadata"]["uid"] == pods[0]["metadata"]["uid"]
    replicaset = facade.get_replicaset(namespace, pod["metadata"]["ownerReferences"][0]["name"])
    assert replicaset["kind"] == "ReplicaSet"
    assert facade.get_statefulset(namespace, "db")["spec"]["serviceName"] == "db"
    assert facade.get_daemonset(namespace, "agent")["kind"] == "DaemonSet"
    node = facade.get_node(pod["spec"]["nodeName"])
    assert (node["kind"], node["metadata"]["name"]) == ("Node", pod["spec"]["nodeName"])
    assert "namespace" not in node["metadata"]


def test_scale_subresource_and_replicas(facade: Kube, web: ObjectRef, namespace: str,
                                        wait: Wait) -> None:
    """read_scale reports wanted and current replicas and the selector; scale changes the
    wanted count through the subresource and the rollout reaches it."""
    scale = facade.read_scale(web)
    assert (scale.replicas, scale.current, scale.selector) == (2, 2, "app=web")
    replicas = facade.replicas(web)
    assert (replicas.desired, replicas.ready, replicas.available) == (2, 2, 2)
    assert replicas.settled

    change = facade.scale(web, 3, dry_run=False)
    assert change.answer is not None
    assert change.answer["spec"]["replicas"] == 3
    assert (change.attempts, change.dry_run, change.already_done) == (1, False, False)
    assert change.request == f"PATCH deployments/scale {namespace}/web"
    settled(facade, wait, web, 3)
    assert len(running_pods(facade, namespace, "web")) == 3


def test_owner_of_resolves_the_controlling_workload(facade: Kube, web: ObjectRef,
                                                    core: client.CoreV1Api,
                                                    apps: client.AppsV1Api, namespace: str,
                                                    wait: Wait) -> None:
    """A Deployment's pod resolves through its ReplicaSet to the Deployment; StatefulSet
    and DaemonSet pods to their set; a bare pod to None."""
    db = make_statefulset(core, apps, namespace)
    apps.create_namespaced_daemon_set(namespace, {
        "metadata": {"name": "agent"},
        "spec": {"selector": {"matchLabels": {"app": "agent"}}, "template": template("agent")}})
    core.create_namespaced_pod(namespace, {"metadata": {"name": "loner",
                                                        "labels": {"app": "loner"}},
                                           "spec": template("loner")["spec"]})
    settled(facade, wait, db, 1)
    agents = wait(lambda: running_pods(facade, namespace, "agent"), "a DaemonSet pod")

    web_pod = running_pods(facade, namespace, "web")[0]
    assert facade.owner_of(web_pod) == web
    assert facade.owner_of(ObjectRef("Pod", "db-0", namespace)) == db
    assert facade.owner_of(agents[0]) == ObjectRef("DaemonSet", "agent", namespace)
    assert facade.owner_of(facade.get_pod(namespace, "loner")) is None


def test_hpa_for_finds_the_autoscaler_of_a_workload(facade: Kube, web: ObjectRef,
                                                    apps: client.AppsV1Api,
                                                    namespace: str) -> None:
    """hpa_for returns the HPA whose scaleTargetRef is the workload, None for another."""
    other = make_deployment(apps, namespace, "batch", replicas=1)
    autoscaling = client.AutoscalingV2Api(apps.api_client)
    for name, target in (("web-cpu", "web"), ("unrelated", "gone")):
        autoscaling.create_namespaced_horizontal_pod_autoscaler(namespace, {
            "metadata": {"name": name},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                        "name": target},
                     "minReplicas": 2, "maxReplicas": 4}})

    hpa = facade.hpa_for(web)
    assert hpa is not None
    assert hpa["metadata"]["name"] == "web-cpu"
    assert facade.get_hpa(namespace, "web-cpu")["spec"]["maxReplicas"] == 4
    assert facade.hpa_for(other) is None
    assert facade.hpa_for(ObjectRef("StatefulSet", "web", namespace)) is None


# writes --------------------------------------------------------------------------------


def test_patch_hpa_sets_its_bounds(facade: Kube, web: ObjectRef, apps: client.AppsV1Api,
                                   namespace: str) -> None:
    """patch_hpa merges into the HPA's spec; as a dry run it answers the patched HPA,
    sent with dryRun=All, and stores nothing."""
    autoscaling = client.AutoscalingV2Api(apps.api_client)
    autoscaling.create_namespaced_horizontal_pod_autoscaler(namespace, {
        "metadata": {"name": "web"},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                    "name": "web"},
                 "minReplicas": 2, "maxReplicas": 4}})
    patch = {"spec": {"minReplicas": 3, "maxReplicas": 6}}

    tried = facade.patch_hpa(namespace, "web", patch, dry_run=True)
    assert tried.request == f"PATCH horizontalpodautoscalers {namespace}/web (dry run)"
    assert tried.answer is not None
    assert (tried.answer["spec"]["minReplicas"], tried.answer["spec"]["maxReplicas"]) == (3, 6)
    stored = facade.get_hpa(namespace, "web")["spec"]
    assert (stored["minReplicas"], stored["maxReplicas"]) == (2, 4)

    done = facade.patch_hpa(namespace, "web", patch, dry_run=False)
    assert (done.attempts, done.dry_run) == (1, False)
    stored = facade.get_hpa(namespace, "web")["spec"]
    assert (stored["minReplicas"], stored["maxReplicas"]) == (3, 6)
    assert stored["scaleTargetRef"]["name"] == "web"


@pytest.mark.sandbox_only
def test_patch_hpa_dry_run_is_sent_as_dry_run_all(facade: Kube, web: ObjectRef,
                                                  apps: client.AppsV1Api, sandbox: Sandbox,
                                                  namespace: str) -> None:
    """A dry-run patch_hpa reaches the API server with dryRun=All."""
    client.AutoscalingV2Api(apps.api_client).create_namespaced_horizontal_pod_autoscaler(
        namespace, {"metadata": {"name": "web"},
                    "spec": {"scaleTargetRef": {"apiVersion": "apps/v1",
                                                "kind": "Deployment", "name": "web"},
                             "minReplicas": 2, "maxReplicas": 4}})
    facade.patch_hpa(namespace, "web", {"spec": {"minReplicas": 3}}, dry_run=True)
    writes = [(r.verb, r.dry_run, r.code) for r in sandbox.requests
              if r.namespace == namespace and r.resource == "horizontalpodautoscalers"
              and r.verb == "patch"]
    assert writes == [("patch", True, 200)]


def test_delete_pod_and_its_replacement(facade: Kube, web: ObjectRef, namespace: str,
                                        wait: Wait) -> None:
    """Deleting a Deployment's pod by uid removes it; its ReplicaSet replaces it."""
    victim = running_pods(facade, namespace, "web")[0]["metadata"]
    change = facade.delete_pod(namespace, victim["name"], uid=victim["uid"],
                             grace_period_seconds=0, dry_run=False)
    assert (change.attempts, change.already_done) == (1, False)
    assert change.request == f"DELETE pods {namespace}/{victim['name']}"
    def replaced() -> bool:
        names = pod_names(facade, namespace, "web")
        return len(names) == 2 and victim["name"] not in names

    wait(replaced, "a replacement pod")
    settled(facade, wait, web, 2)


def test_delete_pod_never_deletes_a_replacement_with_the_same_name(
        facade: Kube, core: client.CoreV1Api, apps: client.AppsV1Api, namespace: str,
        wait: Wait) -> None:
    """A StatefulSet recreates db-0 under the same name; a delete meant for the old db-0
    (its uid) is refused as a Conflict and the new db-0 keeps running."""
    db = make_statefulset(core, apps, namespace)
    settled(facade, wait, db, 1)
    old_uid = facade.get_pod(namespace, "db-0")["metadata"]["uid"]
    facade.delete_pod(namespace, "db-0", uid=old_uid, grace_period_seconds=0, dry_run=False)

    def replaced() -> str | None:
        try:
            uid = facade.get_pod(namespace, "db-0")["metadata"]["uid"]
        except NotFound:
            return None
        return uid if uid != old_uid else None

    new_uid = wait(replaced, "db-0 to be recreated")
    with pytest.raises(Conflict) as refused:
        facade.delete_pod(namespace, "db-0", uid=old_uid, dry_run=False)
    assert refused.value.uid_mismatch
    assert refused.value.attempts == 1
    assert refused.value.status == 409
    pod = facade.get_pod(namespace, "db-0")
    assert pod["metadata"]["uid"] == new_uid
    assert "deletionTimestamp" not in pod["metadata"]


def test_delete_pod_without_a_uid_pins_the_current_one(facade: Kube, web: ObjectRef,
                                                       namespace: str, wait: Wait) -> None:
    """uid=None deletes the pod that has the name now."""
    name = running_pods(facade, namespace, "web")[0]["metadata"]["name"]
    change = facade.delete_pod(namespace, name, uid=None, grace_period_seconds=0, dry_run=False)
    assert change.answer is not None
    assert change.answer["metadata"]["name"] == name
    wait(lambda: name not in pod_names(facade, namespace, "web"), f"{name} to go")


def test_restart_workload_sets_restarted_at_and_replaces_every_pod(
        facade: Kube, web: ObjectRef, namespace: str, wait: Wait) -> None:
    """Rollout restart sets the template's restartedAt annotation (as kubectl does) and
    the Deployment replaces all its pods."""
    before = pod_names(facade, namespace, "web")
    at = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    change = facade.restart_workload(web, at=at, dry_run=False)
    assert change.answer is not None
    annotations = change.answer["spec"]["template"]["metadata"]["annotations"]
    assert annotations[RESTARTED_AT] == "2030-01-02T03:04:05Z"
    def replaced() -> bool:
        return (not pod_names(facade, namespace, "web") & before
                and facade.replicas(web).settled)

    wait(replaced, "every pod to be replaced")


def test_dry_run_writes_change_nothing(facade: Kube, web: ObjectRef, namespace: str) -> None:
    """Dry-run delete, restart, patch and scale answer like the real thing and store
    nothing: the pod, the template and the replicas are as before."""
    before = facade.get_deployment(namespace, "web")
    pod = running_pods(facade, namespace, "web")[0]["metadata"]

    deleted = facade.delete_pod(namespace, pod["name"], uid=pod["uid"], dry_run=True)
    restarted = facade.restart_workload(web, at=datetime.now(UTC), dry_run=True)
    patched = facade.patch_workload(web, {"metadata": {"labels": {"tier": "front"}}},
                                  dry_run=True)
    scaled = facade.scale(web, 5, dry_run=True)

    assert all(c.dry_run for c in (deleted, restarted, patched, scaled))
    assert restarted.request == f"PATCH deployments {namespace}/web (dry run)"
    assert scaled.answer is not None
    assert scaled.answer["spec"]["replicas"] == 5
    assert patched.answer is not None
    assert patched.answer["metadata"]["labels"]["tier"] == "front"
    after = facade.get_deployment(namespace, "web")
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert after["spec"] == before["spec"]
    assert "deletionTimestamp" not in facade.get_pod(namespace, pod["name"])["metadata"]


@pytest.mark.sandbox_only
def test_dry_run_is_sent_as_dry_run_all(facade: Kube, web: ObjectRef, sandbox: Sandbox,
                                        namespace: str) -> None:
    """Every write with dry_run=True reaches the API server with dryRun=All."""
    pod = running_pods(facade, namespace, "web")[0]["metadata"]
    facade.delete_pod(namespace, pod["name"], uid=pod["uid"], dry_run=True)
    facade.restart_workload(web, at=datetime.now(UTC), dry_run=True)
    facade.scale(web, 5, dry_run=True)
    writes = [(r.verb, r.resource, r.dry_run) for r in sandbox.requests
              if r.namespace == namespace and r.verb in ("delete", "patch")]
    assert writes == [("delete", "pods", True), ("patch", "deployments", True),
                      ("patch", "deployments/scale", True)]


# errors --------------------------------------------------------------------------------


def test_not_found_is_mapped_and_not_retried(facade: Kube, namespace: str) -> None:
    """404 becomes NotFound with the request, code, reason and message; sent once."""
    with pytest.raises(NotFound) as missing:
        facade.get_deployment(namespace, "ghost")
    error = missing.value
    assert (error.status, error.reason, error.retryable, error.attempts) == (
        404, "NotFound", False, 1)
    assert str(error) == (f'GET deployments {namespace}/ghost: 404 NotFound: '
                          f'deployments.apps "ghost" not found')


def test_stale_write_is_a_conflict(facade: Kube, web: ObjectRef, namespace: str) -> None:
    """A patch pinned to a resourceVersion that has since changed is a 409 Conflict,
    not retried (the caller must re-read and decide again)."""
    seen = facade.get_deployment(namespace, "web")["metadata"]["resourceVersion"]
    facade.patch_workload(web, {"metadata": {"labels": {"tier": "front"}}}, dry_run=False)
    with pytest.raises(Conflict) as stale:
        facade.patch_workload(web, {"metadata": {"labels": {"tier": "back"}}},
                            resource_version=seen, dry_run=False)
    assert (stale.value.status, stale.value.attempts, stale.value.retryable) == (409, 1, False)
    assert not stale.value.uid_mismatch
    labels = facade.get_deployment(namespace, "web")["metadata"]["labels"]
    assert labels["tier"] == "front"


def test_invalid_is_mapped_with_the_servers_message(facade: Kube, web: ObjectRef) -> None:
    """A negative replica count is refused by the server as 422 Invalid, sent once."""
    with pytest.raises(Invalid) as invalid:
        facade.scale(web, -1, dry_run=False)
    assert (invalid.value.status, invalid.value.reason, invalid.value.attempts) == (
        422, "Invalid", 1)
    assert "spec.replicas" in invalid.value.message
    assert str(invalid.value).startswith(f"PATCH deployments/scale {web.namespace}/web: "
                                         "422 Invalid: ")


def test_connect_without_a_kubeconfig_is_a_config_error(tmp_path: Path) -> None:
    """A kubeconfig path that does not exist is a ConfigError naming it."""
    missing = tmp_path / "nowhere.kubeconfig"
    with pytest.raises(ConfigError, match=f"kubeconfig {missing}"):
        Kube.connect(missing)


# retries (fault injection) ---------------------------------------------------------------


def codes(sandbox: Sandbox, namespace: str, verb: str, resource: str,
          since: int = 0) -> list[int]:
    """The codes of the matching requests served after the first `since` requests."""
    return [r.code for r in sandbox.requests[since:]
            if r.namespace == namespace and r.verb == verb and r.resource == resource]


@pytest.mark.sandbox_only
def test_unavailable_twice_then_success_takes_three_attempts(
        facade: Kube, web: ObjectRef, sandbox: Sandbox, namespace: str) -> None:
    """503 on two PATCHes, then the third succeeds: the Change reports 3 attempts."""
    sandbox.faults.inject(verb="patch", resource="deployments", status=503, count=2)
    change = facade.patch_workload(web, {"metadata": {"labels": {"tier": "front"}}},
                                 dry_run=False)
    assert change.attempts == 3
    assert codes(sandbox, namespace, "patch", "deployments") == [503, 503, 200]
    assert facade.get_deployment(namespace, "web")["metadata"]["labels"]["tier"] == "front"


@pytest.mark.sandbox_only
def test_reads_are_retried_too(facade: Kube, web: ObjectRef, sandbox: Sandbox,
                               namespace: str) -> None:
    """A GET answered 503 twice returns the object on its third attempt."""
    since = len(sandbox.requests)
    sandbox.faults.inject(verb="get", resource="deployments", status=503, count=2)
    assert facade.get_deployment(namespace, "web")["metadata"]["name"] == "web"
    assert codes(sandbox, namespace, "get", "deployments", since) == [503, 503, 200]


@pytest.mark.sandbox_only
def test_throttled_waits_out_retry_after(facade: Kube, web: ObjectRef, sandbox: Sandbox,
                                         namespace: str) -> None:
    """429 with Retry-After: 1 is retried no sooner than a second later (the policy's own
    backoff is zero here, so the wait is the server's)."""
    sandbox.faults.inject(verb="patch", resource="deployments/scale", status=429,
                          retry_after=1, count=1)
    started = time.monotonic()
    change = facade.scale(web, 3, dry_run=False)
    waited = time.monotonic() - started
    assert change.attempts == 2
    assert 1.0 <= waited < 5.0
    assert codes(sandbox, namespace, "patch", "deployments/scale") == [429, 200]


@pytest.mark.sandbox_only
def test_throttled_beyond_the_budget_gives_up_at_once(cluster: Cluster, web: ObjectRef,
                                                      sandbox: Sandbox,
                                                      namespace: str) -> None:
    """A Retry-After that would end past the retry budget is not waited for, nor retried
    early: Throttled, retryable, after one attempt."""
    sandbox.faults.inject(verb="patch", resource="deployments/scale", status=429,
                          retry_after=3, count=1)
    policy = RetryPolicy(budget=2.0, backoff=0.0, backoff_max=0.0)
    with Kube.connect(cluster.kubeconfig, retry=policy) as facade:
        started = time.monotonic()
        with pytest.raises(Throttled) as throttled:
            facade.scale(web, 3, dry_run=False)
        assert time.monotonic() - started < 1.0
    assert (throttled.value.retryable, throttled.value.retry_after) == (True, 3.0)
    assert throttled.value.attempts == 1
    assert codes(sandbox, namespace, "patch", "deployments/scale") == [429]


@pytest.mark.sandbox_only
def test_dropped_delete_ends_deleted(facade: Kube, web: ObjectRef, sandbox: Sandbox,
                                     namespace: str, wait: Wait) -> None:
    """The connection of a DELETE drops before an answer: the retry deletes the pod, and
    the Change reports 2 attempts, not an error."""
    pod = running_pods(facade, namespace, "web")[0]["metadata"]
    sandbox.faults.inject(verb="delete", resource="pods", drop=True, count=1)
    change = facade.delete_pod(namespace, pod["name"], uid=pod["uid"], grace_period_seconds=0,
                             dry_run=False)
    assert (change.attempts, change.already_done) == (2, False)
    assert codes(sandbox, namespace, "delete", "pods") == [0, 200]
    wait(lambda: pod["name"] not in pod_names(facade, namespace, "web"), "the pod to go")


@pytest.mark.sandbox_only
def test_delete_whose_answer_was_lost_is_already_done(cluster: Cluster, web: ObjectRef,
                                                      sandbox: Sandbox,
                                                      namespace: str) -> None:
    """The server deletes the pod but the answer never arrives (a read timeout): the
    retry answers 404, which means our first attempt did it: already_done, not an
    error."""
    # answered after 0.5 s, given up on after 0.1 s; the retry comes 1-2 s later
    policy = RetryPolicy(backoff=2.0, backoff_max=2.0)
    timeouts = Timeouts(connect=5.0, read=0.1)
    with Kube.connect(cluster.kubeconfig, retry=policy, timeouts=timeouts) as facade:
        pod = running_pods(facade, namespace, "web")[0]["metadata"]
        sandbox.faults.inject(verb="delete", resource="pods", latency=0.5, count=1)
        change = facade.delete_pod(namespace, pod["name"], uid=pod["uid"],
                                 grace_period_seconds=0, dry_run=False)
    assert (change.attempts, change.already_done, change.answer) == (2, True, None)
    assert sorted(codes(sandbox, namespace, "delete", "pods"))[-1] == 404
    assert sandbox.get("pods", pod["name"], namespace) is None


@pytest.mark.sandbox_only
def test_forbidden_is_never_retried(facade: Kube, web: ObjectRef, sandbox: Sandbox,
                                    namespace: str) -> None:
    """403 is sent once and reads as request, code, reason and the server's message."""
    since = len(sandbox.requests)
    sandbox.faults.inject(verb="get", resource="deployments", status=403)
    with pytest.raises(Forbidden) as forbidden:
        facade.get_deployment(namespace, "web")
    assert (forbidden.value.attempts, forbidden.value.retryable) == (1, False)
    assert str(forbidden.value) == (f"GET deployments {namespace}/web: 403 Forbidden: "
                                    "injected fault")
    assert codes(sandbox, namespace, "get", "deployments", since) == [403]


@pytest.mark.sandbox_only
def test_persistent_server_error_gives_up_after_the_policys_attempts(
        facade: Kube, web: ObjectRef, sandbox: Sandbox, namespace: str) -> None:
    """A 500 on every attempt: Unavailable, retryable, after exactly `attempts` requests."""
    sandbox.faults.inject(verb="patch", resource="deployments", status=500)
    with pytest.raises(Unavailable) as failed:
        facade.restart_workload(web, at=datetime.now(UTC), dry_run=False)
    error = failed.value
    assert (error.status, error.retryable, error.attempts) == (500, True, FAST.attempts)
    assert str(error).endswith(f"(gave up after {FAST.attempts} attempts)")
    assert codes(sandbox, namespace, "patch", "deployments") == [500] * FAST.attempts


@pytest.mark.sandbox_only
def test_urllib3_adds_no_retries_of_its_own(cluster: Cluster, web: ObjectRef,
                                            sandbox: Sandbox, namespace: str) -> None:
    """Every GET's connection drops: the API server sees exactly one request per attempt
    (urllib3's own retries would multiply them), then a retryable connection error."""
    since = len(sandbox.requests)
    sandbox.faults.inject(verb="get", resource="deployments", drop=True)
    policy = RetryPolicy(attempts=3, backoff=0.0)
    with (Kube.connect(cluster.kubeconfig, retry=policy) as facade,
          pytest.raises(Unavailable) as dropped):
        facade.get_deployment(namespace, "web")
    assert (dropped.value.status, dropped.value.reason) == (0, "ConnectionError")
    assert dropped.value.attempts == 3
    assert codes(sandbox, namespace, "get", "deployments", since) == [0, 0, 0]


@pytest.mark.sandbox_only
def test_timeouts_are_retried_then_reported(cluster: Cluster, web: ObjectRef,
                                            sandbox: Sandbox, namespace: str) -> None:
    """A GET slower than the read timeout is retried; every attempt timing out ends in
    Unavailable with reason Timeout."""
    since = len(sandbox.requests)
    sandbox.faults.inject(verb="get", resource="deployments", latency=0.3)
    policy = RetryPolicy(attempts=2, backoff=0.0)
    with (Kube.connect(cluster.kubeconfig, retry=policy, timeouts=Timeouts(read=0.1)) as facade,
          pytest.raises(Unavailable) as slow):
        facade.get_deployment(namespace, "web")
    assert (slow.value.reason, slow.value.attempts, slow.value.retryable) == (
        "Timeout", 2, True)
    # the server still answers both (to nobody) after its delay: let it, before the
    # namespace goes, so the abandoned requests are recorded like any other
    sandbox.wait_for(lambda: len(codes(sandbox, namespace, "get", "deployments", since)) == 2)

