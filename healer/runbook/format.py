"""The runbook format v1, as field specs: the single source of validation and JSON Schema.

`runbook_spec(catalog)` describes one YAML document (`apiVersion: healer/v1`,
`kind: Runbook`, `metadata`, `spec`); the actions' param specs come from the catalog, so
a misspelled action or param fails at `healer validate`, not at 3 a.m. Checks that span
fields (a step's action against its target's kind, templates against the trigger) are
made here too, with the position of the field at fault.

Neighbours: `spec` (the spec types), `model` (what gets built), `loader` (runs it),
`healer.actions` (the catalog, injected: this package imports nothing above it).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from healer.runbook.matchers import MatcherError, parse_matcher
from healer.runbook.model import (
    CLUSTER_KINDS,
    TARGET_KINDS,
    AlertTrigger,
    DurationError,
    Guards,
    KubernetesTrigger,
    MinHealthy,
    Mode,
    PromQLTrigger,
    RateLimit,
    Scope,
    Step,
    TargetRef,
    Trigger,
    Verify,
    parse_duration,
)
from healer.runbook.source import Node
from healer.runbook.spec import (
    INVALID,
    Bool,
    Choice,
    Field,
    Int,
    Issues,
    ListOf,
    MapOf,
    Obj,
    Parsed,
    Spec,
    Str,
    did_you_mean,
)
from healer.runbook.templates import Template, TemplateError, parse_template

API_VERSION = "healer/v1"
DNS1123_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"


class ActionSignature(Protocol):
    """What the loader needs to know of an action: its params and what it acts on."""

    @property
    def name(self) -> str: ...

    @property
    def params(self) -> Spec: ...

    @property
    def targets(self) -> frozenset[str]: ...


class ActionCatalog(Protocol):
    def get(self, name: str) -> ActionSignature | None: ...

    def names(self) -> Iterable[str]: ...


def duration(description: str) -> Parsed:
    return Parsed(parse_duration, (DurationError,), "a duration like 30s, 5m or 1h30m",
                  description, {"type": "string", "pattern": r"^(\d+(y|w|d|h|m|s|ms))+$"})


def template(description: str) -> Parsed:
    return Parsed(parse_template, (TemplateError,), "a template like \"{{ labels.pod }}\"",
                  description)


def _min_healthy(value: Any) -> MinHealthy:
    if isinstance(value, int):
        if value < 0:
            raise ValueError("must not be negative")
        return MinHealthy(count=value)
    text = str(value).strip()
    if not text.endswith("%") or not text[:-1].replace(".", "", 1).isdigit():
        raise ValueError(f"expected a percentage like 75% or a replica count, got {value!r}")
    percent = float(text[:-1])
    if percent > 100:
        raise ValueError(f"a percentage cannot exceed 100%, got {value!r}")
    return MinHealthy(percent=percent)


# Matchers are immutable and the same few recur across runbooks: compile each text once.
_MATCHER = Parsed(functools.lru_cache(maxsize=4096)(parse_matcher), (MatcherError,),
                  'an Alertmanager matcher like severity=~"warning|critical"',
                  "Alertmanager matcher (=, !=, =~, !~); regexes are anchored")

_TARGET = Obj({
    "kind": Field(Choice(TARGET_KINDS, "kind of the object acted on"), required=True),
    "namespace": Field(template("its namespace (namespaced kinds only)")),
    "name": Field(template("its name"), required=True),
}, "the object acted on; names are templates rendered from the signal",
    build=lambda kind, name, namespace=None: TargetRef(kind, name, namespace))


@dataclass(frozen=True)
class _TargetSpec:
    """A target, checking that namespaced kinds have a namespace and others none."""

    description: str = ""

    def convert(self, node: Node, where: str, issues: Issues) -> Any:
        target = _TARGET.convert(node, where, issues)
        if target is INVALID:
            return INVALID
        if target.kind in CLUSTER_KINDS and target.namespace is not None:
            return issues.add(node.position, f"{where}: a {target.kind} has no namespace; "
                                             "remove namespace")
        if target.kind not in CLUSTER_KINDS and target.namespace is None:
            return issues.add(node.position, f"missing required key 'namespace' in {where} "
                                             f"(a {target.kind} is namespaced)")
        return target

    def schema(self) -> dict[str, Any]:
        schema = _TARGET.schema()
        schema["allOf"] = [
            {"if": {"properties": {"kind": {"enum": sorted(CLUSTER_KINDS)}}},
             "then": {"not": {"required": ["namespace"]}},
             "else": {"required": ["namespace"]}}]
        if self.description:
            schema["description"] = self.description
        return schema


@dataclass(frozen=True)
class _StepSpec:
    """A step: its action must exist, and its params are checked by that action's spec."""

    catalog: ActionCatalog

    def convert(self, node: Node, where: str, issues: Issues) -> Any:
        if not isinstance(node.value, dict):
            return issues.add(node.position, f"{where}: expected a mapping with an action")
        allowed = ("action", "params", "target")
        failed = False
        for key, (key_node, _) in node.value.items():
            if key not in allowed:
                issues.add(key_node.position, f"unknown key '{key}' in {where}"
                           + did_you_mean(key, allowed))
                failed = True
        if "action" not in node.value:
            issues.add(node.position, f"missing required key 'action' in {where}")
            return INVALID
        action_node = node.value["action"][1]
        name = Str().convert(action_node, f"{where}.action", issues)
        if name is INVALID:
            return INVALID
        signature = self.catalog.get(name)
        if signature is None:
            return issues.add(action_node.position,
                              f"{where}.action: unknown action '{name}'"
                              + (did_you_mean(name, list(self.catalog.names()))
                                 or f"; known: {', '.join(sorted(self.catalog.names()))}"))
        params_node = node.value["params"][1] if "params" in node.value else Node(
            {}, node.position)  # no params: the action's defaults (or its missing-key errors)
        params = signature.params.convert(params_node, f"{where}.params", issues)
        target = None
        if "target" in node.value:
            target = _TargetSpec().convert(node.value["target"][1], f"{where}.target", issues)
        if failed or params is INVALID or target is INVALID:
            return INVALID
        return Step(name, params, target)

    def schema(self) -> dict[str, Any]:
        names = sorted(self.catalog.names())
        branches = []
        for name in names:
            signature = self.catalog.get(name)
            assert signature is not None
            branches.append({"if": {"properties": {"action": {"const": name}}},
                             "then": {"properties": {"params": signature.params.schema()}}})
        return {"type": "object", "additionalProperties": False, "required": ["action"],
                "properties": {"action": {"enum": names, "description": "action to run"},
                               "params": {"type": "object",
                                          "description": "the action's params"},
                               "target": _TargetSpec("retarget this step").schema()},
                "allOf": branches}


