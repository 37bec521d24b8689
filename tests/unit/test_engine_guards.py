"""The guards, as pure checks over the history of actions.

Covers: protected namespaces; one action per target and maxConcurrent per runbook;
cooldown per (runbook, target); rateLimit by target, namespace and runbook, with its
window; minHealthy as a count or a percentage of the desired replicas; refusals that
name the guard and say why; a reservation cancelled before its intent counts against no
limit; and the history rebuilt from a real audit store, so a restart keeps every limit
(an unknown outcome still counts).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from healer.actions.catalog import default_registry
from healer.audit.store import Outcome, Record, Store, new_action_id
from healer.engine.guards import (
    History,
    Target,
    check_concurrency,
    check_cooldown,
    check_min_healthy,
    check_rate_limit,
    check_scope,
)
from healer.kube import ObjectRef, Replicas
from healer.runbook.loader import load_runbooks
from healer.runbook.model import Runbook

NOW = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
POD = Target("Pod", "shop", "checkout-1")
OTHER_POD = Target("Pod", "shop", "checkout-2")
ELSEWHERE = Target("Pod", "billing", "invoice-1")


def runbook(tmp_path: Path, guards: str) -> Runbook:
    """A real runbook, loaded by the real loader, with the given guards block."""
    file = tmp_path / "rb.yaml"
    file.write_text(f"""apiVersion: healer/v1
kind: Runbook
metadata: {{name: restart-crashlooping-pod}}
spec:
  description: Restart a crash-looping pod.
  trigger: {{alert: {{name: KubePodCrashLooping}}}}
  target: {{kind: Pod, namespace: "{{{{ labels.namespace }}}}", name: "{{{{ labels.pod }}}}"}}
  steps: [{{action: restart-pod}}]
  guards: {guards}
