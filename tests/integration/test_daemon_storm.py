"""An alert storm against `healer run`, through real HTTP only.

The issue: "5,000 alerts for 500 pods in a few seconds against a runbook limited to 3
actions per hour: exactly 3 actions, every alert accounted for in the audit counts, the
webhook keeps answering." And: "Guard state is computed from the audit store, so
restarting the daemon never resets a limit."

Covers, with 500 pods (10 Deployments of 50) and 5,000 alerts (per pod, 5 incidents,
with two fingerprints and distinct startsAt, each sent twice), in batches of 1 to 100
alerts from 8 concurrent senders:
- exactly 3 intents and 3 `executed`; the sum of `count` over the runbook's records
  (intents aside: their outcome is a record of its own) is 5,000, as is
  healer_signals_received_total and the sum of healer_decisions_total; every POST is
  answered 200 (the default intake holds 10,000 signals: no 503 is expected, and none is
  accepted); /healthz answers quickly all through the storm;
- a restart mid-storm (SIGTERM after half the alerts, a new daemon on the same audit db
  for the rest): still exactly 3 actions in all, every alert accounted for;
- a crash mid-storm (SIGKILL while the 3 actions wait on a slow API): the next start
  closes the 3 dangling intents as `unknown`, they still count against the limit, and
  no further action runs.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config

from healer.audit.store import Outcome, Record
from healer.sandbox import Sandbox
from tests.conftest import Cluster
from tests.integration.daemon import (
    POD_TARGET,
    Healer,
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

DEPLOYMENTS, REPLICAS = 10, 50  # 500 pods
INCIDENTS, SENDS = 5, 2  # per pod: 5 incidents, each sent twice: 5,000 alerts
SENDERS = 8  # concurrent POSTs
HEALTHZ_WITHIN = 1.0  # seconds /healthz may take during the storm
DECIDED_WITHIN = 30.0  # seconds for every alert of a storm to be decided and recorded
RUNBOOK = "restart-crash-looping-pod"
STORM_RUNBOOK = runbook(
    RUNBOOK, alertname="KubePodCrashLooping", target=POD_TARGET, action="restart-pod",
    guards={"rateLimit": {"max": 3, "per": "1h", "by": "namespace"}, "maxConcurrent": 3})


@pytest.fixture(scope="module")
def pods_namespace(cluster: Cluster) -> Iterator[str]:
    """A namespace of 500 pods (10 Deployments of 50), shared by this module's tests."""
    name = f"storm-{uuid.uuid4().hex[:8]}"
    api = config.new_client_from_config(config_file=str(cluster.kubeconfig))
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    for index in range(DEPLOYMENTS):
        make_deployment(apps, name, f"web-{index}", replicas=REPLICAS)
    yield name
    core.delete_namespace(name)
    api.close()


@pytest.fixture
def healers(cluster: Cluster, tmp_path: Path) -> Iterator[Healers]:
    with Healers(cluster.kubeconfig, tmp_path) as started:
        yield started


@pytest.fixture
def pods(core: client.CoreV1Api, pods_namespace: str, wait: Wait) -> list[str]:
    """The names of the 500 pods, once all run (replacements of earlier tests' too)."""
    total = DEPLOYMENTS * REPLICAS
    found = eventually(lambda: settled_pods(core, pods_namespace, total),
                       f"{total} running pods", timeout=max(wait.timeout, 60))
    return sorted(found)


def storm(namespace: str, pods: Sequence[str], seed: int = 7) -> list[dict[str, Any]]:
    """10 alerts per pod: 5 incidents (two containers' fingerprints, a startsAt each),
    each sent twice; shuffled, as concurrent alert groups arrive."""
    alerts = [
        alert("KubePodCrashLooping", namespace=namespace, pod=pod, container=f"app-{k % 2}",
              severity="warning", starts_at=f"2030-01-02T03:{k:02d}:05.{i:09d}Z")
        for i, pod in enumerate(pods) for k in range(INCIDENTS) for _ in range(SENDS)]
    random.Random(seed).shuffle(alerts)
    return alerts


@dataclass
class Delivery:
    """What the senders saw: the status of every POST, and how long /healthz took while
    they sent."""

    batches: int
    statuses: Counter[int] = field(default_factory=Counter)
    healthz: list[float] = field(default_factory=list)  # seconds; a failure counts as 99


def deliver(healer: Healer, alerts: Sequence[dict[str, Any]], seed: int = 11) -> Delivery:
    """POST `alerts` in batches of 1 to 100 from concurrent senders; poll /healthz
    meanwhile."""
    rng = random.Random(seed)
    batches = chunks(alerts, iter(lambda: rng.randint(1, 100), None))
    delivery = Delivery(len(batches))
    lock = threading.Lock()
    sending = threading.Event()
    sending.set()

    def send(batch: Sequence[dict[str, Any]]) -> None:
        answer = healer.post({"version": "4", "status": "firing", "alerts": batch})
        with lock:
            delivery.statuses[answer.status] += 1

    def probe() -> None:
        while sending.is_set():
            answer = healer.get("/healthz")
            with lock:
                delivery.healthz.append(answer.seconds if answer.status == 200 else 99.0)
            time.sleep(0.02)

    prober = threading.Thread(target=probe)
    prober.start()
    try:
        with ThreadPoolExecutor(SENDERS) as senders:
            list(senders.map(send, batches))
    finally:
        sending.clear()
        prober.join()
    return delivery


