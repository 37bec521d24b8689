"""Server-side printing: turn stored objects into the ``meta.k8s.io/v1`` Tables kubectl shows.

``kubectl get`` (and ``kubectl get -w``) does not format objects itself. It sends
``Accept: application/json;as=Table;v=v1;g=meta.k8s.io`` and prints whatever columns and
cells the API server computed. For the sandbox to be indistinguishable from a real cluster,
those cells have to come out exactly as the real server's printers make them: the pod
STATUS reason logic, ``3 (5m ago)`` restarts, ``Ready,SchedulingDisabled`` nodes, ages in
apimachinery's ``HumanDuration`` form.

This module is that printer, and nothing else. It is pure: objects in (plain JSON dicts as
the Kubernetes API returns them), a Table body out, the clock passed in. Its neighbours are
the sandbox store, which owns the objects, and the sandbox HTTP layer, which negotiates the
``as=Table`` media type, reads ``includeObject`` from the query, and calls ``to_table`` for
a list, a single GET, and each watch event (with ``no_headers`` after the first event, as
the real watch encoder does).

Reference: k8s.io/kubernetes ``pkg/printers/internalversion/printers.go`` (the column
definitions registered in ``AddHandlers`` and the ``print*`` functions),
``pkg/printers/tablegenerator.go``, apiserver ``registry/rest/table.go`` (the default table
for resources without printers), ``endpoints/handlers/response.go`` (``includeObject``) and
apimachinery ``util/duration`` (``HumanDuration``). The server prints every column, wide
ones included; kubectl drops priority-1 columns unless ``-o wide``.

Where the real server would have defaulted a field before printing (``spec.replicas`` to 1,
a Service's ``type`` to ClusterIP, an HPA's metrics to 80% CPU, ...), the printer applies
the same default, so an object stored without it prints as it would on a cluster.
"""

from __future__ import annotations

import copy
import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any, Final

__all__ = [
    "PRINTERS",
    "Column",
    "IncludeObject",
    "Printer",
    "Row",
    "RowCondition",
    "TableOptionsError",
    "human_duration",
    "to_table",
]

Cell = str | int | bool
"""One table cell as it goes on the wire: the server emits strings, int64s and booleans."""

JSONObject = Mapping[str, Any]
"""A Kubernetes object (or part of one) as decoded JSON."""


class IncludeObject(enum.StrEnum):
    """What each row's ``object`` carries (the ``includeObject`` query parameter)."""

    METADATA = "Metadata"
    OBJECT = "Object"
    NONE = "None"


class TableOptionsError(ValueError):
    """The request's table options are not ones the API server accepts (an HTTP 400)."""


@dataclass(frozen=True, slots=True)
class Column:
    """One ``TableColumnDefinition``; priority 1 columns are shown only with ``-o wide``."""

    name: str
    type: str
    description: str
    format: str = ""
    priority: int = 0

    def as_json(self) -> dict[str, Any]:
        """The column as the server serialises it (no field is omitted when empty)."""
        return {
            "name": self.name,
            "type": self.type,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        }


@dataclass(frozen=True, slots=True)
class RowCondition:
    """A ``TableRowCondition``: the server marks finished pods ``Completed``."""

    type: str
    status: str
    reason: str
    message: str

    def as_json(self) -> dict[str, Any]:
        """The condition as the server serialises it."""
        return {
            "type": self.type,
            "status": self.status,
            "reason": self.reason,
            "message": self.message,
        }


@dataclass(frozen=True, slots=True)
class Row:
    """The cells computed for one object, in column order."""

    cells: tuple[Cell, ...]
    conditions: tuple[RowCondition, ...] = ()


RowPrinter = Callable[[JSONObject, datetime], Row]
"""Computes one object's cells; the datetime is "now" for the age columns."""


@dataclass(frozen=True, slots=True)
class Printer:
    """The columns a resource registers and the function that fills them."""

    columns: tuple[Column, ...]
    print_row: RowPrinter = field(repr=False)


# --- the age columns: apimachinery HumanDuration -------------------------------------------

_SECOND_US: Final = 1_000_000
_MINUTE_US: Final = 60 * _SECOND_US
_HOUR_US: Final = 60 * _MINUTE_US


