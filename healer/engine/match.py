"""Matching a signal to runbooks, and rendering the target a runbook names.

`RunbookIndex` finds the runbooks an alert may trigger through its alertname, then checks
each one's matchers: an alert storm costs one dictionary lookup per alert, not one scan
of every runbook. `render_target` turns a runbook's templated target into a checked
`Target`, or a `Refusal` (guard ``scope``) when the rendered name is not a valid
Kubernetes name, the namespace is protected, or it lies outside the runbook's scope:
labels come from workloads and are untrusted input.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping

from healer.engine.guards import Refusal, Target, check_scope
from healer.runbook.model import CLUSTER_KINDS, Runbook, TargetRef
from healer.runbook.templates import NameKind, RefusedName, TemplateContext

__all__ = ["RunbookIndex", "render_target"]


class RunbookIndex:
    """The alert-triggered runbooks, by alertname."""

    def __init__(self, runbooks: Iterable[Runbook]) -> None:
        by_alert: dict[str, list[Runbook]] = defaultdict(list)
        for runbook in runbooks:
            if runbook.trigger.alert is not None:
                by_alert[runbook.trigger.alert.name].append(runbook)
        self._by_alert = {name: tuple(found) for name, found in by_alert.items()}

    def matching(self, labels: Mapping[str, str]) -> list[Runbook]:
        """The runbooks whose alert trigger matches an alert with these labels."""
        candidates = self._by_alert.get(labels.get("alertname", ""), ())
        return [
            runbook
            for runbook in candidates
            if runbook.trigger.alert is not None
            and all(m.matches(labels) for m in runbook.trigger.alert.matchers)
        ]


def render_target(
    ref: TargetRef, context: TemplateContext, runbook: Runbook, protected: Iterable[str]
) -> Target | Refusal:
    """The object `ref` names for this signal, or why healer refuses to act on it."""
    try:
        name = ref.name.render_name(
            context,
            NameKind.DNS1123_LABEL if ref.kind == "Namespace" else NameKind.DNS1123_SUBDOMAIN,
        )
        namespace = ""
        if ref.kind not in CLUSTER_KINDS and ref.namespace is not None:
            namespace = ref.namespace.render_name(context, NameKind.DNS1123_LABEL)
    except RefusedName as refused:
        return Refusal("scope", str(refused))
    target = Target(ref.kind, namespace, name)
    return check_scope(target, runbook.scope.namespaces, protected) or target
