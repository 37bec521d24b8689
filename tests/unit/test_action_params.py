"""The params of restart-pod, rollout-restart and scale, as a step writes them.

Covers:
- scale's `replicas`: a count (`5`) or a change written with its sign (`+2`, `"+2"`,
  `-1`, `"-1"`), in block and flow style and through an alias; a plain `+2`, which YAML
  reads as the number 2, still means "two more"; what is refused (a change of 0, a quoted
  count, a fraction, a percentage, a boolean, a change of absurd length) and where;
- a runbook that adds two replicas has another revision than one that sets two;
- the count scale asks for: a change within min and max, never against its sign;
- defaults of the new params (`allowUnmanaged`, `adjustHpa`), and `by` no longer exists;
- which built-in actions are available (have a `prepare`) and which are only registered.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from healer.actions.catalog import ReplicaCount, RestartPodParams, ScaleParams, default_registry
from healer.actions.workloads import wanted_replicas
from healer.runbook.loader import load
from healer.runbook.source import load_documents
from healer.runbook.spec import INVALID, Issues

RUNBOOK = """\
apiVersion: healer/v1
kind: Runbook
metadata: {{name: scale-up}}
spec:
  description: Scale the Deployment.
  trigger: {{alert: {{name: Slow}}}}
  target: {{kind: Deployment, namespace: shop, name: web}}
  steps:
    - action: scale
      params: {params}
"""


def params_of(action: str, text: str) -> tuple[Any, list[str]]:
    """`text` (a YAML mapping) converted by the action's params spec; its problems."""
    spec = default_registry().get(action)
    assert spec is not None
    (document,) = load_documents(text, "step.yaml")
    issues = Issues()
    value = spec.params.convert(document.node, "params", issues)
    return value, [str(error) for error in issues.errors]


def scale(text: str) -> ScaleParams:
    value, problems = params_of("scale", text)
    assert problems == []
    assert isinstance(value, ScaleParams)
    return value


# replicas: a count or a change ------------------------------------------------------------


@pytest.mark.parametrize(("written", "meant"), [
    ("replicas: 5", ReplicaCount(5)),
    ("replicas: 0", ReplicaCount(0)),
    ("replicas: +2", ReplicaCount(2, relative=True)),
    ('replicas: "+2"', ReplicaCount(2, relative=True)),
    ("replicas: '+2'", ReplicaCount(2, relative=True)),
    ("replicas: -1", ReplicaCount(-1, relative=True)),
    ('replicas: "-1"', ReplicaCount(-1, relative=True)),
    ("{replicas: +2, max: 20}", ReplicaCount(2, relative=True)),
    ("{replicas: 3}", ReplicaCount(3)),
    ('replicas: !!int "+2"', ReplicaCount(2, relative=True)),
    ("replicas: +0x10", ReplicaCount(16, relative=True)),
])
def test_replicas_is_a_count_or_a_signed_change(written: str, meant: ReplicaCount) -> None:
    """A whole number is a count; written with a sign, quoted or not, it is a change."""
    assert scale(written).replicas == meant


def test_a_change_with_an_anchor_or_through_an_alias_keeps_its_sign() -> None:
    """`&more +2` and an alias `*more` of it are changes too: the sign is read where the
    value is written, past its anchor."""
    text = "first: {replicas: &more +2}\nsecond: {replicas: *more}\n"
    (document,) = load_documents(text, "x.yaml")
    spec = default_registry().get("scale")
    assert spec is not None
    for key in ("first", "second"):
        params = spec.params.convert(document.node.value[key][1], key, Issues())
        assert params.replicas == ReplicaCount(2, relative=True)


@pytest.mark.parametrize(("written", "problem"), [
    ("replicas: +0", "step.yaml:1:11: params.replicas: +0 changes nothing; write a change "
                     "like +2 or -1, or a count like 3"),
    ('replicas: "-0"', "step.yaml:1:11: params.replicas: -0 changes nothing; write a change "
                       "like +2 or -1, or a count like 3"),
    ('replicas: "3"', "step.yaml:1:11: params.replicas: expected a count like 5, or a change "
                      "like +2 or -1, got '3'; write a count without quotes"),
    ("replicas: 1.5", "step.yaml:1:11: params.replicas: expected a count like 5, or a change "
                      "like +2 or -1, got 1.5 (a number)"),
    ('replicas: "+25%"', "step.yaml:1:11: params.replicas: expected a count like 5, or a "
                         "change like +2 or -1, got '+25%'"),
    ("replicas: true", "step.yaml:1:11: params.replicas: expected a count like 5, or a change "
                       "like +2 or -1, got true (a boolean)"),
    (f'replicas: "+{"9" * 5000}"', "step.yaml:1:11: params.replicas: a change of more than "
                                   "18 digits is never meant"),
    ("max: 3", "step.yaml:1:1: missing required key 'replicas' in params"),
    ("{replicas: 5, max: 3}", "step.yaml:1:1: params: replicas (5) is above max (3): min and "
                              "max bound a change like +2; a count needs neither"),
    ("{replicas: +1, min: 4, max: 3}", "step.yaml:1:1: params: min (4) is greater than max "
                                       "(3)"),
])
def test_replicas_refusals_say_what_to_write(written: str, problem: str) -> None:
    """A change of 0, a quoted count, a fraction or percentage, a count outside its bounds
    are refused at their place, saying what is expected."""
    value, problems = params_of("scale", written)
    assert value is INVALID
    assert problems == [problem]


