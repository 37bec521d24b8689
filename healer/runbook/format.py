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
import re
from collections.abc import Iterable
from dataclasses import dataclass, fields, is_dataclass
from typing import Any, Protocol

from healer.runbook.matchers import MatcherError, parse_matcher
from healer.runbook.model import (
    CLUSTER_KINDS,
    DURATION_PATTERN,
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
    format_duration,
    parse_duration,
)
from healer.runbook.source import Node
from healer.runbook.spec import (
    INVALID,
    LARGEST,
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
    expected,
)
from healer.runbook.templates import (
    NameKind,
    Template,
    TemplateError,
    name_problem,
    parse_template,
)

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


def duration(description: str, *, positive: bool = False) -> Parsed:
    """A duration in seconds; `positive`: 0s is refused (a period, a timeout)."""
    schema: dict[str, Any] = {"type": "string", "pattern": DURATION_PATTERN}
    if positive:
        schema["not"] = {"pattern": r"^(0+(y|w|d|h|m|s|ms))+$"}
    return Parsed(_positive_duration if positive else parse_duration, (DurationError,),
                  "a duration like 30s, 5m or 1h30m", description, schema,
                  written=format_duration)


def _positive_duration(text: str) -> float:
    seconds = parse_duration(text)
    if seconds <= 0:
        raise DurationError(f"must be longer than 0s, got {text!r}")
    return seconds


def template(description: str) -> Parsed:
    return Parsed(parse_template, (TemplateError,), "a template like \"{{ labels.pod }}\"",
                  description)


_PERCENT = re.compile(r"([0-9]+)%")
# 0 to 100 with a %, leading zeros allowed: what `_min_healthy` accepts, for the schema
_PERCENT_PATTERN = r"^0*(100|[1-9]?[0-9])%$"
_MIN_HEALTHY_IS = "a whole-number percentage like 75% or a replica count like 2"


def _min_healthy(value: Any) -> MinHealthy:
    """A count of replicas (an integer), or a percentage of them: a whole number with a %,
    as in a PodDisruptionBudget's minAvailable."""
    if isinstance(value, int):
        if value > LARGEST:
            raise ValueError(f"must be at most {LARGEST} replicas, got a larger number")
        if value < 0:
            raise ValueError("must not be negative, got " + (
                str(value) if value >= -LARGEST else "a negative number with more than 18 digits"))
        return MinHealthy(count=value)
    percent = _PERCENT.fullmatch(value)
    if percent is None:
        raise ValueError(f"expected {_MIN_HEALTHY_IS}, got {value!r}{_percent_hint(value)}")
    digits = percent.group(1).lstrip("0") or "0"
    if len(digits) > 3 or int(digits) > 100:  # (int() refuses thousands of digits)
        raise ValueError(f"a percentage cannot exceed 100%, got "
                         f"{value if len(value) < 40 else value[:20] + '...'!r}")
    return MinHealthy(percent=float(digits))


def _percent_hint(text: str) -> str:
    """What is wrong with a minHealthy text, for the likely mistakes."""
    compact = "".join(text.split())
    if any(char.isdigit() and char not in "0123456789" for char in compact):
        return ": write the digits as 0-9"
    if compact.isdigit():
        return f": write {compact} for a count of replicas, \"{compact}%\" for a percentage"
    if compact != text and _PERCENT.fullmatch(compact):
        return f": no spaces: write \"{compact}\""
    if re.fullmatch(r"[0-9]*\.[0-9]*%", compact):
        return ": no fractions of a percent"
    return ""


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
            return issues.add(node.value["namespace"][0].position,
                              f"{where}: a {target.kind} has no namespace; remove namespace")
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
            return expected(node, where, "a mapping with an action, like "
                                         "{action: restart-pod}", issues)
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
            "every": Field(duration("how often the query runs", positive=True), default=30.0),
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
            "per": Field(duration("in this window", positive=True), required=True),
            "by": Field(Choice(("target", "runbook", "namespace"), "what is counted"),
                        default="target"),
        }, "at most `max` actions per window", build=lambda **kw: RateLimit(
            kw["max"], kw["per"], kw["by"])), default=RateLimit()),
        "cooldown": Field(duration("quiet time after an action on a target"), default=600.0),
        "maxConcurrent": Field(Int("actions of this runbook in flight at once", minimum=1),
                               default=1),
        "minHealthy": Field(Parsed(_min_healthy, (ValueError,), _MIN_HEALTHY_IS,
                                   "replicas of the workload that must be ready before "
                                   "acting on one: a count, or a whole-number percentage",
                                   {"oneOf": [{"type": "integer", "minimum": 0},
                                              {"type": "string", "pattern": _PERCENT_PATTERN}]},
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
            "after": Field(duration("when to check", positive=True), required=True),
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
                                           "digit)",
                              explain=lambda name: name_problem(name, NameKind.DNS1123_LABEL)),
                   required=True),
            "labels": Field(MapOf("free-form labels", values="label values"), default={}),
        }, "identity"), required=True),
        "spec": Field(spec, required=True),
    }, "a healer runbook")


