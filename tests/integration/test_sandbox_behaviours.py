"""Forced pod and node behaviours, seen through the official Python client.

Sandbox only. Covers `sandbox.set_pod_behaviour`:
- `crash-loop`: the pod's container waits in CrashLoopBackOff, restartCount rises,
  lastState.terminated is Error / exit 1, BackOff events; the other pods stay healthy;
- `oom-killed`: lastState.terminated is OOMKilled / exit 137;
- `not-ready`: the pod runs but is not Ready; the Deployment's available replicas drop;
- a non-persistent fault ends with its pod (the replacement is healthy); a persistent one
  affects the pods that exist and their replacements, `count` at a time;
- `after`: healthy first, faulty later;
- a Deployment whose new pods crash-loop reports ProgressDeadlineExceeded;
and `sandbox.set_node_ready`:
- "False": Ready False, `node.kubernetes.io/not-ready` NoSchedule and NoExecute taints,
  its pods NotReady, new pods scheduled elsewhere; back to "True" clears it all;
- "Unknown": `node.kubernetes.io/unreachable` taints; a pod deleted there stays
  Terminating until the node comes back.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from kubernetes import client

from healer.sandbox import Sandbox

pytestmark = pytest.mark.sandbox_only

PAUSE = "registry.k8s.io/pause:3.10"
NODE = "node-2"
NODE_HEALTH_TAINTS = ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable")
WAIT = 10.0


def deployment(name: str, replicas: int, **spec: object) -> dict[str, object]:
    labels = {"app": name}
    return {"metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": dict(labels)},
                                  "spec": {"containers": [{"name": "app", "image": PAUSE}]}},
                     **spec}}


def bare_pod(name: str, node: str) -> dict[str, object]:
    return {"metadata": {"name": name, "labels": {"app": name}},
            "spec": {"nodeName": node, "containers": [{"name": "app", "image": PAUSE}]}}


def condition(obj: client.V1Pod | client.V1Node | client.V1Deployment, kind: str) -> str | None:
    return next((c.status for c in obj.status.conditions or [] if c.type == kind), None)


def healthy(pod: client.V1Pod) -> bool:
    statuses = pod.status.container_statuses or []
    return (pod.metadata.deletion_timestamp is None and pod.status.phase == "Running"
            and condition(pod, "Ready") == "True"
            and bool(statuses) and all(s.restart_count == 0 for s in statuses))


def crash_looping(pod: client.V1Pod) -> bool:
    statuses = pod.status.container_statuses or []
    return bool(statuses) and statuses[0].state.waiting is not None and \
        statuses[0].state.waiting.reason == "CrashLoopBackOff"


def running_deployment(sandbox: Sandbox, core: client.CoreV1Api, apps: client.AppsV1Api,
                       namespace: str, name: str, replicas: int) -> list[client.V1Pod]:
    """Create a Deployment and wait for all its pods to be healthy; its pods."""
    apps.create_namespaced_deployment(namespace, deployment(name, replicas))

    def ready() -> list[client.V1Pod]:
        pods = core.list_namespaced_pod(namespace, label_selector=f"app={name}").items
        return pods if len(pods) == replicas and all(healthy(p) for p in pods) else []

    return sandbox.wait_for(ready, WAIT, message=f"{replicas} healthy {name} pods")


def pods_of(core: client.CoreV1Api, namespace: str, app: str) -> dict[str, client.V1Pod]:
    return {p.metadata.name: p
            for p in core.list_namespaced_pod(namespace, label_selector=f"app={app}").items}


# pod behaviours --------------------------------------------------------------------------


def test_crash_loop(sandbox: Sandbox, core: client.CoreV1Api, apps: client.AppsV1Api,
                    namespace: str) -> None:
    """A crash-looping pod waits in CrashLoopBackOff with rising restarts, exit 1 Error."""
    running_deployment(sandbox, core, apps, namespace, "web", 2)
    (victim,) = sandbox.set_pod_behaviour("crash-loop", namespace=namespace,
                                          labels={"app": "web"}, count=1)
    pod = sandbox.wait_for(lambda: crash_looping(core.read_namespaced_pod(victim, namespace))
                           and core.read_namespaced_pod(victim, namespace), WAIT,
                           message="the pod to crash-loop")
    status = pod.status.container_statuses[0]
    assert (status.ready, condition(pod, "Ready"), pod.status.phase) == (False, "False",
                                                                          "Running")
    assert (status.last_state.terminated.reason, status.last_state.terminated.exit_code) == (
        "Error", 1)
    first = status.restart_count
    assert first >= 1
    sandbox.wait_for(lambda: core.read_namespaced_pod(victim, namespace)
                     .status.container_statuses[0].restart_count > first, WAIT,
                     message="another restart")

    others = [p for name, p in pods_of(core, namespace, "web").items() if name != victim]
    assert len(others) == 1
    assert healthy(others[0])
    back_offs = core.list_namespaced_event(
        namespace, field_selector=f"involvedObject.name={victim},reason=BackOff").items
    assert back_offs
    assert back_offs[0].type == "Warning"


def test_oom_killed(sandbox: Sandbox, core: client.CoreV1Api, apps: client.AppsV1Api,
                    namespace: str) -> None:
    """An OOM-killed pod's last termination is OOMKilled with exit code 137."""
    running_deployment(sandbox, core, apps, namespace, "web", 1)
    (victim,) = sandbox.set_pod_behaviour("oom-killed", namespace=namespace,
                                          labels={"app": "web"})
    pod = sandbox.wait_for(lambda: crash_looping(core.read_namespaced_pod(victim, namespace))
                           and core.read_namespaced_pod(victim, namespace), WAIT,
                           message="the pod to be OOM-killed")
    terminated = pod.status.container_statuses[0].last_state.terminated
    assert (terminated.reason, terminated.exit_code) == ("OOMKilled", 137)


