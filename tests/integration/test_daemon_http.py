"""`healer run` end to end, through real HTTP only: a daemon process, the cluster under
test (through its kubeconfig), runbooks in a directory and an audit db of its own.

Covers:
- a KubePodCrashLooping alert: the pod is deleted and its Deployment replaces it (the
  real kubectl agrees); the audit holds the intent and `executed`, with before and after,
  as `healer audit --output json` shows them;
- the default mode (a fresh install) is dry-run: a `dry-run` record, nothing changed;
- a resolved alert never acts; a re-sent alert (same fingerprint and startsAt) is
  `suppressed` by `repeat`, after a restart of healer too; a protected namespace
  (kube-system) by `scope`, with a record naming each refused pod;
- rollout-restart and scale through alerts (kubectl shows the restartedAt annotation and
  the replicas); scale of a workload an HPA owns is refused, naming the HPA;
- a runbook whose action is not available yet (cordon): `failed`, "action not available";
- the webhook's rejections: 400 for malformed JSON and for a wrong shape (with the
  reason), 413 over maxBodyBytes, 415 for text/plain; after each the daemon still
  answers and nothing was audited or counted for it;
- /healthz and /readyz answer 200; /metrics has signals, decisions by verdict, actions by
  outcome, the queue depth and the action duration;
- start-up errors (`--mode maybe`, HEALER_MODE=maybe, a broken runbook) exit 2 with a
  clear message on stderr and no traceback, before serving;
- SIGTERM with an action in flight: exit 0, the action finishes, no dangling `pending`.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from healer.audit.store import Outcome, Record
from healer.kube import RESTARTED_AT
from healer.sandbox import Sandbox
from tests.conftest import Cluster
from tests.integration.daemon import (
    DEPLOYMENT_TARGET,
    POD_TARGET,
    Healer,
    Healers,
    alert,
    cli_records,
    make_deployment,
    records,
    runbook,
    running_pods,
    settled_pods,
)
from tests.support import Wait

MAX_BODY = 4096  # the shared daemon's maxBodyBytes, set through HEALER_MAX_BODY_BYTES

RUNBOOKS = (
    runbook("restart-crash-looping-pod", alertname="KubePodCrashLooping", target=POD_TARGET,
            action="restart-pod"),
    runbook("restart-stuck-rollout", alertname="KubeDeploymentRolloutStuck",
            target=DEPLOYMENT_TARGET, action="rollout-restart"),
    runbook("scale-up-on-latency", alertname="HighRequestLatency", target=DEPLOYMENT_TARGET,
            action="scale", params={"replicas": "+2", "max": 10}),
    runbook("cordon-not-ready-node", alertname="KubeNodeNotReady",
            target={"kind": "Node", "name": "{{ labels.node }}"}, action="cordon"),
)


@pytest.fixture(scope="module")
def healers(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Healers]:
    with Healers(cluster.kubeconfig, tmp_path_factory.mktemp("healer")) as started:
        yield started


@pytest.fixture(scope="module")
def healer(healers: Healers) -> Healer:
    """One daemon in enforce mode for the tests of this module that share it."""
    return healers.start(*RUNBOOKS, env={"HEALER_MAX_BODY_BYTES": str(MAX_BODY)})


def about(db: Path, namespace: str, name: str) -> list[Record]:
    """The records about one target, oldest first."""
    return records(db, target=f"{namespace}/{name}")[::-1]


def recorded(healer: Healer, wait: Wait, namespace: str, name: str, *outcomes: Outcome
             ) -> list[Record]:
    """Wait until the target's records include every outcome in `outcomes`; its records."""
    def found() -> list[Record]:
        have = about(healer.audit_db, namespace, name)
        return have if set(outcomes) <= {r.outcome for r in have} else []

    return wait(found, f"{', '.join(o.value for o in outcomes)} for {namespace}/{name}")


def deployment_pods(core: client.CoreV1Api, wait: Wait, namespace: str, app: str,
                    replicas: int) -> dict[str, str]:
    return wait(lambda: settled_pods(core, namespace, replicas, app),
                f"{replicas} running pods of {namespace}/{app}")


