"""restart-pod, rollout-restart and scale against the cluster under test, through the real
client and the kube facade.

Covers, for each action, both phases (`prepare` reads and decides, `Plan.apply` writes):
- restart-pod: a Deployment's pod and a StatefulSet's are replaced (a new pod, the old
  uid gone), with the controller as the plan's workload; a pod without a controller is
  refused, and deleted with `allowUnmanaged`; `gracePeriodSeconds` reaches the API (and
  without it, the pod's own); a pod replaced between prepare and apply is never deleted
  in its replacement's place; a dry run deletes nothing but says what the server answered;
- rollout-restart: sets the `restartedAt` template annotation and the Deployment rolls
  every pod; a dry run changes nothing; a paused Deployment and an `OnDelete` StatefulSet
  are refused;
- scale: to a count, by +N and by -N, within min and max; nothing to do is refused with
  the reason; a dry run changes nothing; a ReplicaSet a Deployment controls is refused;
- scale and HorizontalPodAutoscalers: refused, naming the HPA; with `adjustHpa` the HPA's
  minReplicas (and maxReplicas, when below) are raised and the HPA scales the workload;
  a scale down is refused even then;
- API faults (sandbox fault injection): a 503 then success is retried by the facade, a
  403 fails at once with a clear `KubeError`, a missing pod fails with NotFound.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from kubernetes import client

from healer.actions.base import ActionRefused, ActionRequest, Plan
from healer.actions.catalog import NoParams, ReplicaCount, RestartPodParams, ScaleParams
from healer.actions.pods import prepare_restart_pod
from healer.actions.workloads import prepare_rollout_restart, prepare_scale
from healer.kube import (
    RESTARTED_AT,
    Conflict,
    Forbidden,
    Kube,
    NotFound,
    ObjectRef,
)
from healer.sandbox import Sandbox
from tests.support import Wait, running_pods, settled

PAUSE = "registry.k8s.io/pause:3.10"
NOW = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)


# set-up ------------------------------------------------------------------------------------


def pod_template(app: str, grace: int | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "app", "image": PAUSE}]}
    if grace is not None:
        spec["terminationGracePeriodSeconds"] = grace
    return {"metadata": {"labels": {"app": app}}, "spec": spec}


def make_deployment(apps: client.AppsV1Api, namespace: str, name: str, replicas: int = 2,
                    **spec: Any) -> ObjectRef:
    apps.create_namespaced_deployment(namespace, {
        "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": pod_template(name), **spec}})
    return ObjectRef("Deployment", name, namespace)


def make_statefulset(core: client.CoreV1Api, apps: client.AppsV1Api, namespace: str,
                     name: str = "db", **spec: Any) -> ObjectRef:
    core.create_namespaced_service(namespace, {"metadata": {"name": name}, "spec": {
        "clusterIP": "None", "selector": {"app": name}, "ports": [{"port": 5432}]}})
    apps.create_namespaced_stateful_set(namespace, {
        "metadata": {"name": name},
        "spec": {"replicas": 1, "serviceName": name, "selector": {"matchLabels": {"app": name}},
                 "template": pod_template(name), **spec}})
    return ObjectRef("StatefulSet", name, namespace)


def make_hpa(apps: client.AppsV1Api, namespace: str, target: str, low: int, high: int) -> None:
    client.AutoscalingV2Api(apps.api_client).create_namespaced_horizontal_pod_autoscaler(
        namespace, {"metadata": {"name": f"{target}-cpu"},
                    "spec": {"scaleTargetRef": {"apiVersion": "apps/v1",
                                                "kind": "Deployment", "name": target},
                             "minReplicas": low, "maxReplicas": high}})




def uids(facade: Kube, namespace: str, app: str) -> set[str]:
    return {p["metadata"]["uid"] for p in running_pods(facade, namespace, app)}


def ask(facade: Kube, target: ObjectRef, params: Any, now: datetime = NOW) -> ActionRequest:
    return ActionRequest(kube=facade, target=target, params=params, now=now)


def restart_pod(facade: Kube, namespace: str, name: str, **params: Any) -> Plan:
    return prepare_restart_pod(ask(facade, ObjectRef("Pod", name, namespace),
                                   RestartPodParams(**params)))


def scale(facade: Kube, target: ObjectRef, replicas: ReplicaCount, **params: Any) -> Plan:
    return prepare_scale(ask(facade, target, ScaleParams(replicas, **params)))


def codes(sandbox: Sandbox, namespace: str, verb: str, resource: str) -> list[int]:
    return [r.code for r in sandbox.requests
            if r.namespace == namespace and r.verb == verb and r.resource == resource]


@pytest.fixture
def web(facade: Kube, apps: client.AppsV1Api, namespace: str, wait: Wait) -> ObjectRef:
    """A Deployment `web` with two ready replicas."""
    ref = make_deployment(apps, namespace, "web")
    settled(facade, wait, ref, 2)
    return ref


# restart-pod -------------------------------------------------------------------------------


def test_restart_pod_replaces_a_deployments_pod(facade: Kube, web: ObjectRef, namespace: str,
                                                wait: Wait) -> None:
    """The plan names the pod and its Deployment; applied, the pod is gone and the
    Deployment runs a new one in its place."""
    pod = running_pods(facade, namespace, "web")[0]
    name, uid = pod["metadata"]["name"], pod["metadata"]["uid"]
    plan = restart_pod(facade, namespace, name, grace_period_seconds=0)

    assert plan.workload == web
    assert plan.before == {"pod": f"{namespace}/{name}", "uid": uid, "phase": "Running",
                           "ready": True, "restarts": 0, "node": pod["spec"]["nodeName"],
                           "owner": f"Deployment {namespace}/web"}
    assert plan.change == (f"delete pod {namespace}/{name} (Deployment {namespace}/web "
                           f"replaces it) with a 0s grace period")
    after = plan.apply(False)
    assert (after["deleted"], after["uid"]) == (True, uid)
    assert "alreadyDone" not in after

    def replaced() -> bool:
        now = uids(facade, namespace, "web")
        return len(now) == 2 and uid not in now

    wait(replaced, "a new pod in place of the deleted one")
    settled(facade, wait, web, 2)


def test_restart_pod_replaces_a_statefulsets_pod(facade: Kube, core: client.CoreV1Api,
                                                 apps: client.AppsV1Api, namespace: str,
                                                 wait: Wait) -> None:
    """A StatefulSet's pod comes back under the same name with a new uid."""
    db = make_statefulset(core, apps, namespace)
    settled(facade, wait, db, 1)
    uid = facade.get_pod(namespace, "db-0")["metadata"]["uid"]
    plan = restart_pod(facade, namespace, "db-0", grace_period_seconds=0)
    assert plan.workload == db
    assert plan.before["owner"] == f"StatefulSet {namespace}/db"
    plan.apply(False)

    def recreated() -> bool:
        try:
            return facade.get_pod(namespace, "db-0")["metadata"]["uid"] != uid
        except NotFound:
            return False

    wait(recreated, "db-0 recreated with a new uid")
    settled(facade, wait, db, 1)