""")
    (loaded,) = load_runbooks([file], default_registry())
    return loaded


def acted(history: History, target: Target, minutes_ago: float, *, done: bool = True) -> None:
    action = new_action_id()
    started = NOW - timedelta(minutes=minutes_ago)
    history.started(action, "restart-crashlooping-pod", target, started)
    if done:
        history.finished(action)


PROTECTED = ("kube-system", "kube-public", "kube-node-lease")


@pytest.mark.parametrize(
    ("target", "allowed", "refusal"),
    [
        (POD, (), None),
        (Target("Node", "", "node-1"), ("shop",), None),
        (Target("Pod", "kube-system", "coredns-1"), (), "namespace kube-system is protected"),
        (Target("Pod", "kube-system", "coredns-1"), ("kube-*",), "kube-system is protected"),
        (Target("Pod", "kube-system", "coredns-1"), ("kube-system",), None),
        (Target("Namespace", "", "kube-public"), (), "namespace kube-public is protected"),
        (POD, ("shop", "payments-*"), None),
        (Target("Pod", "payments-eu", "api-1"), ("shop", "payments-*"), None),
        (ELSEWHERE, ("shop", "payments-*"), "namespace billing is outside this runbook's scope"),
        (Target("Namespace", "", "billing"), ("shop",), "billing is outside"),
    ],
)
def test_scope(target: Target, allowed: tuple[str, ...], refusal: str | None) -> None:
    """Protected namespaces need the scope to name them exactly; globs never reach them."""
    refused = check_scope(target, allowed, PROTECTED)
    if refusal is None:
        assert refused is None
    else:
        assert refused is not None
        assert refused.guard == "scope"
        assert refusal in refused.reason


def test_one_action_per_target_at_a_time(tmp_path: Path) -> None:
    rb, history = runbook(tmp_path, "{maxConcurrent: 5}"), History()
    acted(history, POD, 0, done=False)
    refusal = check_concurrency(rb, POD, history)
    assert refusal is not None
    assert refusal.reason == "an action on Pod shop/checkout-1 is still running"
    assert check_concurrency(rb, OTHER_POD, history) is None


def test_max_concurrent_counts_the_runbooks_running_actions(tmp_path: Path) -> None:
    rb, history = runbook(tmp_path, "{maxConcurrent: 2}"), History()
    acted(history, POD, 0, done=False)
    assert check_concurrency(rb, ELSEWHERE, history) is None
    acted(history, OTHER_POD, 0, done=False)
    refusal = check_concurrency(rb, ELSEWHERE, history)
    assert refusal is not None
    assert (refusal.guard, refusal.reason) == (
        "maxConcurrent",
        "2 actions of this runbook still running; maxConcurrent is 2",
    )


def test_cooldown_is_per_target_and_ends(tmp_path: Path) -> None:
    rb, history = runbook(tmp_path, "{cooldown: 10m, rateLimit: {max: 100, per: 1h}}"), History()
    acted(history, POD, 4)
    refusal = check_cooldown(rb, POD, history, NOW)
    assert refusal is not None
    assert (refusal.guard, refusal.reason) == (
        "cooldown",
        "this runbook acted on Pod shop/checkout-1 4m ago; "
        "it waits 10m between actions on one target",
    )
    assert check_cooldown(rb, OTHER_POD, history, NOW) is None
    assert check_cooldown(rb, POD, history, NOW + timedelta(minutes=6, seconds=1)) is None


@pytest.mark.parametrize(
    ("by", "target", "refused"),
    [
        ("target", POD, True),
        ("target", OTHER_POD, False),
        ("namespace", OTHER_POD, True),
        ("namespace", ELSEWHERE, False),
        ("runbook", ELSEWHERE, True),
    ],
)
def test_rate_limit_by(tmp_path: Path, by: str, target: Target, refused: bool) -> None:
    rb = runbook(tmp_path, f"{{cooldown: 0s, rateLimit: {{max: 3, per: 1h, by: {by}}}}}")
    history = History()
    for minutes_ago in (50, 30, 10):
        acted(history, POD, minutes_ago)
    refusal = check_rate_limit(rb, target, history, NOW)
    assert (refusal is not None) is refused
    if refusal is not None:
        assert refusal.guard == "rateLimit"
        assert refusal.reason.endswith(f"in the last 1h; the limit is 3 (rateLimit by {by})")


def test_rate_limit_window_slides(tmp_path: Path) -> None:
    rb = runbook(tmp_path, "{cooldown: 0s, rateLimit: {max: 3, per: 1h}}")
    history = History()
    for minutes_ago in (59, 30, 10):
        acted(history, POD, minutes_ago)
    assert check_rate_limit(rb, POD, history, NOW) is not None
    assert check_rate_limit(rb, POD, history, NOW + timedelta(minutes=1, seconds=1)) is None


def test_a_restart_keeps_every_limit(tmp_path: Path) -> None:
    """Rebuilt from the audit store, the history refuses what it refused before."""
    rb = runbook(tmp_path, "{cooldown: 10m, rateLimit: {max: 2, per: 1h}, maxConcurrent: 1}")
    store = Store(tmp_path / "audit.db")
    records = []
    for minutes_ago, outcome in ((40, Outcome.EXECUTED), (20, Outcome.UNKNOWN)):
        action, time = new_action_id(), NOW - timedelta(minutes=minutes_ago)
        common = {"runbook": rb.name, "action_id": action, "target_kind": "Pod",
                  "target_namespace": "shop", "target_name": "checkout-1", "action": "restart-pod"}
        records += [Record(time=time, outcome=Outcome.PENDING, **common),  # type: ignore[arg-type]
                    Record(time=time, outcome=outcome, **common)]  # type: ignore[arg-type]
    store.append(records, wait=True)
    store.close()

    reopened = Store(tmp_path / "audit.db")
    history = History()
    history.replay(reopened.actions_since(NOW - timedelta(hours=1)))
    reopened.close()
    refusal = check_rate_limit(rb, POD, history, NOW)
    assert refusal is not None
    assert refusal.reason.startswith("2 actions on Pod shop/checkout-1 in the last 1h")
    assert check_concurrency(rb, POD, history) is None  # both finished
    assert check_cooldown(rb, POD, history, NOW - timedelta(minutes=15)) is not None


def test_forgetting_old_actions_keeps_running_ones(tmp_path: Path) -> None:
    rb, history = runbook(tmp_path, "{maxConcurrent: 1}"), History()
    acted(history, POD, 120, done=False)
    acted(history, OTHER_POD, 90)
    history.forget_before(NOW - timedelta(hours=1))
    assert check_concurrency(rb, ELSEWHERE, history) is not None
    assert history.actions(rb.name, NOW - timedelta(hours=3)) != []


def replicas(desired: int, ready: int) -> Replicas:
    return Replicas(desired=desired, current=desired, updated=desired, ready=ready,
                    available=ready, observed=True)


@pytest.mark.parametrize(("min_healthy", "desired", "ready", "refused"), [
    ('"50%"', 3, 2, False),  # 50% of 3 rounds up to 2
    ('"50%"', 3, 1, True),
    ('"100%"', 4, 4, False),
    ('"100%"', 4, 3, True),
    ("2", 5, 2, False),
    ("2", 5, 1, True),
    ('"50%"', 0, 0, False),  # a workload scaled to zero: nothing to protect
])
def test_min_healthy(tmp_path: Path, min_healthy: str, desired: int, ready: int,
                     refused: bool) -> None:
    """minHealthy refuses when fewer replicas are ready than it asks for, and says so."""
    book = runbook(tmp_path, f"{{minHealthy: {min_healthy}}}")
    workload = ObjectRef("Deployment", "checkout", "shop")
    refusal = check_min_healthy(book, workload, replicas(desired, ready))
    assert (refusal is not None) == refused
    if refusal is not None:
        assert refusal.guard == "minHealthy"
        assert f"Deployment shop/checkout has {ready} ready" in refusal.reason


def test_no_min_healthy_never_refuses(tmp_path: Path) -> None:
    """A runbook without minHealthy acts whatever the ready replicas."""
    book = runbook(tmp_path, "{cooldown: 10m}")
    assert check_min_healthy(book, ObjectRef("Deployment", "a", "b"), replicas(3, 0)) is None


def test_a_cancelled_reservation_counts_against_nothing(tmp_path: Path) -> None:
    """An action refused before its intent (minHealthy, a bare pod) leaves no trace in the
    limits: the target is free again and the cooldown does not start."""
    book = runbook(tmp_path, "{cooldown: 10m, rateLimit: {max: 1, per: 1h, by: runbook}}")
    history = History()
    history.started("a1", book.name, POD, NOW)
    assert check_concurrency(book, POD, history) is not None
    history.cancel("a1")
    assert check_concurrency(book, POD, history) is None
    assert check_cooldown(book, POD, history, NOW) is None
    assert check_rate_limit(book, POD, history, NOW) is None