def runbook_spec(catalog: ActionCatalog) -> Obj:
    """The spec of one runbook document."""
    trigger = Obj({
        "alert": Field(Obj({
            "name": Field(Str("alertname, matched exactly"), required=True),
            "matchers": Field(ListOf(_MATCHER, description="ANDed with the alertname"),
                              default=()),
        }, "an Alertmanager alert", build=AlertTrigger)),
        "promql": Field(Obj({
            "query": Field(Str("PromQL; each returned series is a signal"), required=True),
            "for": Field(duration("how long a series must keep returning"), default=0.0),
            "every": Field(duration("how often the query runs"), default=30.0),
        }, "a PromQL query", build=lambda **kw: PromQLTrigger(kw["query"], kw["for"],
                                                                kw["every"]))),
        "kubernetes": Field(Obj({
            "kind": Field(Choice(("Pod", "Node", "Deployment", "StatefulSet", "DaemonSet",
                                  "Job")), required=True),
            "reason": Field(Str("e.g. CrashLoopBackOff, OOMKilled, NotReady, Evicted"),
                            required=True),
            "for": Field(duration("how long the state must last"), default=0.0),
        }, "a Kubernetes object state", build=lambda **kw: KubernetesTrigger(
            kw["kind"], kw["reason"], kw["for"]))),
    }, "what starts the runbook: exactly one of alert, promql, kubernetes",
        exactly_one=(("alert", "promql", "kubernetes"),), build=Trigger)
    guards = Obj({
        "rateLimit": Field(Obj({
            "max": Field(Int("actions at most", minimum=1), required=True),
            "per": Field(duration("in this window"), required=True),
            "by": Field(Choice(("target", "runbook", "namespace"), "what is counted"),
                        default="target"),
        }, "at most `max` actions per window", build=lambda **kw: RateLimit(
            kw["max"], kw["per"], kw["by"])), default=RateLimit()),
        "cooldown": Field(duration("quiet time after an action on a target"), default=600.0),
        "maxConcurrent": Field(Int("actions of this runbook in flight at once", minimum=1),
                               default=1),
        "minHealthy": Field(Parsed(_min_healthy, (ValueError,), "a percentage like 75% or "
                                   "a replica count", "replicas of the workload that must "
                                   "be ready before acting on one",
                                   {"oneOf": [{"type": "integer", "minimum": 0},
                                              {"type": "string", "pattern": r"^\d+(\.\d+)?%$"}]},
                                   scalars=(str, int))),
    }, "safety limits; each has a safe default", build=lambda **kw: Guards(
        kw["rate_limit"], kw["cooldown"], kw["max_concurrent"], kw.get("min_healthy")))
    spec = Obj({
        "description": Field(Str("what it does and why; when it is the wrong remedy"),
                             required=True),
        "mode": Field(Choice(tuple(m.value for m in Mode),
                             "overrides the daemon's mode for this runbook")),
        "toilMinutes": Field(Int("how long a human would take, in minutes", minimum=0)),
        "trigger": Field(trigger, required=True),
        "scope": Field(Obj({
            "namespaces": Field(ListOf(Str("a namespace or a glob like shop-*")), default=()),
        }, "where it may act (default: every namespace not protected)",
            build=Scope), default=Scope()),
        "target": Field(_TargetSpec("the object the signal is about"), required=True),
        "steps": Field(ListOf(_StepSpec(catalog), min_items=1,
                              description="an escalation ladder, tried in order"),
                       required=True),
        "verify": Field(Obj({
            "after": Field(duration("when to check"), required=True),
            "resolved": Field(Bool("true: the triggering alert resolved")),
            "promql": Field(Str("true when it returns no series")),
        }, "did it help?", exactly_one=(("resolved", "promql"),),
            build=lambda after, resolved=False, promql=None: Verify(after, resolved, promql))),
        "guards": Field(guards, default=Guards()),
        "notify": Field(ListOf(Str("a notifier configured in the daemon")), default=()),
    }, "the runbook")
    return Obj({
        "apiVersion": Field(Choice((API_VERSION,), "format version"), required=True),
        "kind": Field(Choice(("Runbook",)), required=True),
        "metadata": Field(Obj({
            "name": Field(Str("DNS-1123 label, unique across all runbooks",
                              pattern=DNS1123_LABEL, max_length=63,
                              pattern_hint="a DNS-1123 label (lower case letters, digits "
                                           "and '-', starting and ending with a letter or "
                                           "digit)"), required=True),
            "labels": Field(MapOf("free-form labels"), default={}),
        }, "identity"), required=True),
        "spec": Field(spec, required=True),
    }, "a healer runbook")