def test_restart_pod_never_deletes_a_replacement_that_took_the_name(
        facade: Kube, core: client.CoreV1Api, apps: client.AppsV1Api, namespace: str,
        wait: Wait) -> None:
    """db-0 is replaced between prepare and apply: the apply is a uid Conflict, and the new
    db-0 keeps running."""
    db = make_statefulset(core, apps, namespace)
    settled(facade, wait, db, 1)
    old = facade.get_pod(namespace, "db-0")["metadata"]["uid"]
    plan = restart_pod(facade, namespace, "db-0")
    core.delete_namespaced_pod("db-0", namespace, grace_period_seconds=0)

    def replacement() -> str | None:
        try:
            uid = facade.get_pod(namespace, "db-0")["metadata"]["uid"]
        except NotFound:
            return None
        return uid if uid != old else None

    new = wait(replacement, "db-0 recreated")
    with pytest.raises(Conflict) as refused:
        plan.apply(False)
    assert refused.value.uid_mismatch
    pod = facade.get_pod(namespace, "db-0")
    assert pod["metadata"]["uid"] == new
    assert "deletionTimestamp" not in pod["metadata"]


def test_bare_pod_is_refused(facade: Kube, core: client.CoreV1Api, namespace: str,
                             wait: Wait) -> None:
    """A pod without a controller is refused before anything is written: nothing would
    replace it."""
    core.create_namespaced_pod(namespace, {"metadata": {"name": "loner"},
                                           "spec": pod_template("loner")["spec"]})
    with pytest.raises(ActionRefused) as refused:
        restart_pod(facade, namespace, "loner")
    assert refused.value.guard == "restart-pod"
    assert refused.value.reason == (
        f"pod {namespace}/loner has no controller: nothing would replace it; set "
        "allowUnmanaged: true on the step to delete it anyway")
    assert "deletionTimestamp" not in facade.get_pod(namespace, "loner")["metadata"]