def decided(db: Path, total: int) -> list[Record]:
    """Wait until `total` decisions of the runbook are recorded and no intent is open;
    its records."""
    def done() -> list[Record]:
        found = records(db, runbook=RUNBOOK)
        return found if decisions(found) >= total and not open_intents(found) else []

    return eventually(done, f"{total} decisions recorded", timeout=DECIDED_WITHIN)


def open_intents(found: Sequence[Record]) -> set[str]:
    intents = {r.action_id for r in found if r.outcome is Outcome.PENDING}
    return intents - {r.action_id for r in found if r.outcome is not Outcome.PENDING}


def outcomes(found: Sequence[Record]) -> Counter[Outcome]:
    return Counter(r.outcome for r in found)


def assert_delivered(delivery: Delivery) -> None:
    """Every batch answered 200 (the default intake, 10,000 signals, holds a whole storm,
    so a 503 would be a fault) and /healthz answered 200, quickly, all along."""
    __tracebackhide__ = True
    assert delivery.statuses == Counter({200: delivery.batches}), delivery.statuses
    assert delivery.healthz, "/healthz was never asked during the storm"
    assert max(delivery.healthz) < HEALTHZ_WITHIN, max(delivery.healthz)


def test_a_storm_gets_exactly_three_actions_and_every_alert_is_counted(
        healers: Healers, pods_namespace: str, pods: list[str], core: client.CoreV1Api
        ) -> None:
    """5,000 alerts for 500 pods against 3 actions an hour: exactly 3 run, the audit's
    counts add up to 5,000, the webhook answers every batch and /healthz stays quick."""
    alerts = storm(pods_namespace, pods)
    healer = healers.start(STORM_RUNBOOK)

    started = time.monotonic()
    delivery = deliver(healer, alerts)
    sent_in = time.monotonic() - started

    found = decided(healer.audit_db, len(alerts))
    assert_delivered(delivery)
    assert sent_in < 20, f"the storm took {sent_in:.1f}s to deliver"
    assert decisions(found) == len(alerts) == 5000
    counted = outcomes(found)
    assert counted[Outcome.PENDING] == 3
    assert counted[Outcome.EXECUTED] == 3
    assert counted[Outcome.FAILED] == counted[Outcome.UNKNOWN] == 0
    guards = Counter({r.guard: 0 for r in found})
    for record in found:
        guards[record.guard] += record.count
    assert set(guards) <= {"", "repeat", "maxConcurrent", "cooldown", "rateLimit"}, guards
    assert guards["rateLimit"] > 0
    deleted = {r.target_name for r in found if r.outcome is Outcome.EXECUTED}
    assert len(deleted) == 3
    assert not deleted & set(running_pods(core, pods_namespace))
    metrics = healer.metrics()
    assert metrics['healer_signals_received_total{source="alertmanager"}'] == 5000
    assert sum(v for k, v in metrics.items()
               if k.startswith("healer_decisions_total{")) == 5000
    assert healer.stop() == 0


def test_a_restart_mid_storm_never_resets_the_limit(
        healers: Healers, pods_namespace: str, pods: list[str]) -> None:
    """Half the storm, SIGTERM, a new daemon on the same audit db, the other half: still
    exactly 3 actions in all, and every alert accounted for."""
    alerts = storm(pods_namespace, pods, seed=8)
    half = len(alerts) // 2
    first = healers.start(STORM_RUNBOOK)
    assert_delivered(deliver(first, alerts[:half]))
    assert first.stop() == 0  # decides what is queued, finishes the actions
    found = decided(first.audit_db, half)
    assert decisions(found) == half
    assert outcomes(found)[Outcome.EXECUTED] == 3

    second = healers.start(STORM_RUNBOOK, audit_db=first.audit_db)
    assert_delivered(deliver(second, alerts[half:]))

    found = decided(second.audit_db, len(alerts))
    assert decisions(found) == len(alerts)
    counted = outcomes(found)
    assert (counted[Outcome.PENDING], counted[Outcome.EXECUTED]) == (3, 3)
    assert second.metrics().get('healer_decisions_total{verdict="allowed"}', 0.0) == 0


@pytest.mark.sandbox_only
def test_a_crash_mid_storm_leaves_unknown_actions_that_still_count(
        healers: Healers, sandbox: Sandbox, pods_namespace: str, pods: list[str]) -> None:
    """SIGKILL while the 3 allowed deletions wait on a slow API: the next start records
    the 3 intents `unknown`, they count against the limit, and the rest of the storm
    runs nothing."""
    alerts = storm(pods_namespace, pods, seed=9)
    half = len(alerts) // 2
    slow = sandbox.faults.inject(verb="delete", resource="pods", latency=3.0)
    first = healers.start(STORM_RUNBOOK)
    assert_delivered(deliver(first, alerts[:half]))

    def three_in_flight() -> bool:
        found = records(first.audit_db, runbook=RUNBOOK)
        return len(open_intents(found)) == 3 and decisions(found) == half - 3

    eventually(three_in_flight, "3 intents in flight and every other decision recorded",
               timeout=DECIDED_WITHIN)
    assert first.kill() != 0
    sandbox.faults.remove(slow)

    second = healers.start(STORM_RUNBOOK, audit_db=first.audit_db)
    assert second.events("intents_recovered_unknown")[0]["count"] == 3
    assert_delivered(deliver(second, alerts[half:]))

    found = decided(second.audit_db, len(alerts))
    assert decisions(found) == len(alerts)
    counted = outcomes(found)
    assert (counted[Outcome.PENDING], counted[Outcome.UNKNOWN]) == (3, 3)
    assert counted[Outcome.EXECUTED] == 0
    assert second.metrics().get('healer_decisions_total{verdict="allowed"}', 0.0) == 0