def cross_field_problems(values: dict[str, Any],
                         catalog: ActionCatalog) -> list[tuple[tuple[str, ...], str]]:
    """Checks spanning fields of a converted document: (key path, message) pairs."""
    spec = values["spec"]
    trigger: Trigger = spec["trigger"]
    target: TargetRef = spec["target"]
    problems: list[tuple[tuple[str, ...], str]] = []

    def check(path: tuple[str, ...], tpl: Template | None, *, owner_allowed: bool) -> None:
        names = tpl.variables() if tpl is not None else frozenset()
        if not owner_allowed and any(v.startswith("owner.") for v in names):
            problems.append((path, "owner.* is the target's controller: use it in a step's "
                                   "target, not in the runbook's target"))
        if "value" in names and trigger.promql is None:
            problems.append((path, "{{ value }} exists only for promql triggers"))

    check(("spec", "target", "name"), target.name, owner_allowed=False)
    check(("spec", "target", "namespace"), target.namespace, owner_allowed=False)
    for i, step in enumerate(spec["steps"]):
        where = ("spec", "steps", str(i))
        if step.target is not None:
            check((*where, "target", "name"), step.target.name, owner_allowed=True)
            check((*where, "target", "namespace"), step.target.namespace, owner_allowed=True)
        kind = step.target.kind if step.target is not None else target.kind
        signature = catalog.get(step.action)
        if signature is not None and kind not in signature.targets:
            problems.append(((*where, "action"),
                             f"{step.action} acts on {', '.join(sorted(signature.targets))}, "
                             f"not on a {kind}; retarget the step (target: ...)"))
    verify: Verify | None = spec.get("verify")
    if verify is not None and verify.promql is None and not verify.resolved:
        problems.append((("spec", "verify", "resolved"),
                         "resolved: false checks nothing; use resolved: true or promql:"))
    return problems
