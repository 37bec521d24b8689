"""`healer run` acting while the Kubernetes API misbehaves, through real HTTP only.

The issue: "with the sandbox failing a fraction of requests (500/503/429, latency,
dropped connections), every action ends `executed` or `failed` with the reason; nothing
is executed twice; nothing is lost from the audit."

Sandbox only (fault injection, the request log). Covers, with 60 pods, a runbook with
generous limits and every pod alerted on (two incidents each, each sent twice) while a
share of the daemon's API requests answer 500, 503 or 429 (Retry-After), come late, or
lose their connection, and the first three pod deletions are forbidden (403, never
retried):
- every intent has exactly one outcome, `executed` or `failed`, and a failed one says
  why; nothing is `executed` without an intent before it (write-ahead);
- no pod has two intents, and no pod was deleted twice (the sandbox's request log): the
  pods whose DELETE succeeded are exactly the ones recorded `executed`;
- the decisions recorded (counts added up) equal the alerts sent.

And answers lost after the API server acted (`drop_after`: the DELETE or PATCH was served,
the connection closed without its answer), with pods of Deployments and one StatefulSet
pod restarted, and Deployments rollout-restarted and scaled, while a share of those writes
lose their answer, at once or late (the pod is gone by the retry):
- every intent has exactly one outcome, `executed` or `failed` with the reason, and the
  decisions recorded equal the alerts sent;
- a restart-pod whose retry answered 404 or 409 records `alreadyDone`, one whose retry
  answered 200 (the same pod, still terminating) does not;
- the StatefulSet pod, recreated under its name before the retry, is not deleted by it:
  the retry answers 409 (uid precondition), the replacement runs on;
- the pods deleted are exactly the pods healer meant (by uid), and every workload's spec
  changed once (its generation), to the state the audit records.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from healer.audit.store import Outcome, Record
from healer.kube import RESTARTED_AT
from healer.sandbox import Sandbox
from healer.sandbox.store import Watch
from tests.conftest import Cluster
from tests.integration.daemon import (
    DEPLOYMENT_TARGET,
    POD_TARGET,
    Healer,
    Healers,
    alert,
    chunks,
    decisions,
    make_deployment,
    make_statefulset,
    records,
    runbook,
    running_pods,
    settled_pods,
)
from tests.support import Wait, eventually

pytestmark = pytest.mark.sandbox_only

DEPLOYMENTS, REPLICAS = 6, 10  # 60 pods
FORBIDDEN = 3  # the first pod deletions answered 403
RUNBOOK = "restart-crash-looping-pod"
GENEROUS = runbook(
    RUNBOOK, alertname="KubePodCrashLooping", target=POD_TARGET, action="restart-pod",
    guards={"rateLimit": {"max": 1000, "per": "1h", "by": "namespace"},
            "maxConcurrent": 100})


@pytest.fixture
def healers(cluster: Cluster, tmp_path: Path) -> Iterator[Healers]:
    with Healers(cluster.kubeconfig, tmp_path) as started:
        yield started


def unreliable(sandbox: Sandbox) -> None:
    """The API as a cluster under load answers: first three pod deletions forbidden, then
    for a share of every request a 500, 503, 429, a delay or a dropped connection."""
    faults = sandbox.faults
    faults.inject(verb="delete", resource="pods", status=403, count=FORBIDDEN)
    faults.inject(status=500, fraction=0.1)
    faults.inject(status=503, fraction=0.1)
    faults.inject(status=429, retry_after=1, fraction=0.05)
    faults.inject(drop=True, fraction=0.05)
    faults.inject(latency=0.2, fraction=0.15)


def alerts_for(namespace: str, pods: list[str]) -> list[dict[str, Any]]:
    """Per pod two incidents (distinct startsAt), each sent twice; shuffled."""
    alerts = [alert("KubePodCrashLooping", namespace=namespace, pod=pod, container="app",
                    starts_at=f"2030-01-02T03:0{k}:05Z")
              for pod in pods for k in range(2) for _ in range(2)]
    random.Random(3).shuffle(alerts)
    return alerts


def test_under_api_faults_every_action_ends_once_and_nothing_is_lost(
        healers: Healers, sandbox: Sandbox, core: client.CoreV1Api, apps: client.AppsV1Api,
        namespace: str, wait: Wait) -> None:
    """Every intent ends `executed` or `failed` (with the reason) exactly once, no pod is
    deleted twice, and every alert is a decision in the audit."""
    for index in range(DEPLOYMENTS):
        make_deployment(apps, namespace, f"web-{index}", replicas=REPLICAS)
    total = DEPLOYMENTS * REPLICAS
    pods = sorted(wait(lambda: settled_pods(core, namespace, total), f"{total} running pods"))
    healer = healers.start(GENEROUS)
    alerts = alerts_for(namespace, pods)
    unreliable(sandbox)

    rng = random.Random(5)
    sizes = iter(lambda: rng.randint(1, 30), None)
    for batch in chunks(alerts, sizes):
        healer.send(*batch)

    def all_decided() -> list[Record]:
        found = records(healer.audit_db, runbook=RUNBOOK)
        return found if decisions(found) >= len(alerts) else []

    found = eventually(all_decided, f"{len(alerts)} decisions recorded", timeout=45)
    sandbox.faults.clear()
    assert decisions(found) == len(alerts)

    by_action: defaultdict[str, list[Record]] = defaultdict(list)
    for record in found:
        if record.action_id:
            by_action[record.action_id].append(record)
    intents = {r.action_id: r for r in found if r.outcome is Outcome.PENDING}
    assert intents, "no action got as far as its intent"
    for action_id, intent in intents.items():
        ends = [r for r in by_action[action_id] if r.outcome is not Outcome.PENDING]
        assert [r.outcome for r in ends] in ([Outcome.EXECUTED], [Outcome.FAILED]), (
            intent.target, [(r.outcome, r.reason) for r in ends])
        if ends[0].outcome is Outcome.FAILED:
            assert ends[0].reason
            assert ends[0].error
    executed = [r for r in found if r.outcome is Outcome.EXECUTED]
    assert all(r.action_id in intents for r in executed), "executed without an intent"
    failed = [r for r in found if r.outcome is Outcome.FAILED and r.action_id in intents]
    assert sum("Forbidden" in r.error or "403" in r.error for r in failed) == FORBIDDEN, [
        r.error for r in failed]
    assert executed

    per_pod = Counter(r.target_name for r in intents.values())
    assert max(per_pod.values()) == 1, per_pod.most_common(3)
    deletes = Counter(r.name for r in sandbox.requests
                      if r.namespace == namespace and r.verb == "delete"
                      and r.resource == "pods" and not r.dry_run and r.code == 200)
    assert max(deletes.values()) == 1, deletes.most_common(3)
    assert set(deletes) == {r.target_name for r in executed}
    assert not set(deletes) & set(running_pods(core, namespace))


# answers lost after serving ------------------------------------------------------------

POD_APPS, POD_REPLICAS = 4, 6  # 24 Deployment pods to restart
WORKLOADS = 6  # Deployments to rollout-restart, and as many to scale
STATEFUL = "db"  # a StatefulSet of one: its pod db-0 is a restart-pod target too
LATE = 1.5  # seconds db-0's lost DELETE answer keeps the connection: by the retry, the
# StatefulSet has recreated db-0 (a pod stops in 0.5 s in the sandbox)
LATE_DELETES = 3  # the first Deployment pod DELETEs, whose answers come late and never
ROLLOUT, SCALE = "restart-stuck-rollout", "scale-up-on-latency"
LIMITS = {"rateLimit": {"max": 1000, "per": "1h", "by": "namespace"}, "maxConcurrent": 100}
LOSING = (
    runbook(RUNBOOK, alertname="KubePodCrashLooping", target=POD_TARGET,
            action="restart-pod", guards=LIMITS),
    runbook(ROLLOUT, alertname="KubeDeploymentRolloutStuck", target=DEPLOYMENT_TARGET,
            action="rollout-restart", guards=LIMITS),
    runbook(SCALE, alertname="HighRequestLatency", target=DEPLOYMENT_TARGET, action="scale",
            params={"replicas": "+1", "max": 5}, guards=LIMITS),
)


def answers_lost(sandbox: Sandbox) -> None:
    """Pod DELETEs and workload PATCHes served, then their answer lost: the first few for
    certain, then a share. The first pod DELETEs' answers are late (the pod is gone by the
    retry: 404); the others' at once (the pod is still terminating: the retry gets 200)."""
    faults = sandbox.faults
    faults.inject(verb="delete", resource="pods", drop_after=True, latency=0.8,
                  count=LATE_DELETES)
    faults.inject(verb="patch", resource="deployments", drop_after=True, count=2)
    faults.inject(verb="patch", resource="deployments/scale", drop_after=True, count=2)
    faults.inject(verb="delete", resource="pods", drop_after=True, fraction=0.25)
    faults.inject(verb="patch", resource="deployments", drop_after=True, fraction=0.3)
    faults.inject(verb="patch", resource="deployments/scale", drop_after=True, fraction=0.3)


