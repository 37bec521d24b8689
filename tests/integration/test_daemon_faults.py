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
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from healer.audit.store import Outcome, Record
from healer.sandbox import Sandbox
from tests.conftest import Cluster
from tests.integration.daemon import (
    POD_TARGET,
    Healers,
    alert,
    chunks,
    decisions,
    make_deployment,
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