def test_bare_pod_is_deleted_with_allow_unmanaged(facade: Kube, core: client.CoreV1Api,
                                                  namespace: str, wait: Wait) -> None:
    """allowUnmanaged: the plan says nothing replaces the pod, has no workload for
    minHealthy, and deletes it."""
    core.create_namespaced_pod(namespace, {"metadata": {"name": "loner"},
                                           "spec": pod_template("loner")["spec"]})
    plan = restart_pod(facade, namespace, "loner", allow_unmanaged=True)
    assert plan.workload is None
    assert plan.before["owner"] is None
    assert plan.change == (f"delete pod {namespace}/loner (no controller: nothing replaces "
                           f"it)")
    assert plan.apply(False)["deleted"] is True

    def gone() -> bool:
        try:
            facade.get_pod(namespace, "loner")
        except NotFound:
            return True
        return False

    wait(gone, "the bare pod to be gone")


def test_grace_period_reaches_the_api(facade: Kube, apps: client.AppsV1Api, namespace: str,
                                      wait: Wait) -> None:
    """gracePeriodSeconds is the grace the API server takes; without it, the pod's own
    terminationGracePeriodSeconds."""
    apps.create_namespaced_deployment(namespace, {
        "metadata": {"name": "slow"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "slow"}},
                 "template": pod_template("slow", grace=7)}})
    slow = ObjectRef("Deployment", "slow", namespace)
    settled(facade, wait, slow, 2)
    first, second = (p["metadata"]["name"] for p in running_pods(facade, namespace, "slow"))

    assert restart_pod(facade, namespace, first).apply(True)["gracePeriodSeconds"] == 7
    after = restart_pod(facade, namespace, second, grace_period_seconds=45).apply(False)
    assert after["gracePeriodSeconds"] == 45


def test_dry_run_deletes_nothing_but_says_what_would_happen(facade: Kube, web: ObjectRef,
                                                            namespace: str) -> None:
    """A dry run answers like the delete (the uid, the grace period taken) and the pod
    stays, not even terminating."""
    pod = running_pods(facade, namespace, "web")[0]["metadata"]
    after = restart_pod(facade, namespace, pod["name"], grace_period_seconds=5).apply(True)
    assert after == {"deleted": False, "dryRun": True, "uid": pod["uid"],
                     "gracePeriodSeconds": 5}
    assert "deletionTimestamp" not in facade.get_pod(namespace, pod["name"])["metadata"]
    assert pod["uid"] in uids(facade, namespace, "web")


def test_a_missing_pod_fails_clearly(facade: Kube, namespace: str) -> None:
    """A pod that does not exist is a NotFound naming the request, sent once."""
    with pytest.raises(NotFound) as missing:
        restart_pod(facade, namespace, "ghost")
    assert str(missing.value) == (f'GET pods {namespace}/ghost: 404 NotFound: pods "ghost" '
                                  f'not found')
    assert missing.value.attempts == 1


# rollout-restart ---------------------------------------------------------------------------


def test_rollout_restart_sets_restarted_at_and_rolls(facade: Kube, web: ObjectRef,
                                                     namespace: str, wait: Wait) -> None:
    """The plan shows the annotation before and after; applied, every pod is replaced."""
    old = uids(facade, namespace, "web")
    plan = prepare_rollout_restart(ask(facade, web, NoParams()))
    assert plan.workload == web
    assert plan.before == {"restartedAt": None, "replicas": 2, "ready": 2, "generation": 1}
    assert plan.change == (f"rollout restart Deployment {namespace}/web: restartedAt unset → "
                           f"2030-01-02T03:04:05Z")
    after = plan.apply(False)
    assert after == {"restartedAt": "2030-01-02T03:04:05Z", "replicas": 2, "generation": 2}
    template = facade.get_deployment(namespace, "web")["spec"]["template"]
    assert template["metadata"]["annotations"][RESTARTED_AT] == "2030-01-02T03:04:05Z"

    def rolled() -> bool:
        return not uids(facade, namespace, "web") & old and facade.replicas(web).settled

    wait(rolled, "every pod of web replaced")