def incidents(alertname: str, namespace: str, names: Sequence[str], *,
              pods: bool) -> list[dict[str, Any]]:
    """Per pod (or Deployment) two incidents (distinct startsAt), each sent twice."""
    def one(name: str, k: int) -> dict[str, Any]:
        starts_at = f"2030-01-02T03:0{k}:05Z"
        if pods:
            return alert(alertname, namespace=namespace, pod=name, container="app",
                         starts_at=starts_at)
        return alert(alertname, namespace=namespace, deployment=name, starts_at=starts_at)
    return [one(name, k) for name in names for k in range(2) for _ in range(2)]


def deleted_uids(watch: Watch, apps: set[str]) -> set[str]:
    """The uids of the pods of `apps` the watch saw deleted or given a deletionTimestamp."""
    uids = set()
    while not watch.events.empty():
        event = watch.events.get_nowait()
        if event is None:
            break
        kind, pod = event
        metadata = pod["metadata"]
        if (metadata.get("labels") or {}).get("app") in apps and (
                kind == "DELETED" or metadata.get("deletionTimestamp")):
            uids.add(metadata["uid"])
    return uids


def ended(healer: Healer, name: str) -> Record | None:
    """The outcome recorded for the restart-pod of pod `name`, once there is one."""
    return next((r for r in records(healer.audit_db, runbook=RUNBOOK)
                 if r.target_name == name and r.outcome is not Outcome.PENDING), None)


