"""The built-in actions and their params, registered into `default_registry`.

Each action's params are a frozen dataclass whose fields are the snake_case forms of the
camelCase keys runbooks write (`gracePeriodSeconds` → `grace_period_seconds`); durations
are seconds. An action's `prepare` (how it acts on the cluster) lives in a module of its
own (`pods`, `workloads`); one registered without a `prepare` validates in runbooks but is
not available yet.

Neighbours: `registry` (the registry type); `healer.runbook.spec` (the spec types);
`pods` and `workloads` (the prepares).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from healer.actions.pods import prepare_restart_pod
from healer.actions.registry import ActionRegistry, ActionType
from healer.actions.workloads import prepare_rollout_restart, prepare_scale
from healer.runbook.format import duration, template
from healer.runbook.source import Node
from healer.runbook.spec import (
    LARGEST,
    Bool,
    Checked,
    Field,
    Int,
    Issues,
    Obj,
    Parsed,
    Str,
    expected,
)
from healer.runbook.templates import Template

WORKLOADS = frozenset({"Deployment", "StatefulSet", "DaemonSet"})
# ASCII digits only (`\d` would take "\u0661Gi"); the patterns go into the JSON Schema too.
_QUANTITY = re.compile(r"([0-9]+(\.[0-9]+)?|\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)?")
_INCREASE = re.compile(r"\+([0-9]+(\.[0-9]+)?)%")
_CHANGE = re.compile(r"[+-][0-9]+")  # a quoted replica change: "+2", "-1"


@dataclass(frozen=True)
class NoParams:
    """An action that takes no params."""


@dataclass(frozen=True)
class RestartPodParams:
    grace_period_seconds: int | None = None  # None: the pod's own terminationGracePeriod
    allow_unmanaged: bool = False  # also delete a pod no controller replaces


@dataclass(frozen=True)
class ReplicaCount:
    """`replicas` as a step writes it: a count (`5`), or a change of the current count
    (`+2`, `-1`; never 0)."""

    value: int
    relative: bool = False

    def applied_to(self, current: int) -> int:
        """The count this asks for, given the `current` one (before min and max)."""
        return current + self.value if self.relative else self.value

    def __str__(self) -> str:
        return f"{self.value:+d}" if self.relative else str(self.value)


@dataclass(frozen=True)
class ScaleParams:
    replicas: ReplicaCount
    min: int | None = None
    max: int | None = None
    adjust_hpa: bool = False  # raise the HPA's minReplicas instead of refusing


@dataclass(frozen=True)
class RolloutUndoParams:
    to_revision: int = 0  # 0: the previous revision


@dataclass(frozen=True)
class DrainParams:
    grace_period_seconds: int | None = None
    timeout: float = 300.0  # seconds
    ignore_daemon_sets: bool = True
    delete_empty_dir_data: bool = False
    force: bool = False


@dataclass(frozen=True)
class DeleteFailedPodsParams:
    reason: str | None = None  # e.g. Evicted; None: every failed pod
    older_than: float = 0.0  # seconds
    max: int = 100


@dataclass(frozen=True)
class ResourceChange:
    """A new value for a resource: an absolute quantity, or an increase by a percentage."""

    quantity: str | None = None
    increase_percent: float | None = None


@dataclass(frozen=True)
class PatchResourcesParams:
    container: str
    memory_limit: ResourceChange | None = None
    memory_request: ResourceChange | None = None
    cpu_limit: ResourceChange | None = None
    cpu_request: ResourceChange | None = None
    max_memory_limit: str | None = None
    max_cpu_limit: str | None = None


@dataclass(frozen=True)
class NotifyParams:
    message: Template | None = None  # None: a summary of the decision


def parse_quantity(text: str) -> str:
    if not _QUANTITY.fullmatch(text):
        raise ValueError(f"expected a Kubernetes quantity like 512Mi, 1Gi or 500m, got "
                         f"{text!r}{_digits_hint(text)}")
    return text


def _digits_hint(text: str) -> str:
    foreign = any(char.isdigit() and char not in "0123456789" for char in text)
    return " (write the digits as 0-9)" if foreign else ""


def _resource_change(text: str) -> ResourceChange:
    increase = _INCREASE.fullmatch(text)
    if increase:
        return ResourceChange(increase_percent=float(increase.group(1)))
    try:
        return ResourceChange(quantity=parse_quantity(text))
    except ValueError:
        raise ValueError(f"expected a quantity like 1Gi or an increase like +25%, got "
                         f"{text!r}{_digits_hint(text)}") from None


@dataclass(frozen=True)
class _Replicas:
    """The spec of scale's `replicas`: a whole number is a count, unless it is written with
    a sign: `+2` and `-1` (quoted or not) change the current count.

    YAML reads a plain `+2` as the number 2, so the sign is read from the text as written
    (the node's `span`, which the loader keeps for every scalar YAML read as a number).
    """

    what = "a count like 5, or a change like +2 or -1"

    def convert(self, node: Node, where: str, issues: Issues) -> Any:
        value = node.value
        if isinstance(value, str):
            if _CHANGE.fullmatch(value):
                if len(value) > 19:  # int() of thousands of digits would raise
                    return issues.add(node.position, f"{where}: a change of more than 18 "
                                                     f"digits is never meant")
                return self._change(int(value), value, node, where, issues)
            hint = "; write a count without quotes" if value.isascii() and value.isdigit() else ""
            return issues.add(node.position, f"{where}: expected {self.what}, got "
                                             f"{value!r}{hint}")
        if isinstance(value, bool) or not isinstance(value, int) or abs(value) > LARGEST:
            return expected(node, where, self.what, issues)
        written = _scalar_text(node)
        if value < 0 or written.startswith(("+", "-")):
            return self._change(value, written, node, where, issues)
        return ReplicaCount(value)

    @staticmethod
    def _change(value: int, written: str, node: Node, where: str, issues: Issues) -> Any:
        if value == 0:
            return issues.add(node.position, f"{where}: {written} changes nothing; write a "
                                             f"change like +2 or -1, or a count like 3")
        return ReplicaCount(value, relative=True)

    def schema(self) -> dict[str, Any]:
        return {"description": "a count (5), or a change of the current count written with "
                               "its sign (+2, -1)",
                "anyOf": [{"type": "integer"},
                          {"type": "string", "pattern": "^[+-]0*[1-9][0-9]*$"}]}


def _scalar_text(node: Node) -> str:
    """A number's text as written, without a tag or quotes (`!!int "+2"` → `+2`)."""
    if node.span is None:
        return str(node.value)
    words = node.span.written.split()
    return words[-1].strip("'\"") if words else ""


def _scale_problem(params: Any) -> str | None:
    low, high, count = params.min, params.max, params.replicas
    if low is not None and high is not None and low > high:
        return f"min ({low}) is greater than max ({high})"
    outside = (f"below min ({low})" if low is not None and count.value < low else
               f"above max ({high})" if high is not None and count.value > high else None)
    if not count.relative and outside:
        return (f"replicas ({count}) is {outside}: min and max bound a change like +2; a "
                f"count needs neither")
    return None


def _patch_problem(params: Any) -> str | None:
    changes = (params.memory_limit, params.memory_request, params.cpu_limit, params.cpu_request)
    if all(change is None for change in changes):
        return "needs at least one of memoryLimit, memoryRequest, cpuLimit, cpuRequest"
    return None


_QUANTITY_SPEC = Parsed(parse_quantity, (ValueError,), "a quantity like 1Gi or 500m",
                        json={"type": "string", "pattern": f"^{_QUANTITY.pattern}$"})
_CHANGE_SPEC = Parsed(_resource_change, (ValueError,), "a quantity like 1Gi or +25%",
                      json={"type": "string",
                            "pattern": f"^(?:{_QUANTITY.pattern}|{_INCREASE.pattern})$"})
_GRACE = Field(Int("seconds the pod gets to stop", minimum=0))


def _params(fields: dict[str, Field], build: Any, description: str) -> Obj:
    return Obj(fields, description, build=build)


BUILT_IN: tuple[ActionType, ...] = (
    ActionType("restart-pod", "Delete a pod so its controller replaces it.", frozenset({"Pod"}),
               _params({
                   "gracePeriodSeconds": _GRACE,
                   "allowUnmanaged": Field(Bool("also delete a pod that no controller "
                                                "replaces"), default=False),
               }, RestartPodParams, "restart-pod params"),
               prepare_restart_pod),
    ActionType("rollout-restart", "Restart every pod of a workload, like kubectl rollout "
               "restart.", WORKLOADS, _params({}, NoParams, "rollout-restart takes no params"),
               prepare_rollout_restart),
    ActionType("scale", "Set or change a workload's replicas, within bounds.",
               frozenset({"Deployment", "StatefulSet", "ReplicaSet"}),
               Checked(_params({
                   "replicas": Field(_Replicas(), required=True),
                   "min": Field(Int("never below", minimum=0)),
                   "max": Field(Int("never above", minimum=1)),
                   "adjustHpa": Field(Bool("when an HPA scales the workload, raise its "
                                           "minReplicas instead of refusing"), default=False),
               }, ScaleParams, "scale params"), _scale_problem),
               prepare_scale),
    ActionType("rollout-undo", "Roll a Deployment back to an earlier revision.",
               frozenset({"Deployment"}),
               _params({"toRevision": Field(Int("revision; 0 is the previous one", minimum=0),
                                            default=0)}, RolloutUndoParams,
                       "rollout-undo params")),
    ActionType("cordon", "Mark a node unschedulable.", frozenset({"Node"}),
               _params({}, NoParams, "cordon takes no params")),
    ActionType("uncordon", "Mark a node schedulable again.", frozenset({"Node"}),
               _params({}, NoParams, "uncordon takes no params")),
    ActionType("drain", "Cordon a node and evict its pods, honouring PodDisruptionBudgets.",
               frozenset({"Node"}),
               _params({
                   "gracePeriodSeconds": _GRACE,
                   "timeout": Field(duration("give up after", positive=True), default=300.0),
                   "ignoreDaemonSets": Field(Bool("leave DaemonSet pods"), default=True),
                   "deleteEmptyDirData": Field(Bool("evict pods with emptyDir data"),
                                               default=False),
                   "force": Field(Bool("also delete pods without a controller"),
                                  default=False),
               }, DrainParams, "drain params")),
    ActionType("delete-failed-pods", "Delete failed (e.g. evicted) pods.",
               frozenset({"Namespace", "Node"}),
               _params({
                   "reason": Field(Str("only pods failed for this reason, e.g. Evicted")),
                   "olderThan": Field(duration("only pods failed at least this long ago"),
                                      default=0.0),
                   "max": Field(Int("delete at most this many", minimum=1), default=100),
               }, DeleteFailedPodsParams, "delete-failed-pods params")),
    ActionType("patch-resources", "Change a container's resource requests or limits.",
               WORKLOADS,
               Checked(_params({
                   "container": Field(Str("the container to change"), required=True),
                   "memoryLimit": Field(_CHANGE_SPEC),
                   "memoryRequest": Field(_CHANGE_SPEC),
                   "cpuLimit": Field(_CHANGE_SPEC),
                   "cpuRequest": Field(_CHANGE_SPEC),
                   "maxMemoryLimit": Field(_QUANTITY_SPEC),
                   "maxCpuLimit": Field(_QUANTITY_SPEC),
               }, PatchResourcesParams, "patch-resources params"), _patch_problem)),
    ActionType("notify", "Send a message to the runbook's notifiers.",
               frozenset({"Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job",
                          "Node", "Namespace"}),
               _params({"message": Field(template("the message; a template"))}, NotifyParams,
                       "notify params")),
)


def default_registry() -> ActionRegistry:
    """A registry of the built-in actions (a new one each call: no shared state)."""
    return ActionRegistry(BUILT_IN)