def test_not_ready(sandbox: Sandbox, core: client.CoreV1Api, apps: client.AppsV1Api,
                   namespace: str) -> None:
    """A not-ready pod runs unready; the Deployment counts one replica unavailable."""
    running_deployment(sandbox, core, apps, namespace, "web", 2)

    def available() -> int:
        return apps.read_namespaced_deployment("web", namespace).status.available_replicas or 0

    sandbox.wait_for(lambda: available() == 2, WAIT, message="two available replicas")
    (victim,) = sandbox.set_pod_behaviour("not-ready", namespace=namespace,
                                          labels={"app": "web"}, count=1)
    sandbox.wait_for(lambda: available() == 1, WAIT, message="one available replica")
    pod = core.read_namespaced_pod(victim, namespace)
    status = pod.status.container_statuses[0]
    assert (pod.status.phase, condition(pod, "Ready")) == ("Running", "False")
    assert status.state.running is not None
    assert (status.ready, status.restart_count) == (False, 0)
    deployment_status = apps.read_namespaced_deployment("web", namespace).status
    assert (deployment_status.ready_replicas, deployment_status.unavailable_replicas) == (1, 1)
    unhealthy = core.list_namespaced_event(
        namespace, field_selector=f"involvedObject.name={victim},reason=Unhealthy").items
    assert unhealthy


def test_replacement_of_a_faulty_pod_is_healthy(sandbox: Sandbox, core: client.CoreV1Api,
                                                apps: client.AppsV1Api,
                                                namespace: str) -> None:
    """Without persist, deleting the crash-looping pod brings a healthy replacement."""
    running_deployment(sandbox, core, apps, namespace, "web", 1)
    (victim,) = sandbox.set_pod_behaviour("crash-loop", namespace=namespace,
                                          labels={"app": "web"})
    sandbox.wait_for(lambda: crash_looping(core.read_namespaced_pod(victim, namespace)), WAIT,
                     message="the pod to crash-loop")
    core.delete_namespaced_pod(victim, namespace)

    def replacement() -> client.V1Pod | None:
        pods = [p for name, p in pods_of(core, namespace, "web").items() if name != victim]
        return pods[0] if pods and (healthy(pods[0]) or crash_looping(pods[0])) else None

    assert healthy(sandbox.wait_for(replacement, WAIT, message="a running replacement"))