def human_duration(elapsed: timedelta) -> str:
    """Format a duration the way the API server's age columns do (``HumanDuration``).

    About two significant figures: ``45s``, ``119s``, ``2m``, ``5m30s``, ``10m``, ``179m``,
    ``3h``, ``7h59m``, ``8h``, ``47h``, ``2d``, ``7d23h``, ``8d``, ``729d``, ``2y``,
    ``7y364d``, ``8y``. Up to two seconds in the future (clock skew) reads as ``0s``; more
    than that is ``<invalid>``.
    """
    micros = elapsed // timedelta(microseconds=1)
    # Go's int(d.Seconds()) truncates toward zero, so -1.9s is -1 and still reads "0s".
    seconds = micros // _SECOND_US if micros >= 0 else -((-micros) // _SECOND_US)
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 60 * 2:
        return f"{seconds}s"
    minutes = micros // _MINUTE_US
    if minutes < 10:
        rest = seconds % 60
        return f"{minutes}m" if rest == 0 else f"{minutes}m{rest}s"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = micros // _HOUR_US
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h" if rest == 0 else f"{hours}h{rest}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d" if rest == 0 else f"{hours // 24}d{rest}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        rest = (hours // 24) % 365
        years = hours // 24 // 365
        return f"{years}y" if rest == 0 else f"{years}y{rest}d"
    return f"{hours // 24 // 365}y"


_GO_ZERO_TIME: Final = datetime(1, 1, 1, tzinfo=UTC)


def _timestamp(value: Any) -> datetime | None:
    """A metav1.Time / MicroTime field as an aware datetime; None for unset (Go's zero)."""
    if isinstance(value, datetime):
        parsed = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    elif isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
    else:
        return None
    return None if parsed == _GO_ZERO_TIME else parsed


def _since(when: datetime | None, now: datetime) -> str:
    """``translateTimestampSince``: the age of a timestamp, ``<unknown>`` when unset."""
    return "<unknown>" if when is None else human_duration(now - when)


def _later(current: datetime | None, candidate: datetime | None) -> datetime | None:
    """The later of two optional times (Go's zero time loses to any real one)."""
    if candidate is None:
        return current
    if current is None:
        return candidate
    return max(current, candidate)


# --- reading JSON objects defensively ------------------------------------------------------


def _mapping(value: Any) -> JSONObject:
    return value if isinstance(value, Mapping) else {}


def _items(value: Any) -> list[JSONObject]:
    if not isinstance(value, Sequence) or isinstance(value, str | bytes):
        return []
    return [item for item in value if isinstance(item, Mapping)]


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _number(value: Any, default: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        return default
    return value


def _dig(value: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _strings(value: Any) -> list[str]:
    if not isinstance(value, Sequence) or isinstance(value, str | bytes):
        return []
    return [str(item) for item in value]


def _string_map(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in _mapping(value).items()}


def _name(obj: JSONObject) -> str:
    return _text(_dig(obj, "metadata", "name"))


def _age(obj: JSONObject, now: datetime) -> str:
    return _since(_timestamp(_dig(obj, "metadata", "creationTimestamp")), now)


def _is_deleting(obj: JSONObject) -> bool:
    return _dig(obj, "metadata", "deletionTimestamp") is not None


def _format_labels(labels: Mapping[str, str]) -> str:
    """``labels.FormatLabels``: ``k=v`` sorted by key, ``<none>`` when empty."""
    return ",".join(f"{k}={labels[k]}" for k in sorted(labels)) or "<none>"


class _SelectorError(ValueError):
    """A LabelSelector the server could not turn into a selector."""


_SELECTOR_OPERATORS: Final = MappingProxyType(
    {"In": " in ", "NotIn": " notin ", "Exists": "", "DoesNotExist": ""}
)


def _selector_string(selector: Any) -> str:
    """``LabelSelectorAsSelector(s).String()``: requirements sorted by key, "" when empty."""
    if not isinstance(selector, Mapping):
        return ""
    requirements: list[tuple[str, str]] = []
    for key, value in _string_map(selector.get("matchLabels")).items():
        requirements.append((key, f"{key}={value}"))
    for expression in _items(selector.get("matchExpressions")):
        key = _text(expression.get("key"))
        operator = _text(expression.get("operator"))
        if operator not in _SELECTOR_OPERATORS:
            raise _SelectorError(f"{operator!r} is not a valid label selector operator")
        if operator == "Exists":
            requirements.append((key, key))
        elif operator == "DoesNotExist":
            requirements.append((key, f"!{key}"))
        else:
            values = sorted(_strings(expression.get("values")))
            if not values:
                raise _SelectorError(f"{operator} requires one or more values")
            requirements.append((key, f"{key}{_SELECTOR_OPERATORS[operator]}({','.join(values)})"))
    requirements.sort(key=lambda requirement: requirement[0])
    return ",".join(text for _, text in requirements)


def _format_label_selector(selector: Any) -> str:
    """``metav1.FormatLabelSelector``: like the selector string but ``<none>`` when empty."""
    try:
        return _selector_string(selector) or "<none>"
    except _SelectorError:
        return "<error>"


def _container_cells(template: Any) -> tuple[str, str]:
    """``layoutContainerCells``: container names and images, comma-joined."""
    containers = _items(_dig(template, "spec", "containers"))
    names = ",".join(_text(c.get("name")) for c in containers)
    images = ",".join(_text(c.get("image")) for c in containers)
    return names, images


def _replicas(spec: JSONObject) -> int:
    """``spec.replicas`` after API defaulting (an unset value is 1)."""
    return _number(spec.get("replicas"), default=1)


# --- column descriptions, as the API types' swagger docs give them ------------------------

_NAME_DOC: Final = (
    "Name must be unique within a namespace. Is required when creating resources, although"
    " some resources may allow a client to request the generation of an appropriate name"
    " automatically. Name is primarily intended for creation idempotence and configuration"
    " definition. Cannot be updated. More info:"
    " https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"
)
_AGE_DOC: Final = (
    "CreationTimestamp is a timestamp representing the server time when this object was"
    " created. It is not guaranteed to be set in happens-before order across separate"
    " operations. Clients may not set this value. It is represented in RFC3339 form and is"
    " in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info:"
    " https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"
)
_CONTAINERS_DOC: Final = "Names of each container in the template."
_IMAGES_DOC: Final = "Images referenced by each container in the template."
_LABEL_SELECTORS_URL: Final = (
    "https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors"
)

_NAME: Final = Column("Name", "string", _NAME_DOC, format="name")
_AGE: Final = Column("Age", "string", _AGE_DOC)
_CONTAINERS: Final = Column("Containers", "string", _CONTAINERS_DOC, priority=1)
_IMAGES: Final = Column("Images", "string", _IMAGES_DOC, priority=1)


# --- pods ----------------------------------------------------------------------------------

_POD_COLUMNS: Final = (
    _NAME,
    Column("Ready", "string", "The aggregate readiness state of this pod for accepting traffic."),
    Column("Status", "string", "The aggregate status of the containers in this pod."),
    Column(
        "Restarts",
        "string",
        "The number of times the containers in this pod have been restarted and when the last"
        " container in this pod has restarted.",
    ),
    _AGE,
    Column(
        "IP",
        "string",
        "podIP address allocated to the pod. Routable at least within the cluster. Empty if"
        " not yet allocated.",
        priority=1,
    ),
    Column(
        "Node",
        "string",
        "NodeName indicates in which node this pod is scheduled. If empty, this pod is a"
        " candidate for scheduling by the scheduler defined in schedulerName. Once this field"
        " is set, the kubelet for this node becomes responsible for the lifecycle of this pod."
        " This field should not be used to express a desire for the pod to be scheduled on a"
        " specific node."
        " https://kubernetes.io/docs/concepts/scheduling-eviction/assign-pod-node/#nodename",
        priority=1,
    ),
    Column(
        "Nominated Node",
        "string",
        "nominatedNodeName is set only when this pod preempts other pods on the node, but it"
        " cannot be scheduled right away as preemption victims receive their graceful"
        " termination periods. This field does not guarantee that the pod will be scheduled on"
        " this node. Scheduler may decide to place the pod elsewhere if other nodes become"
        " available sooner. Scheduler may also decide to give the resources on this node to a"
        " higher priority pod that is created after preemption. As a result, this field may be"
        " different than PodSpec.nodeName when the pod is scheduled.",
        priority=1,
    ),
    Column(
        "Readiness Gates",
        "string",
        "If specified, all readiness gates will be evaluated for pod readiness. A pod is ready"
        " when all its containers are ready AND all conditions specified in the readiness"
        ' gates have status equal to "True" More info:'
        " https://git.k8s.io/enhancements/keps/sig-network/580-pod-readiness-gates",
        priority=1,
    ),
)

_POD_SUCCEEDED: Final = RowCondition(
    "Completed", "True", "Succeeded", "The pod has completed successfully."
)
_POD_FAILED: Final = RowCondition("Completed", "True", "Failed", "The pod failed.")

# k8s.io/kubernetes/pkg/util/node.NodeUnreachablePodReason: the node lifecycle controller
# sets it on the pods of a node it has lost contact with before deleting them.
_NODE_LOST: Final = "NodeLost"


def _condition_status(conditions: Sequence[JSONObject], kind: str) -> str | None:
    """The status of the first condition of ``kind``, None if there is none."""
    for condition in conditions:
        if condition.get("type") == kind:
            return _text(condition.get("status"))
    return None


def _termination_reason(terminated: JSONObject) -> str:
    """A terminated container's reason, else ``Signal:N``, else ``ExitCode:N``."""
    reason = _text(terminated.get("reason"))
    if reason:
        return reason
    signal = _number(terminated.get("signal"))
    if signal:
        return f"Signal:{signal}"
    return f"ExitCode:{_number(terminated.get('exitCode'))}"


def _last_termination(status: JSONObject) -> datetime | None:
    return _timestamp(_dig(status, "lastState", "terminated", "finishedAt"))


@dataclass(frozen=True, slots=True)
class _Tally:
    """What the container loops of printPod accumulate."""

    reason: str
    ready: int
    restarts: int
    last_restart: datetime | None


@dataclass(frozen=True, slots=True)
class _InitTally:
    """The init-container loop's result, with the sidecars' share kept apart."""

    tally: _Tally
    initializing: bool
    sidecar_restarts: int
    last_sidecar_restart: datetime | None


def _tally_init_containers(pod: JSONObject, reason: str) -> _InitTally:
    """Walk init container statuses until the first one still holding initialization up."""
    spec_init = _items(_dig(pod, "spec", "initContainers"))
    sidecars = {_text(c.get("name")) for c in spec_init if c.get("restartPolicy") == "Always"}
    ready = restarts = sidecar_restarts = 0
    last_restart: datetime | None = None
    last_sidecar_restart: datetime | None = None
    initializing = False
    for index, status in enumerate(_items(_dig(pod, "status", "initContainerStatuses"))):
        count = _number(status.get("restartCount"))
        finished = _last_termination(status)
        restarts += count
        last_restart = _later(last_restart, finished)
        is_sidecar = _text(status.get("name")) in sidecars
        if is_sidecar:
            sidecar_restarts += count
            last_sidecar_restart = _later(last_sidecar_restart, finished)
        terminated = _dig(status, "state", "terminated")
        waiting = _dig(status, "state", "waiting")
        if isinstance(terminated, Mapping) and _number(terminated.get("exitCode")) == 0:
            continue
        if is_sidecar and status.get("started") is True:
            ready += 1 if status.get("ready") is True else 0
            continue
        if isinstance(terminated, Mapping):
            reason = "Init:" + _termination_reason(terminated)
        elif isinstance(waiting, Mapping) and _text(waiting.get("reason")) not in (
            "",
            "PodInitializing",
        ):
            reason = "Init:" + _text(waiting.get("reason"))
        else:
            reason = f"Init:{index}/{len(spec_init)}"
        initializing = True
        break
    return _InitTally(
        tally=_Tally(reason, ready, restarts, last_restart),
        initializing=initializing,
        sidecar_restarts=sidecar_restarts,
        last_sidecar_restart=last_sidecar_restart,
    )


def _tally_app_containers(pod: JSONObject, start: _Tally) -> _Tally:
    """Walk app container statuses last to first, so the first container's state wins."""
    reason, ready = start.reason, start.ready
    restarts, last_restart = start.restarts, start.last_restart
    has_running = False
    error_reason = ""
    for status in reversed(_items(_dig(pod, "status", "containerStatuses"))):
        restarts += _number(status.get("restartCount"))
        last_restart = _later(last_restart, _last_termination(status))
        waiting = _dig(status, "state", "waiting")
        terminated = _dig(status, "state", "terminated")
        if isinstance(waiting, Mapping) and _text(waiting.get("reason")):
            reason = _text(waiting.get("reason"))
        elif isinstance(terminated, Mapping):
            reason = _termination_reason(terminated)
            if _number(terminated.get("exitCode")) != 0:
                error_reason = reason
        elif status.get("ready") is True and isinstance(_dig(status, "state", "running"), Mapping):
            has_running = True
            ready += 1
    if reason == "Completed":
        conditions = _items(_dig(pod, "status", "conditions"))
        pod_ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
        if has_running and pod_ready:
            reason = "Running"
        elif error_reason:
            reason = error_reason
        elif has_running:
            reason = "NotReady"
    return _Tally(reason, ready, restarts, last_restart)


def _readiness_gates(pod: JSONObject) -> str:
    gates = _items(_dig(pod, "spec", "readinessGates"))
    if not gates:
        return "<none>"
    conditions = _items(_dig(pod, "status", "conditions"))
    passing = [
        gate
        for gate in gates
        if _condition_status(conditions, _text(gate.get("conditionType"))) == "True"
    ]
    return f"{len(passing)}/{len(gates)}"


def _pod_ip(status: JSONObject) -> str:
    pod_ips = _items(status.get("podIPs"))
    address = _text(pod_ips[0].get("ip")) if pod_ips else _text(status.get("podIP"))
    return address or "<none>"


def _print_pod(pod: JSONObject, now: datetime) -> Row:
    """``printPod``: READY, the STATUS reason, RESTARTS with the last restart's age."""
    spec = _mapping(pod.get("spec"))
    status = _mapping(pod.get("status"))
    phase = _text(status.get("phase"))
    reason = _text(status.get("reason")) or phase
    conditions = _items(status.get("conditions"))
    if any(
        c.get("type") == "PodScheduled" and c.get("reason") == "SchedulingGated" for c in conditions
    ):
        reason = "SchedulingGated"

    init = _tally_init_containers(pod, reason)
    tally = init.tally
    if not init.initializing or _condition_status(conditions, "Initialized") == "True":
        # Once initialized, only the sidecars' restarts still count alongside the app's.
        tally = _tally_app_containers(
            pod,
            _Tally(tally.reason, tally.ready, init.sidecar_restarts, init.last_sidecar_restart),
        )
    reason = tally.reason
    if _is_deleting(pod) and status.get("reason") == _NODE_LOST:
        reason = "Unknown"
    elif _is_deleting(pod) and phase not in ("Succeeded", "Failed"):
        reason = "Terminating"

    restarts = str(tally.restarts)
    if tally.restarts != 0 and tally.last_restart is not None:
        restarts = f"{tally.restarts} ({_since(tally.last_restart, now)} ago)"
    sidecars = sum(
        1 for c in _items(spec.get("initContainers")) if c.get("restartPolicy") == "Always"
    )
    total = len(_items(spec.get("containers"))) + sidecars
    row_conditions = {"Succeeded": (_POD_SUCCEEDED,), "Failed": (_POD_FAILED,)}.get(phase, ())
    return Row(
        cells=(
            _name(pod),
            f"{tally.ready}/{total}",
            reason,
            restarts,
            _age(pod, now),
            _pod_ip(status),
            _text(spec.get("nodeName")) or "<none>",
            _text(status.get("nominatedNodeName")) or "<none>",
            _readiness_gates(pod),
        ),
        conditions=row_conditions,
    )


# --- nodes ---------------------------------------------------------------------------------

_NODE_COLUMNS: Final = (
    _NAME,
    Column("Status", "string", "The status of the node"),
    Column("Roles", "string", "The roles of the node"),
    _AGE,
    Column("Version", "string", "Kubelet Version reported by the node."),
    Column(
        "Internal-IP",
        "string",
        "List of addresses reachable to the node. Queried from cloud provider, if available."
        " More info: https://kubernetes.io/docs/reference/node/node-status/#addresses Note:"
        " This field is declared as mergeable, but the merge key is not sufficiently unique,"
        " which can cause data corruption when it is merged. Callers should instead use a"
        " full-replacement patch. See https://pr.k8s.io/79391 for an example. Consumers should"
        " assume that addresses can change during the lifetime of a Node. However, there are"
        " some exceptions where this may not be possible, such as Pods that inherit a Node's"
        " address in its own status or consumers of the downward API (status.hostIP).",
        priority=1,
    ),
    Column(
        "External-IP",
        "string",
        "List of addresses reachable to the node. Queried from cloud provider, if available."
        " More info: https://kubernetes.io/docs/reference/node/node-status/#addresses Note:"
        " This field is declared as mergeable, but the merge key is not sufficiently unique,"
        " which can cause data corruption when it is merged. Callers should instead use a"
        " full-replacement patch. See https://pr.k8s.io/79391 for an example. Consumers should"
        " assume that addresses can change during the lifetime of a Node. However, there are"
        " some exceptions where this may not be possible, such as Pods that inherit a Node's"
        " address in its own status or consumers of the downward API (status.hostIP).",
        priority=1,
    ),
    Column(
        "OS-Image",
        "string",
        "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).",
        priority=1,
    ),
    Column(
        "Kernel-Version",
        "string",
        "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).",
        priority=1,
    ),
    Column(
        "Container-Runtime",
        "string",
        "ContainerRuntime Version reported by the node through runtime remote API (e.g."
        " containerd://1.4.2).",
        priority=1,
    ),
)

_NODE_ROLE_PREFIX: Final = "node-role.kubernetes.io/"
_NODE_ROLE_LABEL: Final = "kubernetes.io/role"


def _node_roles(node: JSONObject) -> str:
    """``findNodeRoles``: ``node-role.kubernetes.io/<role>`` keys and ``kubernetes.io/role``."""
    roles: set[str] = set()
    for key, value in _string_map(_dig(node, "metadata", "labels")).items():
        if key.startswith(_NODE_ROLE_PREFIX) and key.removeprefix(_NODE_ROLE_PREFIX):
            roles.add(key.removeprefix(_NODE_ROLE_PREFIX))
        elif key == _NODE_ROLE_LABEL and value:
            roles.add(value)
    return ",".join(sorted(roles)) or "<none>"


def _node_address(node: JSONObject, kind: str) -> str:
    for address in _items(_dig(node, "status", "addresses")):
        if address.get("type") == kind:
            return _text(address.get("address"))
    return "<none>"


def _print_node(node: JSONObject, now: datetime) -> Row:
    """``printNode``: Ready / NotReady / Unknown, plus SchedulingDisabled when cordoned."""
    # The last Ready condition wins, as in the server's condition map.
    ready: str | None = None
    for condition in _items(_dig(node, "status", "conditions")):
        if condition.get("type") == "Ready":
            ready = _text(condition.get("status"))
    states = ["Unknown" if ready is None else "Ready" if ready == "True" else "NotReady"]
    if _dig(node, "spec", "unschedulable") is True:
        states.append("SchedulingDisabled")
    info = _mapping(_dig(node, "status", "nodeInfo"))
    return Row(
        cells=(
            _name(node),
            ",".join(states),
            _node_roles(node),
            _age(node, now),
            _text(info.get("kubeletVersion")),
            _node_address(node, "InternalIP"),
            _node_address(node, "ExternalIP"),
            _text(info.get("osImage")) or "<unknown>",
            _text(info.get("kernelVersion")) or "<unknown>",
            _text(info.get("containerRuntimeVersion")) or "<unknown>",
        )
    )


# --- namespaces, configmaps, leases --------------------------------------------------------

_NAMESPACE_COLUMNS: Final = (_NAME, Column("Status", "string", "The status of the namespace"), _AGE)


def _print_namespace(namespace: JSONObject, now: datetime) -> Row:
    """``printNamespace``: the phase (the server sets Active on create)."""
    phase = _text(_dig(namespace, "status", "phase")) or "Active"
    return Row(cells=(_name(namespace), phase, _age(namespace, now)))


_CONFIGMAP_COLUMNS: Final = (
    _NAME,
    Column(
        "Data",
        "string",
        "Data contains the configuration data. Each key must consist of alphanumeric"
        " characters, '-', '_' or '.'. Values with non-UTF-8 byte sequences must use the"
        " BinaryData field. The keys stored in Data must not overlap with the keys in the"
        " BinaryData field, this is enforced during validation process.",
    ),
    _AGE,
)


def _print_configmap(configmap: JSONObject, now: datetime) -> Row:
    """``printConfigMap``: the number of keys in data and binaryData together."""
    keys = len(_mapping(configmap.get("data"))) + len(_mapping(configmap.get("binaryData")))
    return Row(cells=(_name(configmap), keys, _age(configmap, now)))


_LEASE_COLUMNS: Final = (
    _NAME,
    Column(
        "Holder",
        "string",
        "holderIdentity contains the identity of the holder of a current lease. If Coordinated"
        " Leader Election is used, the holder identity must be equal to the elected"
        " LeaseCandidate.metadata.name field.",
    ),
    _AGE,
)


def _print_lease(lease: JSONObject, now: datetime) -> Row:
    return Row(cells=(_name(lease), _text(_dig(lease, "spec", "holderIdentity")), _age(lease, now)))


# --- services ------------------------------------------------------------------------------

_SERVICE_COLUMNS: Final = (
    _NAME,
    Column(
        "Type",
        "string",
        "type determines how the Service is exposed. Defaults to ClusterIP. Valid options are"
        ' ExternalName, ClusterIP, NodePort, and LoadBalancer. "ClusterIP" allocates a'
        " cluster-internal IP address for load-balancing to endpoints. Endpoints are"
        " determined by the selector or if that is not specified, by manual construction of an"
        ' Endpoints object or EndpointSlice objects. If clusterIP is "None", no virtual IP is'
        " allocated and the endpoints are published as a set of endpoints rather than a"
        ' virtual IP. "NodePort" builds on ClusterIP and allocates a port on every node which'
        ' routes to the same endpoints as the clusterIP. "LoadBalancer" builds on NodePort and'
        " creates an external load-balancer (if supported in the current cloud) which routes"
        ' to the same endpoints as the clusterIP. "ExternalName" aliases this service to the'
        " specified externalName. Several other fields do not apply to ExternalName services."
        " More info:"
        " https://kubernetes.io/docs/concepts/services-networking/service/#publishing-services-service-types",
    ),
    Column(
        "Cluster-IP",
        "string",
        "clusterIP is the IP address of the service and is usually assigned randomly. If an"
        " address is specified manually, is in-range (as per system configuration), and is not"
        " in use, it will be allocated to the service; otherwise creation of the service will"
        " fail. This field may not be changed through updates unless the type field is also"
        " being changed to ExternalName (which requires this field to be blank) or the type"
        " field is being changed from ExternalName (in which case this field may optionally be"
        ' specified, as describe above).  Valid values are "None", empty string (""), or a'
        ' valid IP address. Setting this to "None" makes a "headless service" (no virtual IP),'
        " which is useful when direct endpoint connections are preferred and proxying is not"
        " required.  Only applies to types ClusterIP, NodePort, and LoadBalancer. If this"
        " field is specified when creating a Service of type ExternalName, creation will fail."
        " This field will be wiped when updating a Service to type ExternalName. More info:"
        " https://kubernetes.io/docs/concepts/services-networking/service/#virtual-ips-and-service-proxies",
    ),
    Column(
        "External-IP",
        "string",
        "externalIPs is a list of IP addresses for which nodes in the cluster will also accept"
        " traffic for this service.  These IPs are not managed by Kubernetes.  The user is"
        " responsible for ensuring that traffic arrives at a node with this IP.  A common"
        " example is external load-balancers that are not part of the Kubernetes system.",
    ),
    Column(
        "Port(s)",
        "string",
        "The list of ports that are exposed by this service. More info:"
        " https://kubernetes.io/docs/concepts/services-networking/service/#virtual-ips-and-service-proxies",
    ),
    _AGE,
    Column(
        "Selector",
        "string",
        "Route service traffic to pods with label keys and values matching this selector. If"
        " empty or not present, the service is assumed to have an external process managing"
        " its endpoints, which Kubernetes will not modify. Only applies to types ClusterIP,"
        " NodePort, and LoadBalancer. Ignored if type is ExternalName. More info:"
        " https://kubernetes.io/docs/concepts/services-networking/service/",
        priority=1,
    ),
)


def _service_external_ip(spec: JSONObject, status: JSONObject, kind: str) -> str:
    """``getServiceExternalIP`` as the server calls it (wide, so never clipped)."""
    external_ips = _strings(spec.get("externalIPs"))
    if kind in ("ClusterIP", "NodePort"):
        return ",".join(external_ips) or "<none>"
    if kind == "LoadBalancer":
        ingress = {
            _text(entry.get("ip")) or _text(entry.get("hostname"))
            for entry in _items(_dig(status, "loadBalancer", "ingress"))
        } - {""}
        balancer = sorted(ingress)
        if external_ips:
            return ",".join([*balancer, *external_ips])
        return ",".join(balancer) or "<pending>"
    if kind == "ExternalName":
        return _text(spec.get("externalName"))
    return "<unknown>"


def _service_ports(spec: JSONObject) -> str:
    pieces = []
    for port in _items(spec.get("ports")):
        protocol = _text(port.get("protocol")) or "TCP"
        node_port = _number(port.get("nodePort"))
        number = _number(port.get("port"))
        pieces.append(
            f"{number}:{node_port}/{protocol}" if node_port > 0 else f"{number}/{protocol}"
        )
    return ",".join(pieces) or "<none>"


def _print_service(service: JSONObject, now: datetime) -> Row:
    """``printService``: type, first cluster IP, external IPs, ports, selector."""
    spec = _mapping(service.get("spec"))
    kind = _text(spec.get("type")) or "ClusterIP"
    cluster_ips = _strings(spec.get("clusterIPs"))
    cluster_ip = cluster_ips[0] if cluster_ips else _text(spec.get("clusterIP")) or "<none>"
    return Row(
        cells=(
            _name(service),
            kind,
            cluster_ip,
            _service_external_ip(spec, _mapping(service.get("status")), kind),
            _service_ports(spec),
            _age(service, now),
            _format_labels(_string_map(spec.get("selector"))),
        )
    )


# --- events (core/v1 and events.k8s.io/v1 print alike) --------------------------------------

_EVENT_COLUMNS: Final = (
    Column(
        "Last Seen",
        "string",
        "The time at which the most recent occurrence of this event was recorded.",
    ),
    Column(
        "Type",
        "string",
        "Type of this event (Normal, Warning), new types could be added in the future",
    ),
    Column(
        "Reason",
        "string",
        "This should be a short, machine understandable string that gives the reason for the"
        " transition into the object's current status.",
    ),
    Column("Object", "string", "The object that this event is about."),
    Column(
        "Subobject",
        "string",
        "If referring to a piece of an object instead of an entire object, this string should"
        " contain a valid JSON/Go field access statement, such as"
        " desiredState.manifest.containers[2]. For example, if the object reference is to a"
        ' container within a pod, this would take on a value like: "spec.containers{name}"'
        ' (where "name" refers to the name of the container that triggered the event) or if no'
        ' container name is specified "spec.containers[2]" (container with index 2 in this'
        " pod). This syntax is chosen only to have some well-defined way of referencing a part"
        " of an object.",
        priority=1,
    ),
    Column(
        "Source",
        "string",
        "The component reporting this event. Should be a short machine understandable string.",
        priority=1,
    ),
    Column("Message", "string", "A human-readable description of the status of this operation."),
    Column(
        "First Seen",
        "string",
        "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)",
        priority=1,
    ),
    Column("Count", "string", "The number of times this event has occurred.", priority=1),
    Column("Name", "string", _NAME_DOC, format="name", priority=1),
)


@dataclass(frozen=True, slots=True)
class _EventView:
    """The internal Event fields printEvent reads, whichever API version stored it."""

    name: str
    type: str
    reason: str
    message: str
    regarding: JSONObject
    source: JSONObject
    reporting_controller: str
    reporting_instance: str
    first_timestamp: datetime | None
    last_timestamp: datetime | None
    event_time: datetime | None
    count: int
    series: JSONObject | None


def _core_event(event: JSONObject) -> _EventView:
    series = event.get("series")
    return _EventView(
        name=_name(event),
        type=_text(event.get("type")),
        reason=_text(event.get("reason")),
        message=_text(event.get("message")),
        regarding=_mapping(event.get("involvedObject")),
        source=_mapping(event.get("source")),
        # core/v1 serialises the internal ReportingController as "reportingComponent".
        reporting_controller=_text(event.get("reportingComponent")),
        reporting_instance=_text(event.get("reportingInstance")),
        first_timestamp=_timestamp(event.get("firstTimestamp")),
        last_timestamp=_timestamp(event.get("lastTimestamp")),
        event_time=_timestamp(event.get("eventTime")),
        count=_number(event.get("count")),
        series=series if isinstance(series, Mapping) else None,
    )


def _events_k8s_io_event(event: JSONObject) -> _EventView:
    """events.k8s.io/v1 converted to the internal Event the printer sees."""
    series = event.get("series")
    return _EventView(
        name=_name(event),
        type=_text(event.get("type")),
        reason=_text(event.get("reason")),
        message=_text(event.get("note")),
        regarding=_mapping(event.get("regarding")),
        source=_mapping(event.get("deprecatedSource")),
        reporting_controller=_text(event.get("reportingController")),
        reporting_instance=_text(event.get("reportingInstance")),
        first_timestamp=_timestamp(event.get("deprecatedFirstTimestamp")),
        last_timestamp=_timestamp(event.get("deprecatedLastTimestamp")),
        event_time=_timestamp(event.get("eventTime")),
        count=_number(event.get("deprecatedCount")),
        series=series if isinstance(series, Mapping) else None,
    )


def _event_row(event: _EventView, now: datetime) -> Row:
    """``printEvent``: last seen falls back to first seen, which falls back to eventTime."""
    first_seen = _since(event.first_timestamp or event.event_time, now)
    last_seen = first_seen if event.last_timestamp is None else _since(event.last_timestamp, now)
    count = event.count
    if event.series is not None:
        last_seen = _since(_timestamp(event.series.get("lastObservedTime")), now)
        count = _number(event.series.get("count"))
    elif count == 0:
        count = 1  # singleton events carry no count in the new API
    kind = _text(event.regarding.get("kind")).lower()
    target_name = _text(event.regarding.get("name"))
    target = f"{kind}/{target_name}" if target_name else kind
    component = _text(event.source.get("component")) or event.reporting_controller
    host = _text(event.source.get("host")) or event.reporting_instance
    return Row(
        cells=(
            last_seen,
            event.type,
            event.reason,
            target,
            _text(event.regarding.get("fieldPath")),
            f"{component}, {host}" if host else component,
            event.message.strip(),
            first_seen,
            count,
            event.name,
        )
    )


def _print_core_event(event: JSONObject, now: datetime) -> Row:
    return _event_row(_core_event(event), now)


def _print_events_k8s_io_event(event: JSONObject, now: datetime) -> Row:
    return _event_row(_events_k8s_io_event(event), now)


# --- workloads -----------------------------------------------------------------------------

_DEPLOYMENT_COLUMNS: Final = (
    _NAME,
    Column("Ready", "string", "Number of the pod with ready state"),
    Column(
        "Up-to-date",
        "string",
        "Total number of non-terminated pods targeted by this deployment that have the desired"
        " template spec.",
    ),
    Column(
        "Available",
        "string",
        "Total number of available pods (ready for at least minReadySeconds) targeted by this"
        " deployment.",
    ),
    _AGE,
    _CONTAINERS,
    _IMAGES,
    Column(
        "Selector",
        "string",
        "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be"
        " the ones affected by this deployment.",
        priority=1,
    ),
)


def _print_deployment(deployment: JSONObject, now: datetime) -> Row:
    """``printDeployment``: READY is ready/desired; the selector prints "" when empty."""
    spec = _mapping(deployment.get("spec"))
    status = _mapping(deployment.get("status"))
    try:
        selector = _selector_string(spec.get("selector"))
    except _SelectorError:
        selector = "<invalid>"
    names, images = _container_cells(spec.get("template"))
    return Row(
        cells=(
            _name(deployment),
            f"{_number(status.get('readyReplicas'))}/{_replicas(spec)}",
            _number(status.get("updatedReplicas")),
            _number(status.get("availableReplicas")),
            _age(deployment, now),
            names,
            images,
            selector,
        )
    )


_REPLICASET_COLUMNS: Final = (
    _NAME,
    Column(
        "Desired",
        "integer",
        "Replicas is the number of desired replicas. This is a pointer to distinguish between"
        " explicit zero and unspecified. Defaults to 1. More info:"
        " https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller/#what-is-a-replicationcontroller",
    ),
    Column(
        "Current",
        "integer",
        "Replicas is the most recently observed number of replicas. More info:"
        " https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller/#what-is-a-replicationcontroller",
    ),
    Column("Ready", "integer", "The number of ready replicas for this replica set."),
    _AGE,
    _CONTAINERS,
    _IMAGES,
    Column(
        "Selector",
        "string",
        "Selector is a label query over pods that should match the replica count. If the"
        " selector is empty, it is defaulted to the labels present on the pod template. Label"
        " keys and values that must match in order to be controlled by this replica set. More"
        f" info: {_LABEL_SELECTORS_URL}",
        priority=1,
    ),
)


def _print_replicaset(replicaset: JSONObject, now: datetime) -> Row:
    spec = _mapping(replicaset.get("spec"))
    status = _mapping(replicaset.get("status"))
    names, images = _container_cells(spec.get("template"))
    return Row(
        cells=(
            _name(replicaset),
            _replicas(spec),
            _number(status.get("replicas")),
            _number(status.get("readyReplicas")),
            _age(replicaset, now),
            names,
            images,
            _format_label_selector(spec.get("selector")),
        )
    )


_STATEFULSET_COLUMNS: Final = (
    _NAME,
    Column("Ready", "string", "Number of the pod with ready state"),
    _AGE,
    _CONTAINERS,
    _IMAGES,
)


def _print_statefulset(statefulset: JSONObject, now: datetime) -> Row:
    spec = _mapping(statefulset.get("spec"))
    ready = _number(_dig(statefulset, "status", "readyReplicas"))
    names, images = _container_cells(spec.get("template"))
    return Row(
        cells=(
            _name(statefulset),
            f"{ready}/{_replicas(spec)}",
            _age(statefulset, now),
            names,
            images,
        )
    )


_DAEMONSET_URL: Final = "https://kubernetes.io/docs/concepts/workloads/controllers/daemonset/"
_DAEMONSET_COLUMNS: Final = (
    _NAME,
    Column(
        "Desired",
        "integer",
        "The total number of nodes that should be running the daemon pod (including nodes"
        f" correctly running the daemon pod). More info: {_DAEMONSET_URL}",
    ),
    Column(
        "Current",
        "integer",
        "The number of nodes that are running at least 1 daemon pod and are supposed to run"
        f" the daemon pod. More info: {_DAEMONSET_URL}",
    ),
    Column(
        "Ready",
        "integer",
        "The number of nodes that should be running the daemon pod and have one or more of the"
        " daemon pod running and ready.",
    ),
    Column(
        "Up-to-date",
        "integer",
        "The total number of nodes that are running updated daemon pod",
    ),
    Column(
        "Available",
        "integer",
        "The number of nodes that should be running the daemon pod and have one or more of the"
        " daemon pod running and available (ready for at least spec.minReadySeconds)",
    ),
    Column(
        "Node Selector",
        "string",
        "NodeSelector is a selector which must be true for the pod to fit on a node. Selector"
        " which must match a node's labels for the pod to be scheduled on that node. More"
        " info: https://kubernetes.io/docs/concepts/configuration/assign-pod-node/",
    ),
    _AGE,
    _CONTAINERS,
    _IMAGES,
    Column(
        "Selector",
        "string",
        "A label query over pods that are managed by the daemon set. Must match in order to be"
        " controlled. If empty, defaulted to labels on Pod template. More info:"
        f" {_LABEL_SELECTORS_URL}",
        priority=1,
    ),
)


def _print_daemonset(daemonset: JSONObject, now: datetime) -> Row:
    spec = _mapping(daemonset.get("spec"))
    status = _mapping(daemonset.get("status"))
    names, images = _container_cells(spec.get("template"))
    return Row(
        cells=(
            _name(daemonset),
            _number(status.get("desiredNumberScheduled")),
            _number(status.get("currentNumberScheduled")),
            _number(status.get("numberReady")),
            _number(status.get("updatedNumberScheduled")),
            _number(status.get("numberAvailable")),
            _format_labels(_string_map(_dig(spec, "template", "spec", "nodeSelector"))),
            _age(daemonset, now),
            names,
            images,
            _format_label_selector(spec.get("selector")),
        )
    )


_JOB_COLUMNS: Final = (
    _NAME,
    Column("Status", "string", "Status of the job."),
    Column(
        "Completions",
        "string",
        "The number of pods which reached phase Succeeded. The value increases monotonically"
        " for a given spec. However, it may decrease in reaction to scale down of elastic"
        " indexed jobs.",
    ),
    Column("Duration", "string", "Time required to complete the job."),
    _AGE,
    _CONTAINERS,
    _IMAGES,
    Column(
        "Selector",
        "string",
        "A label query over pods that should match the pod count. Normally, the system sets"
        f" this field for you. More info: {_LABEL_SELECTORS_URL}",
        priority=1,
    ),
)


def _job_condition(conditions: Sequence[JSONObject], kind: str) -> bool:
    """``hasJobCondition``: the first condition of ``kind`` decides."""
    return _condition_status(conditions, kind) == "True"


def _job_status(job: JSONObject) -> str:
    conditions = _items(_dig(job, "status", "conditions"))
    if _job_condition(conditions, "Complete"):
        return "Complete"
    if _job_condition(conditions, "Failed"):
        return "Failed"
    if _is_deleting(job):
        return "Terminating"
    for kind in ("Suspended", "FailureTarget", "SuccessCriteriaMet"):
        if _job_condition(conditions, kind):
            return kind
    return "Running"


def _print_job(job: JSONObject, now: datetime) -> Row:
    """``printJob``: status from conditions, ``succeeded/completions``, run time."""
    spec = _mapping(job.get("spec"))
    status = _mapping(job.get("status"))
    succeeded = _number(status.get("succeeded"))
    completions = spec.get("completions")
    parallelism = spec.get("parallelism")
    if completions is None and parallelism is None:
        completions = 1  # batch defaulting: a job with neither runs one pod to completion
    if isinstance(completions, int) and not isinstance(completions, bool):
        progress = f"{succeeded}/{completions}"
    elif _number(parallelism, default=1) > 1:
        progress = f"{succeeded}/1 of {_number(parallelism, default=1)}"
    else:
        progress = f"{succeeded}/1"
    started = _timestamp(status.get("startTime"))
    finished = _timestamp(status.get("completionTime"))
    elapsed = ""
    if started is not None:
        elapsed = human_duration((finished or now) - started)
    names, images = _container_cells(spec.get("template"))
    return Row(
        cells=(
            _name(job),
            _job_status(job),
            progress,
            elapsed,
            _age(job, now),
            names,
            images,
            _format_label_selector(spec.get("selector")),
        )
    )


# --- policy and autoscaling ----------------------------------------------------------------

_PDB_COLUMNS: Final = (
    _NAME,
    Column("Min Available", "string", "The minimum number of pods that must be available."),
    Column("Max Unavailable", "string", "The maximum number of pods that may be unavailable."),
    Column(
        "Allowed Disruptions",
        "integer",
        "Calculated number of pods that may be disrupted at this time.",
    ),
    _AGE,
)


def _int_or_string(value: Any) -> str:
    """``intstr.IntOrString.String()``, ``N/A`` when the field is unset."""
    if value is None:
        return "N/A"
    return str(value)


def _print_pdb(pdb: JSONObject, now: datetime) -> Row:
    spec = _mapping(pdb.get("spec"))
    return Row(
        cells=(
            _name(pdb),
            _int_or_string(spec.get("minAvailable")),
            _int_or_string(spec.get("maxUnavailable")),
            _number(_dig(pdb, "status", "disruptionsAllowed")),
            _age(pdb, now),
        )
    )


_HPA_COLUMNS: Final = (
    _NAME,
    Column(
        "Reference",
        "string",
        "scaleTargetRef points to the target resource to scale, and is used to the pods for"
        " which metrics should be collected, as well as to actually change the replica count.",
    ),
    Column(
        "Targets",
        "string",
        "metrics contains the specifications for which to use to calculate the desired replica"
        " count (the maximum replica count across all metrics will be used).  The desired"
        " replica count is calculated multiplying the ratio between the target value and the"
        " current value by the current number of pods.  Ergo, metrics used must decrease as the"
        " pod count is increased, and vice-versa.  See the individual metric source types for"
        " more information about how each type of metric must respond.",
    ),
    Column(
        "MinPods",
        "string",
        "minReplicas is the lower limit for the number of replicas to which the autoscaler can"
        " scale down.  It defaults to 1 pod.  minReplicas is allowed to be 0 if the alpha"
        " feature gate HPAScaleToZero is enabled and at least one Object or External metric is"
        " configured.  Scaling is active as long as at least one metric value is available.",
    ),
    Column(
        "MaxPods",
        "string",
        "maxReplicas is the upper limit for the number of replicas to which the autoscaler can"
        " scale up. It cannot be less that minReplicas.",
    ),
    Column(
        "Replicas",
        "string",
        "currentReplicas is current number of replicas of pods managed by this autoscaler, as"
        " last seen by the autoscaler.",
    ),
    _AGE,
)

_DEFAULT_CPU_UTILIZATION: Final = 80


def _quantity(value: Any) -> str:
    """A resource.Quantity field as printed; a nil quantity prints ``<nil>`` in Go."""
    if value is None:
        return "<nil>"
    return str(value)


def _hpa_metrics(hpa: JSONObject) -> tuple[list[JSONObject], list[JSONObject]]:
    """Spec and status metrics as the internal (v2) HPA has them after defaulting.

    An autoscaling/v1 object's CPU target becomes a Resource metric, and an HPA without any
    metric gets the 80% average CPU utilization default, as the server's conversion and
    defaulting do.
    """
    spec = _mapping(hpa.get("spec"))
    status = _mapping(hpa.get("status"))
    specs = _items(spec.get("metrics"))
    statuses = _items(status.get("currentMetrics"))
    if not specs:
        target = _number(spec.get("targetCPUUtilizationPercentage"), _DEFAULT_CPU_UTILIZATION)
        specs = [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": target},
                },
            }
        ]
    current_cpu = status.get("currentCPUUtilizationPercentage")
    if not statuses and isinstance(current_cpu, int):
        statuses = [
            {
                "type": "Resource",
                "resource": {"name": "cpu", "current": {"averageUtilization": current_cpu}},
            }
        ]
    return specs, statuses


def _hpa_metric(spec: JSONObject, status: JSONObject | None) -> str:
    """One entry of ``formatHPAMetrics``."""
    kind = _text(spec.get("type"))
    if kind in ("External", "Object"):
        source_key = kind.lower()
        target = _mapping(_dig(spec, source_key, "target"))
        observed = _mapping(status).get(source_key) if status is not None else None
        if target.get("averageValue") is not None:
            current = "<unknown>"
            if (
                isinstance(observed, Mapping)
                and _dig(observed, "current", "averageValue") is not None
            ):
                current = _quantity(_dig(observed, "current", "averageValue"))
            return f"{current}/{_quantity(target.get('averageValue'))} (avg)"
        current = "<unknown>"
        if isinstance(observed, Mapping):
            current = _quantity(_dig(observed, "current", "value"))
        return f"{current}/{_quantity(target.get('value'))}"
    if kind == "Pods":
        observed = _mapping(status).get("pods") if status is not None else None
        current = "<unknown>"
        if isinstance(observed, Mapping):
            current = _quantity(_dig(observed, "current", "averageValue"))
        return f"{current}/{_quantity(_dig(spec, 'pods', 'target', 'averageValue'))}"
    if kind in ("Resource", "ContainerResource"):
        source_key = "resource" if kind == "Resource" else "containerResource"
        source = _mapping(spec.get(source_key))
        target = _mapping(source.get("target"))
        observed = _mapping(status).get(source_key) if status is not None else None
        name = _text(source.get("name"))
        if target.get("averageValue") is not None:
            current = "<unknown>"
            if isinstance(observed, Mapping):
                current = _quantity(_dig(observed, "current", "averageValue"))
            return f"{name}: {current}/{_quantity(target.get('averageValue'))}"
        current = "<unknown>"
        utilization = _dig(observed, "current", "averageUtilization")
        if isinstance(utilization, int):
            current = f"{utilization}%"
        wanted = target.get("averageUtilization")
        return f"{name}: {current}/{f'{wanted}%' if isinstance(wanted, int) else '<auto>'}"
    return "<unknown type>"


def _hpa_targets(hpa: JSONObject) -> str:
    """``formatHPAMetrics``: the first two metrics, then ``+ N more...``."""
    specs, statuses = _hpa_metrics(hpa)
    shown = [
        _hpa_metric(spec, statuses[index] if index < len(statuses) else None)
        for index, spec in enumerate(specs)
    ]
    if len(shown) > 2:
        return f"{', '.join(shown[:2])} + {len(shown) - 2} more..."
    return ", ".join(shown)


def _print_hpa(hpa: JSONObject, now: datetime) -> Row:
    spec = _mapping(hpa.get("spec"))
    reference = _mapping(spec.get("scaleTargetRef"))
    min_replicas = spec.get("minReplicas")
    if min_replicas is None:
        min_replicas = 1  # defaulted to 1 by every HPA version
    return Row(
        cells=(
            _name(hpa),
            f"{_text(reference.get('kind'))}/{_text(reference.get('name'))}",
            _hpa_targets(hpa),
            str(min_replicas) if isinstance(min_replicas, int) else "<unset>",
            _number(spec.get("maxReplicas")),
            _number(_dig(hpa, "status", "currentReplicas")),
            _age(hpa, now),
        )
    )


# --- the registry and the default table ----------------------------------------------------

_EVENT_PRINTER: Final = Printer(_EVENT_COLUMNS, _print_core_event)

PRINTERS: Final[Mapping[str, Printer]] = MappingProxyType(
    {
        "pods": Printer(_POD_COLUMNS, _print_pod),
        "nodes": Printer(_NODE_COLUMNS, _print_node),
        "namespaces": Printer(_NAMESPACE_COLUMNS, _print_namespace),
        "services": Printer(_SERVICE_COLUMNS, _print_service),
        "configmaps": Printer(_CONFIGMAP_COLUMNS, _print_configmap),
        "events": _EVENT_PRINTER,
        "events.events.k8s.io": Printer(_EVENT_COLUMNS, _print_events_k8s_io_event),
        "deployments": Printer(_DEPLOYMENT_COLUMNS, _print_deployment),
        "replicasets": Printer(_REPLICASET_COLUMNS, _print_replicaset),
        "statefulsets": Printer(_STATEFULSET_COLUMNS, _print_statefulset),
        "daemonsets": Printer(_DAEMONSET_COLUMNS, _print_daemonset),
        "jobs": Printer(_JOB_COLUMNS, _print_job),
        "poddisruptionbudgets": Printer(_PDB_COLUMNS, _print_pdb),
        "horizontalpodautoscalers": Printer(_HPA_COLUMNS, _print_hpa),
        "leases": Printer(_LEASE_COLUMNS, _print_lease),
    }
)
"""The resources with server-side printers, keyed by plural resource name."""

_GROUP_QUALIFIED: Final = MappingProxyType(
    {
        "deployments.apps": "deployments",
        "replicasets.apps": "replicasets",
        "statefulsets.apps": "statefulsets",
        "daemonsets.apps": "daemonsets",
        "jobs.batch": "jobs",
        "poddisruptionbudgets.policy": "poddisruptionbudgets",
        "horizontalpodautoscalers.autoscaling": "horizontalpodautoscalers",
        "leases.coordination.k8s.io": "leases",
    }
)

_DEFAULT_COLUMNS: Final = (
    _NAME,
    Column("Created At", "date", _AGE_DOC),
)


def _created_at(obj: JSONObject, _now: datetime) -> Row:
    """The default table's row: the name and the creation time in RFC 3339, UTC."""
    created = _timestamp(_dig(obj, "metadata", "creationTimestamp")) or _GO_ZERO_TIME
    return Row(cells=(_name(obj), created.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")))


_DEFAULT_PRINTER: Final = Printer(_DEFAULT_COLUMNS, _created_at)


def _printer_for(resource: str) -> Printer:
    return PRINTERS.get(_GROUP_QUALIFIED.get(resource, resource), _DEFAULT_PRINTER)


def _row_object(obj: JSONObject, include: IncludeObject) -> dict[str, Any] | None:
    """What ``rows[].object`` carries: what kubectl reads for -A, -L and --show-labels."""
    if include is IncludeObject.NONE:
        return None
    if include is IncludeObject.OBJECT:
        return copy.deepcopy(dict(obj))
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": copy.deepcopy(dict(_mapping(obj.get("metadata")))),
    }


def _include_mode(include_object: str) -> IncludeObject:
    try:
        return IncludeObject(include_object or IncludeObject.METADATA)
    except ValueError:
        raise TableOptionsError(f"unrecognized includeObject value: {include_object!r}") from None


def to_table(
    resource: str,
    objects: Sequence[Mapping[str, Any]],
    *,
    now: datetime,
    include_object: str = "Metadata",
    resource_version: str = "",
    continue_token: str = "",
    remaining_item_count: int | None = None,
    no_headers: bool = False,
) -> dict[str, Any]:
    """Render ``objects`` as the complete ``meta.k8s.io/v1`` Table body the server returns.

    ``resource`` is the plural resource name ("pods", "events.events.k8s.io", ...); one
    without a printer gets the server's default Name / Created At table. ``now`` is the
    clock for every age column and should be timezone-aware (a naive one is taken as UTC).
    ``include_object`` is the ``includeObject`` query parameter: "Metadata" (or "") puts a
    PartialObjectMetadata in each row, "Object" the whole object, "None" a null object.
    ``no_headers`` leaves the column definitions out, as the server does for every watch
    event after the first. Any other ``include_object`` raises TableOptionsError.
    """
    include = _include_mode(include_object)
    clock = now if now.tzinfo is not None else now.replace(tzinfo=UTC)
    printer = _printer_for(resource)
    rows: list[dict[str, Any]] = []
    for obj in objects:
        row = printer.print_row(obj, clock)
        rendered: dict[str, Any] = {"cells": list(row.cells)}
        if row.conditions:
            rendered["conditions"] = [condition.as_json() for condition in row.conditions]
        rendered["object"] = _row_object(obj, include)
        rows.append(rendered)
    metadata: dict[str, Any] = {}
    if resource_version:
        metadata["resourceVersion"] = resource_version
    if continue_token:
        metadata["continue"] = continue_token
    if remaining_item_count is not None:
        metadata["remainingItemCount"] = remaining_item_count
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": [] if no_headers else [c.as_json() for c in printer.columns],
        "rows": rows,
    }