def test_by_is_gone() -> None:
    """`by` was the old spelling of a change: it is an unknown key now."""
    _, problems = params_of("scale", "{by: 2}")
    assert "step.yaml:1:2: unknown key 'by' in params" in problems


@given(st.integers(min_value=-10**6, max_value=10**6), st.sampled_from(["", "'", '"']))
def test_a_sign_always_means_a_change(number: int, quote: str) -> None:
    """Any whole number written with a sign (quoted or not) is a change of that much; one
    written without is a count."""
    signed = f"{number:+d}"
    value, problems = params_of("scale", f"replicas: {quote}{signed}{quote}")
    if number == 0:
        assert value is INVALID
        assert len(problems) == 1
        return
    assert value.replicas == ReplicaCount(number, relative=True)
    if number > 0:
        assert scale(f"replicas: {number}").replicas == ReplicaCount(number)


def test_adding_two_is_another_revision_than_setting_two(tmp_path: Path) -> None:
    """`replicas: +2` and `replicas: 2` mean different things, so their runbooks' revisions
    differ; `+2` and `"+2"` mean the same, so theirs do not."""
    revisions = []
    for written in ("{replicas: +2}", "{replicas: 2}", '{replicas: "+2"}'):
        path = tmp_path / "scale.yaml"
        path.write_text(RUNBOOK.format(params=written))
        result = load([path], default_registry())
        assert result.errors == ()
        revisions.append(result.runbooks[0].revision)
    assert revisions[0] != revisions[1]
    assert revisions[0] == revisions[2]


def test_replica_count_reads_as_written() -> None:
    """A count prints as written: `5`, `+2`, `-1`; applied, it is the new count."""
    assert [str(c) for c in (ReplicaCount(5), ReplicaCount(2, True), ReplicaCount(-1, True))] \
        == ["5", "+2", "-1"]
    assert (ReplicaCount(5).applied_to(3), ReplicaCount(2, True).applied_to(3),
            ReplicaCount(-1, True).applied_to(3)) == (5, 5, 2)


# the count scale asks for -----------------------------------------------------------------


@pytest.mark.parametrize(("replicas", "low", "high", "current", "wanted"), [
    (ReplicaCount(7), None, None, 3, 7),
    (ReplicaCount(0), None, None, 3, 0),
    (ReplicaCount(2, True), None, 20, 3, 5),
    (ReplicaCount(2, True), None, 20, 19, 20),
    (ReplicaCount(2, True), None, 20, 20, 20),
    (ReplicaCount(2, True), None, 20, 25, 25),  # above max: not scaled down by +2
    (ReplicaCount(-1, True), 2, None, 3, 2),
    (ReplicaCount(-5, True), 2, None, 3, 2),
    (ReplicaCount(-1, True), 2, None, 1, 1),  # below min: not scaled up by -1
    (ReplicaCount(-3, True), None, None, 1, 0),
    (ReplicaCount(2, True), 4, None, 1, 4),  # below min, moving up: to min at least
])
def test_wanted_replicas(replicas: ReplicaCount, low: int | None, high: int | None,
                         current: int, wanted: int) -> None:
    """A count is taken as is; a change moves within min and max, never against its sign,
    never below 0."""
    params = ScaleParams(replicas, min=low, max=high)
    assert wanted_replicas(params, current) == wanted


@given(st.integers(-50, 50).filter(bool), st.integers(0, 100),
       st.one_of(st.none(), st.integers(0, 50)), st.one_of(st.none(), st.integers(1, 100)))
def test_a_change_never_moves_against_its_sign(change: int, current: int, low: int | None,
                                               high: int | None) -> None:
    """Whatever the bounds and the current count: +N never scales down, -N never up, and
    the result is never negative; when the current count is within the bounds, so is the
    result."""
    if low is not None and high is not None and low > high:
        low, high = high, low
    wanted = wanted_replicas(ScaleParams(ReplicaCount(change, True), low, high), current)
    assert wanted >= 0
    assert wanted >= current if change > 0 else wanted <= current
    if (low is None or current >= low) and (high is None or current <= high):
        assert low is None or wanted >= low
        assert high is None or wanted <= high


# defaults and availability ----------------------------------------------------------------


def test_new_params_default_to_the_safe_choice() -> None:
    """allowUnmanaged and adjustHpa are off unless a step turns them on."""
    value, _ = params_of("restart-pod", "{}")
    assert value == RestartPodParams(grace_period_seconds=None, allow_unmanaged=False)
    assert params_of("restart-pod", "allowUnmanaged: true")[0].allow_unmanaged is True
    assert scale("replicas: +1").adjust_hpa is False
    assert scale("{replicas: +1, adjustHpa: true}").adjust_hpa is True


def test_which_actions_are_available() -> None:
    """restart-pod, rollout-restart and scale can run; the others are registered (runbooks
    using them validate) but have no prepare yet."""
    available = {action.name for action in default_registry() if action.prepare is not None}
    assert {"restart-pod", "rollout-restart", "scale"} <= available
    assert len(list(default_registry())) > len(available)
