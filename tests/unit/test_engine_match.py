"""Matching alerts to runbooks, and rendering the target from untrusted labels.

Covers: the alertname index and matchers (ANDed; a missing label is ""); several
runbooks matching one alert; rendered targets checked as Kubernetes names, with hostile
label values refused under the scope guard; cluster-scoped kinds; runbook scope.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from healer.actions.catalog import default_registry
from healer.engine.guards import Refusal, Target
from healer.engine.match import RunbookIndex, render_target
from healer.runbook.loader import load_runbooks
from healer.runbook.model import Runbook
from healer.runbook.templates import TemplateContext

PROTECTED = ("kube-system", "kube-public", "kube-node-lease")

RUNBOOKS = """apiVersion: healer/v1
kind: Runbook
metadata: {name: restart-crashlooping-pod}
spec:
  description: Restart a crash-looping pod.
  trigger:
    alert:
      name: KubePodCrashLooping
      matchers: ['severity=~"warning|critical"', 'namespace!~"kube-.*"']
  target: {kind: Pod, namespace: "{{ labels.namespace }}", name: "{{ labels.pod }}"}
  steps: [{action: restart-pod}]
---
apiVersion: healer/v1
kind: Runbook
metadata: {name: page-on-crashloop}
spec:
  description: Tell the team.
  scope: {namespaces: [shop]}
  trigger: {alert: {name: KubePodCrashLooping}}
  target: {kind: Pod, namespace: "{{ labels.namespace }}", name: "{{ labels.pod }}"}
  steps: [{action: notify, params: {message: "{{ labels.pod }} is crash looping"}}]
---
apiVersion: healer/v1
kind: Runbook
metadata: {name: cordon-unready-node}
spec:
  description: Cordon a node that is not ready.
  trigger: {alert: {name: KubeNodeNotReady}}
  target: {kind: Node, name: "{{ labels.node }}"}
  steps: [{action: cordon}]
"""


@pytest.fixture(scope="module")
def runbooks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Runbook]:
    file: Path = tmp_path_factory.mktemp("runbooks") / "runbooks.yaml"
    file.write_text(RUNBOOKS)
    return {r.name: r for r in load_runbooks([file], default_registry())}


def alert(**labels: str) -> dict[str, str]:
    return {"alertname": "KubePodCrashLooping", "severity": "warning", **labels}


def test_each_matching_runbook_is_found(runbooks: dict[str, Runbook]) -> None:
    index = RunbookIndex(runbooks.values())
    found = index.matching(alert(namespace="shop", pod="checkout-1"))
    assert [r.name for r in found] == ["restart-crashlooping-pod", "page-on-crashloop"]


def test_matchers_are_anded(runbooks: dict[str, Runbook]) -> None:
    index = RunbookIndex(runbooks.values())
    names = [r.name for r in index.matching(alert(namespace="kube-system", pod="dns-1"))]
    assert names == ["page-on-crashloop"]
    names = [r.name for r in index.matching(alert(severity="info", namespace="shop"))]
    assert names == ["page-on-crashloop"]


def test_other_alerts_match_nothing(runbooks: dict[str, Runbook]) -> None:
    index = RunbookIndex(runbooks.values())
    assert index.matching({"alertname": "Watchdog"}) == []
    assert index.matching({}) == []


def test_the_target_is_rendered_from_the_labels(runbooks: dict[str, Runbook]) -> None:
    rb = runbooks["restart-crashlooping-pod"]
    context = TemplateContext(labels=alert(namespace="shop", pod="checkout-7d9f-abcde"))
    assert render_target(rb.target, context, rb, PROTECTED) == Target(
        "Pod", "shop", "checkout-7d9f-abcde"
    )


def test_a_node_target_has_no_namespace(runbooks: dict[str, Runbook]) -> None:
    rb = runbooks["cordon-unready-node"]
    context = TemplateContext(labels={"alertname": "KubeNodeNotReady", "node": "node-2"})
    assert render_target(rb.target, context, rb, PROTECTED) == Target("Node", "", "node-2")


@pytest.mark.parametrize(
    ("labels", "reason"),
    [
        ({"namespace": "shop", "pod": "../secrets"}, "refused target name"),
        ({"namespace": "shop", "pod": "app=web,tier!=db"}, "refused target name"),
        ({"namespace": "shop", "pod": ""}, "refused target name"),
        ({"namespace": "shop/other", "pod": "x"}, "refused target name"),
        ({"namespace": "shop"}, "labels.pod"),
        ({"namespace": "kube-system", "pod": "coredns-1"}, "kube-system is protected"),
    ],
)
def test_hostile_or_missing_labels_are_refused(
    runbooks: dict[str, Runbook], labels: dict[str, str], reason: str
) -> None:
    """A target that is not a plain, allowed Kubernetes name is refused, never fixed up."""
    rb = runbooks["restart-crashlooping-pod"]
    refused = render_target(rb.target, TemplateContext(labels=alert(**labels)), rb, PROTECTED)
    assert isinstance(refused, Refusal)
    assert refused.guard == "scope"
    assert reason in refused.reason


def test_the_runbooks_scope_is_enforced(runbooks: dict[str, Runbook]) -> None:
    rb = runbooks["page-on-crashloop"]
    refused = render_target(
        rb.target, TemplateContext(labels=alert(namespace="billing", pod="x")), rb, PROTECTED
    )
    assert isinstance(refused, Refusal)
    assert refused.reason == "namespace billing is outside this runbook's scope (shop)"