def test_persistent_fault_follows_replacements(sandbox: Sandbox, core: client.CoreV1Api,
                                               apps: client.AppsV1Api,
                                               namespace: str) -> None:
    """With persist, a running pod and then its replacement crash-loop, `count` at a time."""
    running_deployment(sandbox, core, apps, namespace, "web", 2)
    taken = sandbox.set_pod_behaviour("crash-loop", namespace=namespace,
                                      labels={"app": "web"}, count=1, persist=True)
    assert len(taken) == 1
    victim = taken[0]
    sandbox.wait_for(lambda: crash_looping(core.read_namespaced_pod(victim, namespace)), WAIT,
                     message="the existing pod to crash-loop")
    survivor = next(name for name in pods_of(core, namespace, "web") if name != victim)
    core.delete_namespaced_pod(victim, namespace)

    def replacement() -> client.V1Pod | None:
        pods = [p for name, p in pods_of(core, namespace, "web").items()
                if name not in (victim, survivor)]
        return pods[0] if pods and (healthy(pods[0]) or crash_looping(pods[0])) else None

    assert crash_looping(sandbox.wait_for(replacement, WAIT, message="a started replacement"))
    assert healthy(core.read_namespaced_pod(survivor, namespace))


def test_fault_begins_after_a_delay(sandbox: Sandbox, core: client.CoreV1Api,
                                    apps: client.AppsV1Api, namespace: str) -> None:
    """With `after`, a pod first runs healthy, then starts crash-looping."""
    after = 1.5
    sandbox.set_pod_behaviour("crash-loop", namespace=namespace, labels={"app": "web"},
                              persist=True, after=after)
    created = time.monotonic()
    apps.create_namespaced_deployment(namespace, deployment("web", 1))
    (pod,) = sandbox.wait_for(lambda: [p for p in pods_of(core, namespace, "web").values()
                                       if healthy(p)], WAIT, message="a healthy pod first")
    sandbox.wait_for(lambda: crash_looping(core.read_namespaced_pod(pod.metadata.name,
                                                                    namespace)),
                     WAIT, message="the pod to crash-loop later")
    assert time.monotonic() - created >= after


def test_crash_looping_rollout_exceeds_its_progress_deadline(sandbox: Sandbox,
                                                             core: client.CoreV1Api,
                                                             apps: client.AppsV1Api,
                                                             namespace: str) -> None:
    """A rollout whose new pods crash-loop reports Progressing False, ProgressDeadlineExceeded."""
    apps.create_namespaced_deployment(namespace, deployment("web", 2,
                                                            progressDeadlineSeconds=1))
    sandbox.wait_for(lambda: has_condition(apps, namespace, "Progressing", "True",
                                           "NewReplicaSetAvailable"), WAIT,
                     message="the first rollout to complete")
    sandbox.set_pod_behaviour("crash-loop", namespace=namespace,
                              labels={"app": "web", "release": "bad"}, persist=True)
    apps.patch_namespaced_deployment("web", namespace, {"spec": {"template": {
        "metadata": {"labels": {"release": "bad"}}}}})

    sandbox.wait_for(lambda: has_condition(apps, namespace, "Progressing", "False",
                                           "ProgressDeadlineExceeded"), WAIT,
                     message="the rollout to exceed its deadline")
    new_pods = core.list_namespaced_pod(namespace, label_selector="app=web,release=bad").items
    assert new_pods
    assert all(crash_looping(p) or p.status.phase == "Pending" for p in new_pods)
    status = apps.read_namespaced_deployment("web", namespace).status
    assert status.available_replicas >= 1  # the old pods still serve


def has_condition(apps: client.AppsV1Api, namespace: str, kind: str, status: str,
                  reason: str) -> bool:
    found = apps.read_namespaced_deployment("web", namespace)
    return any(c.type == kind and c.status == status and c.reason == reason
               for c in found.status.conditions or [])


# nodes ---------------------------------------------------------------------------------