def test_answers_lost_after_serving_never_make_an_action_happen_twice(
        healers: Healers, sandbox: Sandbox, core: client.CoreV1Api, apps: client.AppsV1Api,
        namespace: str, wait: Wait) -> None:
    """DELETEs and PATCHes served whose answers were lost: each action ends once, a retry
    that finds its work done says so, no pod is deleted that healer did not mean (the
    StatefulSet's replacement pod least of all), no workload changes twice."""
    pod_apps = [f"web-{i}" for i in range(POD_APPS)]
    restarted = [f"stuck-{i}" for i in range(WORKLOADS)]
    scaled = [f"slow-{i}" for i in range(WORKLOADS)]
    for name in pod_apps:
        make_deployment(apps, namespace, name, replicas=POD_REPLICAS)
    for name in restarted + scaled:
        make_deployment(apps, namespace, name, replicas=1)
    make_statefulset(apps, namespace, STATEFUL)
    total = POD_APPS * POD_REPLICAS + 2 * WORKLOADS + 1
    first = wait(lambda: settled_pods(core, namespace, total), f"{total} running pods")
    generations = {d.metadata.name: d.metadata.generation
                   for d in apps.list_namespaced_deployment(namespace).items}
    pods = sorted(n for n in first if n.rsplit("-", 2)[0] in pod_apps)
    stateful = f"{STATEFUL}-0"
    healer = healers.start(*LOSING)
    watch = sandbox.store.watch(sandbox.registry.core("pods"), namespace=namespace)
    try:
        # db-0's DELETE is served, its answer comes late and never: the retry (uid pinned)
        # meets the pod the StatefulSet made in its place
        sandbox.faults.inject(verb="delete", resource="pods", drop_after=True, latency=LATE,
                              count=1)
        alerts = incidents("KubePodCrashLooping", namespace, [stateful], pods=True)
        healer.send(alerts[0])
        eventually(lambda: ended(healer, stateful), f"{stateful} restarted", timeout=10)

        answers_lost(sandbox)
        rest = (alerts[1:] + incidents("KubePodCrashLooping", namespace, pods, pods=True)
                + incidents("KubeDeploymentRolloutStuck", namespace, restarted, pods=False)
                + incidents("HighRequestLatency", namespace, scaled, pods=False))
        random.Random(7).shuffle(rest)
        alerts = alerts[:1] + rest
        rng = random.Random(11)
        for batch in chunks(rest, iter(lambda: rng.randint(1, 20), None)):
            healer.send(*batch)

        def all_decided() -> list[Record]:
            found = records(healer.audit_db)
            return found if decisions(found) >= len(alerts) else []

        found = eventually(all_decided, f"{len(alerts)} decisions recorded", timeout=30)
        sandbox.faults.clear()
        deleted = deleted_uids(watch, {*pod_apps, STATEFUL})
    finally:
        sandbox.store.unwatch(watch)
    assert decisions(found) == len(alerts)

    intents = {r.action_id: r for r in found if r.outcome is Outcome.PENDING}
    ends: defaultdict[str, list[Record]] = defaultdict(list)
    for record in found:
        if record.action_id and record.outcome is not Outcome.PENDING:
            ends[record.action_id].append(record)
    assert set(ends) <= set(intents), "an outcome without an intent"
    outcome: dict[tuple[str, str], Record] = {}
    for action_id, intent in intents.items():
        end = ends[action_id]
        assert [r.outcome for r in end] in ([Outcome.EXECUTED], [Outcome.FAILED]), (
            intent.target, [(r.outcome, r.reason) for r in end])
        if end[0].outcome is Outcome.FAILED:
            assert end[0].reason
            assert end[0].error
        outcome[intent.runbook, intent.target_name] = end[0]
    per_target = Counter((r.runbook, r.target_name) for r in intents.values())
    assert max(per_target.values()) == 1, per_target.most_common(3)
    targets = {(RUNBOOK, p) for p in [stateful, *pods]} | {(ROLLOUT, d) for d in restarted} \
        | {(SCALE, d) for d in scaled}
    assert set(outcome) == targets

    lost_then_done = 0
    for pod in [stateful, *pods]:
        done = outcome[RUNBOOK, pod]
        answers = [(r.code, r.dropped) for r in sandbox.requests
                   if r.namespace == namespace and r.verb == "delete" and r.resource == "pods"
                   and r.name == pod and not r.dry_run]
        assert answers[0][0] == 200, (pod, answers)
        if done.outcome is Outcome.EXECUTED:
            assert done.after is not None
            assert done.after["deleted"] is True
            code, dropped = answers[-1]
            assert not dropped, (pod, answers)
            assert done.after.get("alreadyDone", False) is (code in (404, 409)), (
                pod, answers, done.after)
            lost_then_done += code in (404, 409)
    assert lost_then_done >= LATE_DELETES, "retries did not find their DELETE done"

    db = outcome[RUNBOOK, stateful]
    assert db.outcome is Outcome.EXECUTED, db
    assert db.after is not None
    assert db.after.get("alreadyDone") is True, db.after
    assert [(r.code, r.dropped) for r in sandbox.requests
            if r.namespace == namespace and r.verb == "delete" and r.name == stateful] == [
        (200, True), (409, False)]
    replacement = running_pods(core, namespace, STATEFUL)
    assert set(replacement) == {stateful}
    assert replacement[stateful] != first[stateful]
    assert replacement[stateful] not in deleted

    meant = {r.before["uid"] for r in intents.values() if r.runbook == RUNBOOK and r.before}
    executed = {(outcome[RUNBOOK, p].after or {}).get("uid") for p in [stateful, *pods]
                if outcome[RUNBOOK, p].outcome is Outcome.EXECUTED}
    assert executed <= deleted <= meant, (executed - deleted, deleted - meant)
    assert meant == {first[p] for p in [stateful, *pods]}

    now = {d.metadata.name: d for d in apps.list_namespaced_deployment(namespace).items}
    for name in restarted + scaled:
        runbook_name = ROLLOUT if name in restarted else SCALE
        done = outcome[runbook_name, name]
        changed = now[name].metadata.generation - generations[name]
        if done.outcome is Outcome.EXECUTED:
            assert changed == 1, (name, done.after)
            assert done.after is not None
            if runbook_name == ROLLOUT:
                annotations = now[name].spec.template.metadata.annotations or {}
                assert done.after["restartedAt"] == annotations[RESTARTED_AT]
            else:
                assert done.after["replicas"] == now[name].spec.replicas == 2
        else:
            assert changed <= 1, (name, done.error)
    lost = [r for r in sandbox.requests if r.namespace == namespace and r.dropped]
    assert {r.resource for r in lost} >= {"pods", "deployments", "deployments/scale"}