def test_rollout_restart_dry_run_changes_nothing(facade: Kube, web: ObjectRef,
                                                 namespace: str) -> None:
    """A dry run answers the annotation it would set; the template stays as it was."""
    before = facade.get_deployment(namespace, "web")
    after = prepare_rollout_restart(ask(facade, web, NoParams())).apply(True)
    assert after["restartedAt"] == "2030-01-02T03:04:05Z"
    now = facade.get_deployment(namespace, "web")
    assert now["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert RESTARTED_AT not in (now["spec"]["template"]["metadata"].get("annotations") or {})


def test_rollout_restart_refuses_what_would_not_roll(facade: Kube, core: client.CoreV1Api,
                                                     apps: client.AppsV1Api,
                                                     namespace: str) -> None:
    """A paused Deployment and an OnDelete StatefulSet would change their template and
    replace no pod: refused, saying what to do instead."""
    paused = make_deployment(apps, namespace, "paused", replicas=1, paused=True)
    manual = make_statefulset(core, apps, namespace, "manual",
                              updateStrategy={"type": "OnDelete"})
    with pytest.raises(ActionRefused) as refused:
        prepare_rollout_restart(ask(facade, paused, NoParams()))
    assert refused.value.reason == (f"Deployment {namespace}/paused is paused: a restart would "
                                    "not roll it; resume it first (kubectl rollout resume)")
    with pytest.raises(ActionRefused) as refused:
        prepare_rollout_restart(ask(facade, manual, NoParams()))
    assert refused.value.reason.startswith(f"StatefulSet {namespace}/manual updates its pods "
                                           "OnDelete")


# scale -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("replicas", "bounds", "wanted"), [
    (ReplicaCount(4), {}, 4),
    (ReplicaCount(2, relative=True), {}, 4),
    (ReplicaCount(-1, relative=True), {}, 1),
    (ReplicaCount(5, relative=True), {"max": 3}, 3),
    (ReplicaCount(-5, relative=True), {"min": 1}, 1),
], ids=["count", "+2", "-1", "+5 to max 3", "-5 to min 1"])
def test_scale_to_a_count_or_by_a_change(facade: Kube, web: ObjectRef, namespace: str,
                                         wait: Wait, replicas: ReplicaCount,
                                         bounds: dict[str, int], wanted: int) -> None:
    """From 2 replicas: the count asked for, within min and max, as the API answered;
    the Deployment then runs that many."""
    plan = scale(facade, web, replicas, **bounds)
    assert (plan.before, plan.change, plan.workload) == (
        {"replicas": 2}, f"replicas 2 → {wanted}", web)
    assert plan.apply(False) == {"replicas": wanted}
    settled(facade, wait, web, wanted)


@pytest.mark.parametrize(("replicas", "bounds", "why"), [
    (ReplicaCount(2), {}, "already runs 2 replicas, as asked"),
    (ReplicaCount(2, relative=True), {"max": 2}, "already runs 2 replicas, its max"),
    (ReplicaCount(1, relative=True), {"max": 1}, "already runs 2 replicas, above its max (1)"),
    (ReplicaCount(-1, relative=True), {"min": 2}, "already runs 2 replicas, its min"),
])
def test_scale_with_nothing_to_do_is_refused(facade: Kube, web: ObjectRef, namespace: str,
                                             replicas: ReplicaCount, bounds: dict[str, int],
                                             why: str) -> None:
    """When the count would not change, the refusal says so and why."""
    with pytest.raises(ActionRefused) as refused:
        scale(facade, web, replicas, **bounds)
    assert (refused.value.guard, refused.value.reason) == (
        "scale", f"Deployment {namespace}/web {why}")


def test_scale_dry_run_changes_nothing(facade: Kube, web: ObjectRef, namespace: str) -> None:
    """A dry run answers the new count; the Deployment keeps its replicas."""
    assert scale(facade, web, ReplicaCount(3, relative=True)).apply(True) == {"replicas": 5}
    assert facade.read_scale(web).replicas == 2


def test_scale_refuses_a_deployments_replicaset(facade: Kube, web: ObjectRef,
                                                namespace: str) -> None:
    """The Deployment would undo a scale of its ReplicaSet: refused, naming it."""
    pod = running_pods(facade, namespace, "web")[0]
    replicaset = ObjectRef("ReplicaSet", pod["metadata"]["ownerReferences"][0]["name"],
                           namespace)
    with pytest.raises(ActionRefused) as refused:
        scale(facade, replicaset, ReplicaCount(1, relative=True))
    assert refused.value.reason == (f"{replicaset} is controlled by Deployment "
                                    f"{namespace}/web, which would undo the scale: scale the "
                                    "Deployment")


