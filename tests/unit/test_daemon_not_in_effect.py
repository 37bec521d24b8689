"""What a valid runbook asks for and this healer does not carry out yet is said, never
silently ignored (`healer run` logs it at start-up, `healer demo` prints it).

Covers: the library's runbooks that use escalation, verify, notify or a PromQL trigger are
reported with each part named; a runbook that only uses what the engine enforces (an
alert trigger, one step, guards) is not reported.
"""

from __future__ import annotations

from pathlib import Path

from healer.actions.catalog import default_registry
from healer.daemon import not_in_effect
from healer.runbook.loader import load_runbooks

LIBRARY = Path(__file__).parents[2] / "runbooks"


def library() -> dict[str, list[str]]:
    return {r.name: not_in_effect(r) for r in load_runbooks([LIBRARY], default_registry())}


def test_escalation_verify_and_notify_are_named() -> None:
    """A two-step runbook with verify and notify gets all three named."""
    assert library()["pod-crash-looping"] == [
        "only step 1 runs; step 2 (escalation) waits for verification",
        "verify is not carried out yet",
        "nothing is sent to notify (oncall) yet",
    ]


def test_a_promql_trigger_is_said_never_to_fire() -> None:
    """A PromQL-triggered runbook is reported as never firing, first."""
    parts = library()["p99-latency-scale-up"]
    assert parts[0] == "its PromQL trigger is not polled yet: the runbook never fires"


def test_a_runbook_the_engine_fully_enforces_is_not_reported(tmp_path: Path) -> None:
    """An alert trigger, one step and guards: everything is in effect, nothing to say."""
    file = tmp_path / "rb.yaml"
    file.write_text("""apiVersion: healer/v1
kind: Runbook
metadata: {name: restart}
spec:
  description: Restart a crash-looping pod.
  trigger: {alert: {name: KubePodCrashLooping}}
  target: {kind: Pod, namespace: "{{ labels.namespace }}", name: "{{ labels.pod }}"}
  steps: [{action: restart-pod}]
  guards: {cooldown: 10m, rateLimit: {max: 3, per: 1h, by: namespace}, minHealthy: "50%"}
""")
    (runbook,) = load_runbooks([file], default_registry())
    assert not_in_effect(runbook) == []
