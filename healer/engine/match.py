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
from dataclasses import replace

from healer.engine.guards import Refusal, Target, check_scope
from healer.runbook.matchers import Matcher, MatchType
from healer.runbook.model import CLUSTER_KINDS, Runbook, TargetRef
from healer.runbook.templates import NameKind, RefusedName, TemplateContext

__all__ = ["RunbookIndex", "render_target"]


class RunbookIndex:
    """The alert-triggered runbooks, by alertname.

    Matchers are tried equality first (they are ANDed, so the order does not change the
    answer), and regex answers are remembered per (matcher, value), up to `REMEMBERED`:
    in an alert storm the same few values come thousands of times, and RE2 releases the
    GIL on every search, which costs the decision thread a handoff each time.
    """

    REMEMBERED = 65_536  # regex answers kept, across all matchers

    def __init__(self, runbooks: Iterable[Runbook]) -> None:
        by_alert: dict[str, list[tuple[Runbook, tuple[Matcher, ...]]]] = defaultdict(list)
        for runbook in runbooks:
            if runbook.trigger.alert is not None:
                matchers = sorted(runbook.trigger.alert.matchers,
                                  key=lambda m: m.type not in _PLAIN)
                by_alert[runbook.trigger.alert.name].append((runbook, tuple(matchers)))
        self._by_alert = {name: tuple(found) for name, found in by_alert.items()}
        self._answers: dict[tuple[Matcher, str], bool] = {}

    def matching(self, labels: Mapping[str, str]) -> list[Runbook]:
        """The runbooks whose alert trigger matches an alert with these labels."""
        candidates = self._by_alert.get(labels.get("alertname", ""), ())
        return [runbook for runbook, matchers in candidates
                if all(self._matches(m, labels) for m in matchers)]

    def _matches(self, matcher: Matcher, labels: Mapping[str, str]) -> bool:
        if matcher.type in _PLAIN:
            return matcher.matches(labels)
        value = labels.get(matcher.name, "")
        if len(value) > _LONGEST_REMEMBERED:
            return matcher.matches(labels)
        key = (matcher, value)
        found = self._answers.get(key)
        if found is None:
            found = matcher.matches(labels)
            if len(self._answers) >= self.REMEMBERED:
                self._answers.clear()
            self._answers[key] = found
        return found


_PLAIN = frozenset({MatchType.EQUAL, MatchType.NOT_EQUAL})
_LONGEST_REMEMBERED = 256  # characters: longer values are matched every time


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
    refusal = check_scope(target, runbook.scope.namespaces, protected)
    return target if refusal is None else replace(refusal, target=target)