def cross_field_problems(values: dict[str, Any],
                         catalog: ActionCatalog) -> list[tuple[tuple[str, ...], str, int]]:
    """Checks spanning fields of a converted document: (key path, message, offset into the
    value's text) triples."""
    spec = values["spec"]
    trigger: Trigger = spec["trigger"]
    target: TargetRef = spec["target"]
    problems: list[tuple[tuple[str, ...], str, int]] = []
    trigger_kind = next(k for k in ("alert", "promql", "kubernetes")
                        if getattr(trigger, k) is not None)

    def check(path: tuple[str, ...], tpl: Template | None, *, owner_allowed: bool) -> None:
        if tpl is None:
            return
        for offset, variable in sorted((_offset(tpl, v), v) for v in tpl.variables()):
            if not owner_allowed and variable.startswith("owner."):
                problems.append((path, f"{variable} is the target's controller: use it in a "
                                       "step's target, not in spec.target", offset))
            if variable == "value" and trigger.promql is None:
                problems.append((path, f"value is the sample value of a promql trigger; this "
                                       f"runbook's trigger is {trigger_kind}", offset))

    check(("spec", "target", "name"), target.name, owner_allowed=False)
    check(("spec", "target", "namespace"), target.namespace, owner_allowed=False)
    for i, step in enumerate(spec["steps"]):
        where = ("spec", "steps", str(i))
        if step.target is not None:
            check((*where, "target", "name"), step.target.name, owner_allowed=True)
            check((*where, "target", "namespace"), step.target.namespace, owner_allowed=True)
        if is_dataclass(step.params):
            for param in fields(step.params):
                value = getattr(step.params, param.name)
                if isinstance(value, Template):
                    check((*where, "params", _camel(param.name)), value, owner_allowed=True)
        kind = step.target.kind if step.target is not None else target.kind
        signature = catalog.get(step.action)
        if signature is None or kind in signature.targets:
            continue
        kinds = sorted(signature.targets)
        either = " or ".join([", ".join(kinds[:-1]), kinds[-1]] if len(kinds) > 1 else kinds)
        if step.target is not None:
            problems.append(((*where, "target", "kind"),
                             f"{step.action} acts on a {either}, not on a {kind}", 0))
        else:
            problems.append(((*where, "action"),
                             f"{step.action} acts on a {either}, not on the runbook's target, "
                             f"a {kind}: give this step a target of kind {either}", 0))
    verify: Verify | None = spec.get("verify")
    if verify is not None and verify.promql is None and not verify.resolved:
        problems.append((("spec", "verify", "resolved"),
                         "false checks nothing; write resolved: true, or a promql query", 0))
    return problems


def _offset(tpl: Template, variable: str) -> int:
    """Where `variable` is first referred to in the template's text."""
    found = re.search(r"\{\{[ \t]*(" + re.escape(variable) + r")[ \t]*\}\}", tpl.source)
    return found.start(1) if found else 0


def _camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(part.title() for part in rest)