def crash_looping(namespace: str, pod: str, **fields: Any) -> dict[str, Any]:
    return alert("KubePodCrashLooping", namespace=namespace, pod=pod, container="app",
                 severity="warning", **fields)


def kubectl_get(kubectl: str, cluster: Cluster, *args: str) -> str:
    done = subprocess.run([kubectl, "--kubeconfig", str(cluster.kubeconfig), "get", *args],
                          capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def sentinel(healer: Healer, wait: Wait) -> None:
    """Send an alert the daemon answers at once with a record of its own (a cordon, not
    available yet, on a made-up node) and wait for that record: the decision loop takes
    signals in order, so whatever was accepted before it has been decided by then."""
    node = f"sentinel-{uuid.uuid4().hex[:8]}"
    healer.send(alert("KubeNodeNotReady", node=node))
    wait(lambda: records(healer.audit_db, target=node), f"the record of {node}")


# acting through alerts ---------------------------------------------------------------------


def test_a_crash_looping_pod_is_deleted_and_replaced(
        healer: Healer, cluster: Cluster, core: client.CoreV1Api, apps: client.AppsV1Api,
        namespace: str, wait: Wait, kubectl: str) -> None:
    """An alert for a pod deletes it; the Deployment replaces it; the audit has the intent
    and `executed` with the state before and after."""
    make_deployment(apps, namespace, "web")
    before = deployment_pods(core, wait, namespace, "web", 2)
    pod = sorted(before)[0]

    answer = healer.send(crash_looping(namespace, pod))

    assert answer.body == {"status": "accepted", "alerts": 1}
    trail = recorded(healer, wait, namespace, pod, Outcome.EXECUTED)
    assert [r.outcome for r in trail] == [Outcome.PENDING, Outcome.EXECUTED]
    intent, executed = trail
    assert intent.action_id == executed.action_id != ""
    assert executed.runbook == "restart-crash-looping-pod"
    assert executed.action == "restart-pod"
    assert executed.before is not None
    assert executed.before["pod"] == f"{namespace}/{pod}"
    assert executed.before["uid"] == before[pod]
    assert executed.after is not None
    assert (executed.after["deleted"], executed.after["uid"]) == (True, before[pod])
    after = wait(lambda: settled_pods(core, namespace, 2, "web", gone=[pod]),
                 "a replacement pod")
    assert len(set(after) - set(before)) == 1
    listed = kubectl_get(kubectl, cluster, "pods", "-n", namespace, "-o",
                         "jsonpath={.items[*].metadata.name}").split()
    assert pod not in listed
    assert set(after) <= set(listed)
    shown = cli_records(healer.audit_db, "--target", f"{namespace}/{pod}")
    assert [r["outcome"] for r in shown] == ["executed", "pending"]
    assert shown[0]["before"]["uid"] == before[pod]
    assert shown[0]["after"]["deleted"] is True
    assert shown[0]["actionId"] == shown[1]["actionId"]


def test_the_default_mode_is_dry_run_and_changes_nothing(
        healers: Healers, core: client.CoreV1Api, apps: client.AppsV1Api, namespace: str,
        wait: Wait) -> None:
    """Without --mode (a fresh install) the daemon dry-runs: a `dry-run` record, the pod
    stays."""
    dry = healers.start(*RUNBOOKS, mode=None)
    make_deployment(apps, namespace, "web")
    before = deployment_pods(core, wait, namespace, "web", 2)
    pod = sorted(before)[0]

    dry.send(crash_looping(namespace, pod))

    trail = recorded(dry, wait, namespace, pod, Outcome.DRY_RUN)
    assert [r.outcome for r in trail] == [Outcome.DRY_RUN]
    assert trail[0].after is not None
    assert trail[0].after["deleted"] is False
    assert trail[0].after["dryRun"] is True
    assert running_pods(core, namespace, "web") == before
    assert dry.stop() == 0


def test_a_resolved_alert_never_acts(healer: Healer, core: client.CoreV1Api,
                                     apps: client.AppsV1Api, namespace: str,
                                     wait: Wait) -> None:
    """A resolved alert for a pod leaves the pod alone and writes no record about it."""
    make_deployment(apps, namespace, "web")
    before = deployment_pods(core, wait, namespace, "web", 2)
    pod = sorted(before)[0]
    resolved = healer.metrics().get('healer_decisions_total{verdict="resolved"}', 0.0)

    healer.send(crash_looping(namespace, pod, status="resolved"))
    sentinel(healer, wait)

    assert about(healer.audit_db, namespace, pod) == []
    assert running_pods(core, namespace, "web") == before
    assert healer.metrics()['healer_decisions_total{verdict="resolved"}'] == resolved + 1


def test_a_re_sent_alert_is_suppressed_as_a_repeat(
        healer: Healer, core: client.CoreV1Api, apps: client.AppsV1Api, namespace: str,
        wait: Wait) -> None:
    """Alertmanager re-sending the alert it sent (same fingerprint and startsAt) is the
    same incident: `suppressed` by `repeat`, not a second action."""
    make_deployment(apps, namespace, "web")
    pod = sorted(deployment_pods(core, wait, namespace, "web", 2))[0]
    first = crash_looping(namespace, pod)
    healer.send(first)
    recorded(healer, wait, namespace, pod, Outcome.EXECUTED)

    healer.send(first)

    trail = recorded(healer, wait, namespace, pod, Outcome.SUPPRESSED)
    assert [(r.outcome, r.guard, r.count) for r in trail] == [
        (Outcome.PENDING, "", 1), (Outcome.EXECUTED, "", 1),
        (Outcome.SUPPRESSED, "repeat", 1)]
    assert first["fingerprint"] in trail[-1].reason


def test_a_protected_namespace_is_out_of_scope(healer: Healer, wait: Wait) -> None:
    """An alert about a pod in kube-system is `suppressed` by `scope`, naming why."""
    pod = f"coredns-{uuid.uuid4().hex[:10]}"
    healer.send(crash_looping("kube-system", pod))

    def refused() -> list[Record]:
        return [r for r in records(healer.audit_db, runbook="restart-crash-looping-pod",
                                   outcome=Outcome.SUPPRESSED)
                if r.labels.get("pod") == pod]

    trail = wait(refused, f"the refusal about kube-system/{pod}")
    assert [(r.guard, r.count) for r in trail] == [("scope", 1)]
    assert "namespace kube-system is protected" in trail[0].reason


def test_scope_refusals_name_each_refused_target(healer: Healer, wait: Wait) -> None:
    """Two alerts about two kube-system pods: each refusal names its pod, so that
    `healer audit --target` finds it, rather than one record for both showing the
    first pod's labels."""
    pods = [f"coredns-{uuid.uuid4().hex[:10]}" for _ in range(2)]
    healer.send(*(crash_looping("kube-system", pod) for pod in pods))
    sentinel(healer, wait)

    for pod in pods:
        trail = records(healer.audit_db, target=f"kube-system/{pod}")
        assert [(r.outcome, r.guard, r.count) for r in trail] == [
            (Outcome.SUPPRESSED, "scope", 1)], (pod, [
                (r.target, r.count, r.labels.get("pod")) for r in records(
                    healer.audit_db, runbook="restart-crash-looping-pod",
                    outcome=Outcome.SUPPRESSED) if r.guard == "scope"])


def test_rollout_restart_through_an_alert(
        healer: Healer, cluster: Cluster, core: client.CoreV1Api, apps: client.AppsV1Api,
        namespace: str, wait: Wait, kubectl: str) -> None:
    """KubeDeploymentRolloutStuck restarts the Deployment: the template gets restartedAt
    and every pod is replaced."""
    make_deployment(apps, namespace, "api")
    before = deployment_pods(core, wait, namespace, "api", 2)

    healer.send(alert("KubeDeploymentRolloutStuck", namespace=namespace, deployment="api"))

    trail = recorded(healer, wait, namespace, "api", Outcome.EXECUTED)
    assert [r.outcome for r in trail] == [Outcome.PENDING, Outcome.EXECUTED]
    assert trail[1].before is not None
    assert trail[1].before["restartedAt"] is None
    assert trail[1].after is not None
    restarted = trail[1].after["restartedAt"]
    assert restarted
    shown = kubectl_get(kubectl, cluster, "deployment", "api", "-n", namespace, "-o",
                        "jsonpath={.spec.template.metadata.annotations}")
    assert json.loads(shown)[RESTARTED_AT] == restarted
    wait(lambda: settled_pods(core, namespace, 2, "api", gone=before),
         "every pod of api replaced")


def test_scale_through_an_alert(healer: Healer, cluster: Cluster, core: client.CoreV1Api,
                                apps: client.AppsV1Api, namespace: str, wait: Wait,
                                kubectl: str) -> None:
    """HighRequestLatency scales the Deployment by +2; kubectl shows 4/4 ready."""
    make_deployment(apps, namespace, "api")
    deployment_pods(core, wait, namespace, "api", 2)

    healer.send(alert("HighRequestLatency", namespace=namespace, deployment="api"))

    trail = recorded(healer, wait, namespace, "api", Outcome.EXECUTED)
    assert trail[-1].before is not None
    assert trail[-1].after is not None
    assert (trail[-1].before["replicas"], trail[-1].after["replicas"]) == (2, 4)

    def shown() -> str:
        return kubectl_get(kubectl, cluster, "deployment", "api", "-n", namespace,
                           "--no-headers")

    wait(lambda: shown().split()[1] == "4/4", "kubectl get deploy to show 4/4 ready")
    assert apps.read_namespaced_deployment_scale("api", namespace).spec.replicas == 4


def test_scale_of_a_workload_an_hpa_owns_is_refused(
        healer: Healer, core: client.CoreV1Api, apps: client.AppsV1Api, namespace: str,
        wait: Wait) -> None:
    """Scaling a Deployment an HPA scales is refused (the HPA would undo it), naming the
    HPA; the replicas stay."""
    make_deployment(apps, namespace, "api")
    deployment_pods(core, wait, namespace, "api", 2)
    client.AutoscalingV2Api(apps.api_client).create_namespaced_horizontal_pod_autoscaler(
        namespace, {"metadata": {"name": "api-cpu"},
                    "spec": {"scaleTargetRef": {"apiVersion": "apps/v1",
                                                "kind": "Deployment", "name": "api"},
                             "minReplicas": 2, "maxReplicas": 5}})

    healer.send(alert("HighRequestLatency", namespace=namespace, deployment="api"))

    trail = recorded(healer, wait, namespace, "api", Outcome.SUPPRESSED)
    assert [(r.outcome, r.guard) for r in trail] == [(Outcome.SUPPRESSED, "scale")]
    assert f"HorizontalPodAutoscaler {namespace}/api-cpu" in trail[0].reason
    assert "would undo this scale; set adjustHpa: true" in trail[0].reason
    assert apps.read_namespaced_deployment_scale("api", namespace).spec.replicas == 2


def test_an_action_not_available_yet_fails_with_the_reason(
        healer: Healer, core: client.CoreV1Api, wait: Wait) -> None:
    """A runbook whose action arrives in a later release (cordon) records `failed`,
    "action not available", and leaves the node alone."""
    node = core.list_node().items[0].metadata.name
    schedulable = not core.read_node(node).spec.unschedulable

    healer.send(alert("KubeNodeNotReady", node=node))

    def failed() -> list[Record]:
        return [r for r in records(healer.audit_db, runbook="cordon-not-ready-node",
                                   outcome=Outcome.FAILED) if r.target_name == node]

    trail = wait(failed, f"a failed record for node {node}")
    assert "action not available" in trail[0].reason
    assert trail[0].action == "cordon"
    assert (not core.read_node(node).spec.unschedulable) == schedulable


# the webhook's answers ---------------------------------------------------------------------


def _bad_shape(namespace: str) -> bytes:
    good = crash_looping(namespace, "rejected-0")
    payload = {"version": "4", "status": "firing", "alerts": [good, {"labels": 42}]}
    return json.dumps(payload).encode()


def _too_large(namespace: str) -> bytes:
    big = crash_looping(namespace, "rejected-0", annotations={"summary": "x" * MAX_BODY})
    return json.dumps({"version": "4", "status": "firing", "alerts": [big]}).encode()


def _good(namespace: str) -> bytes:
    return json.dumps({"version": "4", "status": "firing",
                       "alerts": [crash_looping(namespace, "rejected-0")]}).encode()


@pytest.mark.parametrize(("body", "content_type", "status", "reason", "counted"), [
    pytest.param(lambda ns: b'{"version": "4", "alerts": [', "application/json", 400,
                 "not JSON", "malformed", id="malformed-json"),
    pytest.param(_bad_shape, "application/json", 400, "alerts[1]", "malformed",
                 id="wrong-shape"),
    pytest.param(_too_large, "application/json", 413, f"at most {MAX_BODY}", "too_large",
                 id="too-large"),
    pytest.param(_good, "text/plain", 415, "application/json", "content_type",
                 id="text-plain"),
])
def test_a_rejected_webhook_changes_nothing(
        healer: Healer, namespace: str, wait: Wait, body: Any, content_type: str,
        status: int, reason: str, counted: str) -> None:
    """A payload the webhook rejects gets its status and reason; the daemon still answers,
    and nothing about it is audited or counted as a signal."""
    received = healer.metrics().get('healer_signals_received_total{source="alertmanager"}',
                                    0.0)
    rejected = healer.metrics().get(f'healer_signals_rejected_total{{reason="{counted}"}}',
                                    0.0)

    answer = healer.post(body(namespace), content_type)

    assert answer.status == status
    assert isinstance(answer.body, dict), f"not the JSON error the webhook documents: {answer}"
    assert reason in answer.body["error"]
    assert healer.get("/healthz").status == 200
    sentinel(healer, wait)
    assert records(healer.audit_db, target=f"{namespace}/rejected-0") == []
    metrics = healer.metrics()
    assert metrics['healer_signals_received_total{source="alertmanager"}'] == received + 1
    assert metrics[f'healer_signals_rejected_total{{reason="{counted}"}}'] == rejected + 1


def test_health_and_readiness(healer: Healer) -> None:
    """/healthz and /readyz answer 200 once the daemon serves."""
    assert healer.get("/healthz").status == 200
    ready = healer.get("/readyz")
    assert (ready.status, ready.body) == (200, {"status": "ready"})


def test_metrics_count_signals_decisions_and_actions(
        healer: Healer, core: client.CoreV1Api, apps: client.AppsV1Api, namespace: str,
        wait: Wait) -> None:
    """After an alert that acted, /metrics shows it taken in, allowed, executed and
    timed, and the queue depth."""
    make_deployment(apps, namespace, "web")
    pod = sorted(deployment_pods(core, wait, namespace, "web", 2))[0]
    healer.send(crash_looping(namespace, pod))
    recorded(healer, wait, namespace, pod, Outcome.EXECUTED)

    metrics = healer.metrics()

    assert metrics['healer_signals_received_total{source="alertmanager"}'] >= 1
    assert metrics['healer_decisions_total{verdict="allowed"}'] >= 1
    assert metrics['healer_actions_total{action="restart-pod",outcome="executed"}'] >= 1
    assert metrics['healer_action_duration_seconds_count{action="restart-pod"}'] >= 1
    assert metrics["healer_queue_depth"] == 0


# starting and stopping ---------------------------------------------------------------------


BROKEN_RUNBOOK = """\
apiVersion: healer/v1
kind: Runbook
metadata: {name: broken}
spec:
  description: a runbook with a typo in a guard
  trigger: {alert: {name: KubePodCrashLooping}}
  target: {kind: Pod, namespace: "{{ labels.namespace }}", name: "{{ labels.pod }}"}
  steps: [{action: restart-pod}]
  guards: {cooldwn: 30m}
"""


@pytest.mark.parametrize(("args", "env", "text", "message"), [
    pytest.param(("--mode", "maybe"), {}, None, "invalid choice: 'maybe'", id="flag"),
    pytest.param((), {"HEALER_MODE": "maybe"}, None, "HEALER_MODE", id="variable"),
    pytest.param((), {}, BROKEN_RUNBOOK, "runbooks.yaml:9:12: unknown key 'cooldwn'",
                 id="runbook"),
])
def test_bad_configuration_exits_2_before_serving(
        healers: Healers, args: tuple[str, ...], env: dict[str, str], text: str | None,
        message: str) -> None:
    """A bad mode (flag or variable) or a broken runbook: exit 2, what is wrong on
    stderr, no traceback, and the daemon never started."""
    done = healers.run(*args, runbooks=RUNBOOKS, env=env, runbook_text=text)

    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert "healer_started" not in done.stderr


def test_a_re_sent_alert_is_a_repeat_across_a_restart(
        healers: Healers, core: client.CoreV1Api, apps: client.AppsV1Api, namespace: str,
        wait: Wait) -> None:
    """Alertmanager re-sends a firing alert every repeat_interval, restart or not: once
    the cooldown has passed it is still `suppressed` by `repeat`, before a restart of
    healer (on the same audit db) and after it; the Deployment is restarted once."""
    quick = runbook("restart-stuck-rollout", alertname="KubeDeploymentRolloutStuck",
                    target=DEPLOYMENT_TARGET, action="rollout-restart",
                    guards={"cooldown": "1s", "rateLimit": {"max": 10, "per": "1h"}})
    make_deployment(apps, namespace, "api")
    deployment_pods(core, wait, namespace, "api", 2)
    stuck = alert("KubeDeploymentRolloutStuck", namespace=namespace, deployment="api")
    cordon = RUNBOOKS[3]  # for the sentinel
    first = healers.start(quick, cordon)
    first.send(stuck)
    recorded(first, wait, namespace, "api", Outcome.EXECUTED)
    time.sleep(1.5)  # the cooldown passes: only `repeat` can refuse the re-send
    first.send(stuck)
    recorded(first, wait, namespace, "api", Outcome.SUPPRESSED)
    assert first.stop() == 0

    second = healers.start(quick, cordon, audit_db=first.audit_db)
    second.send(stuck)
    sentinel(second, wait)

    trail = about(second.audit_db, namespace, "api")
    assert [(r.outcome, r.guard) for r in trail] == [
        (Outcome.PENDING, ""), (Outcome.EXECUTED, ""), (Outcome.SUPPRESSED, "repeat"),
        (Outcome.SUPPRESSED, "repeat")], [(r.outcome.value, r.guard, r.reason[:60])
                                          for r in trail]


@pytest.mark.sandbox_only
def test_sigterm_lets_the_running_action_finish_and_exits_0(
        healers: Healers, sandbox: Sandbox, core: client.CoreV1Api, apps: client.AppsV1Api,
        namespace: str, wait: Wait) -> None:
    """SIGTERM while a pod deletion is in flight (the API answers slowly): the action
    ends `executed`, the daemon exits 0, and no intent is left `pending`."""
    daemon = healers.start(*RUNBOOKS)
    make_deployment(apps, namespace, "web")
    pod = sorted(deployment_pods(core, wait, namespace, "web", 2))[0]
    sandbox.faults.inject(verb="delete", resource="pods", latency=1.5)
    daemon.send(crash_looping(namespace, pod))
    recorded(daemon, wait, namespace, pod, Outcome.PENDING)

    assert daemon.stop() == 0

    trail = about(daemon.audit_db, namespace, pod)
    assert [r.outcome for r in trail] == [Outcome.PENDING, Outcome.EXECUTED]
    pending = {r.action_id for r in records(daemon.audit_db, outcome=Outcome.PENDING)}
    closed = {r.action_id for r in records(daemon.audit_db) if r.outcome is not
              Outcome.PENDING}
    assert pending <= closed
    assert daemon.events("healer_stopped")
    assert pod not in running_pods(core, namespace, "web")