@pytest.fixture
def node_restored(sandbox: Sandbox) -> Iterator[str]:
    """The node a test may break; Ready again afterwards, whatever happens."""
    try:
        yield NODE
    finally:
        sandbox.set_node_ready(NODE, "True")
        sandbox.wait_for(lambda: not any(
            t.get("key") in NODE_HEALTH_TAINTS
            for t in ((sandbox.get("nodes", NODE) or {}).get("spec") or {}).get("taints") or []),
            WAIT, message=f"{NODE} untainted")


def taints(core: client.CoreV1Api, node: str) -> set[tuple[str, str]]:
    """The node's not-ready / unreachable taints (cordons by other tests aside)."""
    return {(t.key, t.effect) for t in core.read_node(node).spec.taints or []
            if t.key in NODE_HEALTH_TAINTS}


def take_node_down(sandbox: Sandbox, core: client.CoreV1Api, node: str, ready: str,
                   taint: str) -> None:
    """Set the node's Ready condition to `ready` ("False" or "Unknown"); wait until exactly
    its `taint` NoSchedule and NoExecute taints are on, and check the condition reads so."""
    sandbox.set_node_ready(node, ready)
    expected = {(taint, "NoSchedule"), (taint, "NoExecute")}
    sandbox.wait_for(lambda: taints(core, node) == expected, WAIT,
                     message=f"the {taint} taints")
    assert condition(core.read_node(node), "Ready") == ready


def test_not_ready_node(sandbox: Sandbox, core: client.CoreV1Api, apps: client.AppsV1Api,
                        namespace: str, node_restored: str) -> None:
    """A NotReady node is tainted, its pods turn NotReady, new pods go elsewhere; recovery
    undoes it."""
    core.create_namespaced_pod(namespace, bare_pod("pinned", node_restored))
    sandbox.wait_for(lambda: healthy(core.read_namespaced_pod("pinned", namespace)), WAIT,
                     message="the pinned pod to run")

    take_node_down(sandbox, core, node_restored, "False", "node.kubernetes.io/not-ready")
    sandbox.wait_for(lambda: condition(core.read_namespaced_pod("pinned", namespace), "Ready")
                     == "False", WAIT, message="the pinned pod to turn NotReady")

    pods = running_deployment(sandbox, core, apps, namespace, "spread", 6)
    assert node_restored not in {p.spec.node_name for p in pods}

    sandbox.set_node_ready(node_restored, "True")
    sandbox.wait_for(lambda: not taints(core, node_restored), WAIT, message="taints cleared")
    assert condition(core.read_node(node_restored), "Ready") == "True"
    sandbox.wait_for(lambda: condition(core.read_namespaced_pod("pinned", namespace), "Ready")
                     == "True", WAIT, message="the pinned pod Ready again")


def test_unreachable_node_keeps_deleted_pods_terminating(sandbox: Sandbox,
                                                        core: client.CoreV1Api,
                                                        namespace: str,
                                                        node_restored: str) -> None:
    """On an unreachable node a deleted pod stays Terminating until the node is back."""
    elsewhere = next(n.metadata.name for n in core.list_node().items
                     if n.metadata.name != node_restored)
    core.create_namespaced_pod(namespace, bare_pod("stranded", node_restored))
    core.create_namespaced_pod(namespace, bare_pod("fine", elsewhere))
    sandbox.wait_for(lambda: all(healthy(core.read_namespaced_pod(name, namespace))
                                 for name in ("stranded", "fine")), WAIT,
                     message="both pods to run")

    take_node_down(sandbox, core, node_restored, "Unknown", "node.kubernetes.io/unreachable")

    core.delete_namespaced_pod("stranded", namespace)
    core.delete_namespaced_pod("fine", namespace)

    def gone(name: str) -> bool:
        return not core.list_namespaced_pod(namespace,
                                            field_selector=f"metadata.name={name}").items

    sandbox.wait_for(lambda: gone("fine"), WAIT, message="the pod on a healthy node to go")
    stranded = core.read_namespaced_pod("stranded", namespace)
    assert stranded.metadata.deletion_timestamp is not None

    sandbox.set_node_ready(node_restored, "True")
    sandbox.wait_for(lambda: gone("stranded"), WAIT, message="the stranded pod to go")