def test_scale_refuses_a_workload_an_hpa_scales(facade: Kube, web: ObjectRef,
                                                apps: client.AppsV1Api,
                                                namespace: str) -> None:
    """The HPA would undo the scale: refused, naming the HPA and adjustHpa."""
    make_hpa(apps, namespace, "web", 2, 4)
    with pytest.raises(ActionRefused) as refused:
        scale(facade, web, ReplicaCount(1, relative=True))
    assert refused.value.reason == (
        f"HorizontalPodAutoscaler {namespace}/web-cpu scales Deployment {namespace}/web "
        "(minReplicas 2, maxReplicas 4) and would undo this scale; set adjustHpa: true on "
        "the step to raise its minReplicas instead")
    assert facade.read_scale(web).replicas == 2


def test_adjust_hpa_raises_its_bounds_and_the_hpa_scales(facade: Kube, web: ObjectRef,
                                                         apps: client.AppsV1Api,
                                                         namespace: str, wait: Wait) -> None:
    """adjustHpa: +3 from 2 raises minReplicas to 5, and maxReplicas (4) too; a dry run
    stores nothing; applied, the HPA scales the Deployment to 5."""
    make_hpa(apps, namespace, "web", 2, 4)
    plan = scale(facade, web, ReplicaCount(3, relative=True), adjust_hpa=True)
    hpa = f"{namespace}/web-cpu"
    assert plan.before == {"replicas": 2, "hpa": hpa, "minReplicas": 2, "maxReplicas": 4}
    assert plan.change == (f"HorizontalPodAutoscaler {hpa} minReplicas 2 → 5, maxReplicas "
                           f"4 → 5, so it scales Deployment {namespace}/web from 2 to 5")
    assert plan.workload == web

    assert plan.apply(True) == {"hpa": hpa, "minReplicas": 5, "maxReplicas": 5}
    stored = facade.get_hpa(namespace, "web-cpu")["spec"]
    assert (stored["minReplicas"], stored["maxReplicas"]) == (2, 4)

    assert plan.apply(False) == {"hpa": hpa, "minReplicas": 5, "maxReplicas": 5}
    stored = facade.get_hpa(namespace, "web-cpu")["spec"]
    assert (stored["minReplicas"], stored["maxReplicas"]) == (5, 5)
    settled(facade, wait, web, 5)


def test_adjust_hpa_never_lowers_its_bounds(facade: Kube, web: ObjectRef,
                                            apps: client.AppsV1Api, namespace: str) -> None:
    """A scale down of an autoscaled workload is refused even with adjustHpa."""
    make_hpa(apps, namespace, "web", 1, 4)
    with pytest.raises(ActionRefused) as refused:
        scale(facade, web, ReplicaCount(-1, relative=True), adjust_hpa=True)
    assert "adjustHpa only raises its minReplicas" in refused.value.reason
    assert facade.get_hpa(namespace, "web-cpu")["spec"]["minReplicas"] == 1


# API faults --------------------------------------------------------------------------------


@pytest.mark.sandbox_only
def test_unavailable_then_success_is_retried_by_the_facade(facade: Kube, web: ObjectRef,
                                                           sandbox: Sandbox,
                                                           namespace: str) -> None:
    """A 503 on the scale write, then success: the action does not see the 503."""
    plan = scale(facade, web, ReplicaCount(1, relative=True))
    sandbox.faults.inject(verb="patch", resource="deployments/scale", status=503, count=1)
    assert plan.apply(False) == {"replicas": 3}
    assert codes(sandbox, namespace, "patch", "deployments/scale") == [503, 200]


@pytest.mark.sandbox_only
def test_forbidden_fails_at_once(facade: Kube, web: ObjectRef, sandbox: Sandbox,
                                 namespace: str) -> None:
    """A 403 on the pod delete is sent once and fails as Forbidden, saying which request."""
    pod = running_pods(facade, namespace, "web")[0]["metadata"]["name"]
    plan = restart_pod(facade, namespace, pod)
    sandbox.faults.inject(verb="delete", resource="pods", status=403)
    with pytest.raises(Forbidden) as forbidden:
        plan.apply(False)
    assert str(forbidden.value) == (f"DELETE pods {namespace}/{pod}: 403 Forbidden: "
                                    "injected fault")
    assert (forbidden.value.attempts, forbidden.value.retryable) == (1, False)
    assert codes(sandbox, namespace, "delete", "pods") == [403]
