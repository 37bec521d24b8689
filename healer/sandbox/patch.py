"""The three PATCH formats of the Kubernetes API server, applied to plain JSON values.

The sandbox stores objects as JSON-like dicts, and kubectl, controllers and the official
client change them with PATCH requests in one of three formats:

* ``application/merge-patch+json``: RFC 7386, :func:`json_merge_patch`;
* ``application/json-patch+json``: RFC 6902, :func:`json_patch`;
* ``application/strategic-merge-patch+json``: Kubernetes' own format,
  :func:`strategic_merge_patch`. It is a merge patch that knows, from the ``patchStrategy``
  and ``patchMergeKey`` tags of the Go API types, which lists merge element by element
  (containers by ``name``, ports by ``containerPort``...) and which are replaced whole.
  Those tags are encoded below as :class:`StructPatchMeta` trees, one per kind, so a list
  is looked up by its path (a Service's ``spec.ports`` merge by ``port``, a container's
  ``ports`` by ``containerPort``) rather than by a global table of names.

The strategic merge follows apimachinery's ``strategicpatch.StrategicMergeMapPatch`` as
the API server calls it (parallel lists merged, unmatched nulls ignored), including its
directives ``$patch``, ``$retainKeys``, ``$setElementOrder/<field>`` and
``$deleteFromPrimitiveList/<field>`` and its ordering rules. One deliberate difference:
where the server would keep a directive key in a value it copies from the patch (and only
lose it when the result is decoded into a Go struct), the value is cleaned here, so a
result never holds a directive.

Every function is pure: inputs are never mutated and results share nothing with them.
Failures raise :class:`PatchError`; its ``code`` is the HTTP status the real API server
answers with, which the sandbox's HTTP layer (``healer.sandbox.api``) turns into a Status.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

__all__ = [
    "STRATEGIC_MERGE_KINDS",
    "FieldPatchMeta",
    "PatchError",
    "StructPatchMeta",
    "json_merge_patch",
    "json_patch",
    "strategic_merge_patch",
]


class PatchError(ValueError):
    """A patch that cannot be applied; the message is user-facing.

    ``code`` is the HTTP status the real API server answers with: 400 for a patch
    document that is malformed as such, 422 for one that does not apply to the object,
    and 500 for the strategic-merge failures the server does not classify (it reports
    those as an ``InternalError``-like status with reason ``Unknown``).
    """

    def __init__(self, message: str, *, code: int = 422) -> None:
        super().__init__(message)
        self.message = message
        self.code = code

    @property
    def malformed(self) -> bool:
        """Whether the server answers 400 Bad Request (rather than 422 or 500)."""
        return self.code == 400


# --------------------------------------------------------------------------------------
# RFC 7386 JSON merge patch
# --------------------------------------------------------------------------------------


def json_merge_patch(target: Any, patch: Any) -> Any:
    """Apply an RFC 7386 merge patch: objects merge recursively, ``null`` removes a member.

    A patch that is not an object replaces the target whole. (The API server refuses a
    patch document that is not an object before it gets here; that check belongs to the
    HTTP layer.)
    """
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    base = copy.deepcopy(target) if isinstance(target, dict) else {}
    return _merge_into(base, patch)


def _merge_into(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """Merge ``patch`` into ``base``, which the caller owns and which is changed in place."""
    for name, value in patch.items():
        if value is None:
            base.pop(name, None)
        elif isinstance(value, dict):
            current = base.get(name)
            base[name] = _merge_into(current if isinstance(current, dict) else {}, value)
        else:
            base[name] = copy.deepcopy(value)
    return base


# --------------------------------------------------------------------------------------
# RFC 6902 JSON patch
# --------------------------------------------------------------------------------------

_ARRAY_INDEX: Final = re.compile(r"0|[1-9][0-9]*")
_POINTER_ESCAPE: Final = re.compile(r"~(?![01])")


def json_patch(target: Any, operations: Any) -> Any:
    """Apply an RFC 6902 JSON patch: all operations or none.

    Supports ``add``, ``remove``, ``replace``, ``move``, ``copy`` and ``test`` with RFC
    6901 pointers (``~0`` for ``~``, ``~1`` for ``/``, ``-`` for the end of an array).
    ``operations`` must be a list of operation objects (``None``, like the server's
    decoder reading ``null``, is an empty patch).
    """
    if operations is None:
        return copy.deepcopy(target)
    if not isinstance(operations, list):
        raise PatchError(
            f"json: cannot unmarshal {_json_type_name(operations)} into Go value of type "
            "jsonpatch.Patch", code=400)
    document = copy.deepcopy(target)
    for operation in operations:
        if not isinstance(operation, dict):
            raise PatchError(
                f"json: cannot unmarshal {_json_type_name(operation)} into Go value of type "
                "jsonpatch.Operation", code=400)
        document = _apply_operation(document, operation)
    return document


class _MissingPathError(Exception):
    """A JSON pointer that does not resolve in the document."""


def _apply_operation(document: Any, operation: dict[str, Any]) -> Any:
    kind = operation.get("op")
    if kind not in ("add", "remove", "replace", "move", "copy", "test"):
        shown = kind if isinstance(kind, str) else "unknown"
        raise PatchError(f"Unexpected kind: {shown}")
    path = _pointer(operation, "path", kind)
    try:
        if kind == "add":
            return _add(document, path, _operation_value(operation, kind))
        if kind == "remove":
            return _remove(document, path)
        if kind == "replace":
            return _replace(document, path, _operation_value(operation, kind))
        if kind == "test":
            _test(document, path, operation)
            return document
        source = _pointer(operation, "from", kind)
        if kind == "copy":
            return _add(document, path, copy.deepcopy(_resolve(document, source)))
        if source != path and path[: len(source)] == source:
            raise PatchError(f"move operation does not apply: {_show(source)} is a proper "
                             f"prefix of the destination {_show(path)}")
        value = _resolve(document, source)
        return _add(_remove(document, source), path, value)
    except _MissingPathError as missing:
        raise PatchError(f"{kind} operation does not apply: doc is missing path: "
                         f"{missing}: missing value") from None


def _pointer(operation: dict[str, Any], member: str, kind: str) -> list[str]:
    text = operation.get(member)
    if not isinstance(text, str):
        raise PatchError(f"{kind} operation failed to decode {member}: missing {member} field")
    if text == "":
        return []
    if not text.startswith("/") or _POINTER_ESCAPE.search(text):
        raise PatchError(f"{kind} operation failed to decode {member}: "
                         f"{text!r} is not a JSON pointer")
    return [step.replace("~1", "/").replace("~0", "~") for step in text[1:].split("/")]


def _show(steps: list[str]) -> str:
    return "".join("/" + step.replace("~", "~0").replace("/", "~1") for step in steps)


def _operation_value(operation: dict[str, Any], kind: str) -> Any:
    if "value" not in operation:
        raise PatchError(f"{kind} operation has no value field")
    return copy.deepcopy(operation["value"])


def _resolve(document: Any, steps: list[str]) -> Any:
    node = document
    for depth, step in enumerate(steps):
        if isinstance(node, dict) and step in node:
            node = node[step]
        elif isinstance(node, list) and _ARRAY_INDEX.fullmatch(step) and int(step) < len(node):
            node = node[int(step)]
        else:
            raise _MissingPathError(_show(steps[: depth + 1]))
    return node


def _parent(document: Any, steps: list[str]) -> Any:
    parent = _resolve(document, steps[:-1])
    if not isinstance(parent, dict | list):
        raise _MissingPathError(_show(steps))
    return parent


def _index(container: list[Any], step: str, steps: list[str], *, insert: bool) -> int:
    if insert and step == "-":
        return len(container)
    limit = len(container) + 1 if insert else len(container)
    if not _ARRAY_INDEX.fullmatch(step) or int(step) >= limit:
        raise PatchError(f"Unable to access invalid index: {step} (path {_show(steps)})")
    return int(step)


def _add(document: Any, steps: list[str], value: Any) -> Any:
    if not steps:
        return value
    parent = _parent(document, steps)
    if isinstance(parent, dict):
        parent[steps[-1]] = value
    else:
        parent.insert(_index(parent, steps[-1], steps, insert=True), value)
    return document


def _remove(document: Any, steps: list[str]) -> Any:
    if not steps:
        raise PatchError("remove operation does not apply: cannot remove the whole document")
    parent = _parent(document, steps)
    if isinstance(parent, dict):
        if steps[-1] not in parent:
            raise _MissingPathError(_show(steps))
        del parent[steps[-1]]
    else:
        del parent[_index(parent, steps[-1], steps, insert=False)]
    return document


def _replace(document: Any, steps: list[str], value: Any) -> Any:
    if not steps:
        return value
    parent = _parent(document, steps)
    if isinstance(parent, dict):
        if steps[-1] not in parent:
            raise _MissingPathError(_show(steps))
        parent[steps[-1]] = value
    else:
        parent[_index(parent, steps[-1], steps, insert=False)] = value
    return document


def _test(document: Any, steps: list[str], operation: dict[str, Any]) -> None:
    expected = _operation_value(operation, "test")
    if not _json_equal(_resolve(document, steps), expected):
        raise PatchError(f"testing value {_show(steps)} failed: test failed")


def _json_equal(left: Any, right: Any) -> bool:
    """JSON equality: numbers by value, but a boolean is never a number."""
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    if isinstance(left, int | float) and isinstance(right, int | float):
        return left == right
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(_json_equal(v, right[k])
                                                   for k, v in left.items())
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(_json_equal, left, right))
    return type(left) is type(right) and bool(left == right)


def _json_type_name(value: Any) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "bool"
    return "number"


# --------------------------------------------------------------------------------------
# Strategic merge patch: the patch metadata of the built-in types
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldPatchMeta:
    """How a strategic merge patch combines one field's live and patch values.

    Mirrors a Go field's ``patchStrategy``/``patchMergeKey`` tags. ``merge`` marks a list
    merged rather than replaced: by ``merge_key`` for lists of objects, as a set for lists
    of primitives (``metadata.finalizers``). ``schema`` describes the nested struct: the
    field's own for an object field, its elements' for a list.
    """

    merge: bool = False
    merge_key: str = ""
    schema: StructPatchMeta | None = None


@dataclass(frozen=True)
class StructPatchMeta:
    """The patch metadata of one Go struct: its fields that need more than the defaults.

    A field not listed merges like an RFC 7386 object if it holds an object and is
    replaced whole if it holds a list or a scalar, exactly as an untagged Go field does.
    """

    name: str
    fields: Mapping[str, FieldPatchMeta]

    def for_field(self, name: str) -> FieldPatchMeta:
        """The metadata of field ``name``; an untagged field's when it is not listed."""
        return self.fields.get(name, _UNTAGGED)


_UNTAGGED: Final = FieldPatchMeta()
_ANY_STRUCT: Final = StructPatchMeta("object", MappingProxyType({}))


def _struct(name: str, **fields: FieldPatchMeta) -> StructPatchMeta:
    return StructPatchMeta(name, MappingProxyType(fields))


def _merged_by(key: str, element: StructPatchMeta | None = None) -> FieldPatchMeta:
    """A list of objects merged element by element, matched on ``key``."""
    return FieldPatchMeta(merge=True, merge_key=key, schema=element)


def _nested(schema: StructPatchMeta) -> FieldPatchMeta:
    return FieldPatchMeta(schema=schema)


_MERGED_SET: Final = FieldPatchMeta(merge=True)
_CONDITIONS: Final = _merged_by("type")

# k8s.io/apimachinery/pkg/apis/meta/v1 ObjectMeta
_OBJECT_META: Final = _struct("ObjectMeta", ownerReferences=_merged_by("uid"),
                              finalizers=_MERGED_SET)
# k8s.io/api/core/v1 Container; EphemeralContainerCommon carries the same tags.
_CONTAINER: Final = _struct(
    "Container",
    ports=_merged_by("containerPort"),
    env=_merged_by("name"),
    volumeMounts=_merged_by("mountPath"),
    volumeDevices=_merged_by("devicePath"),
)
_POD_SPEC: Final = _struct(
    "PodSpec",
    volumes=_merged_by("name"),  # patchStrategy "merge,retainKeys"
    initContainers=_merged_by("name", _CONTAINER),
    containers=_merged_by("name", _CONTAINER),
    ephemeralContainers=_merged_by("name", _CONTAINER),
    imagePullSecrets=_merged_by("name"),
    hostAliases=_merged_by("ip"),
    topologySpreadConstraints=_merged_by("topologyKey"),
    schedulingGates=_merged_by("name"),
    resourceClaims=_merged_by("name"),  # patchStrategy "merge,retainKeys"
)
_POD_STATUS: Final = _struct(
    "PodStatus",
    conditions=_CONDITIONS,
    podIPs=_merged_by("ip"),
    hostIPs=_merged_by("ip"),
    resourceClaimStatuses=_merged_by("name"),  # patchStrategy "merge,retainKeys"
)
_POD_TEMPLATE_SPEC: Final = _struct("PodTemplateSpec", metadata=_nested(_OBJECT_META),
                                    spec=_nested(_POD_SPEC))
_STATUS_WITH_CONDITIONS: Final = _struct("Status", conditions=_CONDITIONS)


def _object(kind: str, spec: StructPatchMeta | None = None,
            status: StructPatchMeta | None = None) -> StructPatchMeta:
    fields = {"metadata": _nested(_OBJECT_META)}
    if spec is not None:
        fields["spec"] = _nested(spec)
    if status is not None:
        fields["status"] = _nested(status)
    return StructPatchMeta(kind, MappingProxyType(fields))


def _workload(kind: str) -> StructPatchMeta:
    return _object(kind, _struct(f"{kind}Spec", template=_nested(_POD_TEMPLATE_SPEC)),
                   _STATUS_WITH_CONDITIONS)


_JOB_SPEC: Final = _struct("JobSpec", template=_nested(_POD_TEMPLATE_SPEC))
_SCHEMAS_BY_KIND: Final[Mapping[str, StructPatchMeta]] = MappingProxyType({
    "Pod": _object("Pod", _POD_SPEC, _POD_STATUS),
    "PodTemplate": StructPatchMeta("PodTemplate", MappingProxyType({
        "metadata": _nested(_OBJECT_META), "template": _nested(_POD_TEMPLATE_SPEC)})),
    "Deployment": _workload("Deployment"),
    "ReplicaSet": _workload("ReplicaSet"),
    "StatefulSet": _workload("StatefulSet"),
    "DaemonSet": _workload("DaemonSet"),
    "ReplicationController": _workload("ReplicationController"),
    "Job": _object("Job", _JOB_SPEC, _STATUS_WITH_CONDITIONS),
    "CronJob": _object("CronJob", _struct("CronJobSpec", jobTemplate=_nested(_struct(
        "JobTemplateSpec", metadata=_nested(_OBJECT_META), spec=_nested(_JOB_SPEC))))),
    "Node": _object("Node", _struct("NodeSpec", podCIDRs=_MERGED_SET),
                    _struct("NodeStatus", conditions=_CONDITIONS,
                            addresses=_merged_by("type"))),
    "Service": _object("Service", _struct("ServiceSpec", ports=_merged_by("port")),
                       _STATUS_WITH_CONDITIONS),
    "Namespace": _object("Namespace", status=_STATUS_WITH_CONDITIONS),
    "PersistentVolumeClaim": _object("PersistentVolumeClaim",
                                     status=_STATUS_WITH_CONDITIONS),
    "PodDisruptionBudget": _object("PodDisruptionBudget", status=_STATUS_WITH_CONDITIONS),
    "HorizontalPodAutoscaler": _object("HorizontalPodAutoscaler",
                                       status=_STATUS_WITH_CONDITIONS),
    "ConfigMap": _object("ConfigMap"),
    "Secret": _object("Secret"),
    "ServiceAccount": _object("ServiceAccount"),
    "Event": _object("Event"),
    "Lease": _object("Lease"),
    "Endpoints": _object("Endpoints"),
})

_ANY_OBJECT: Final = _object("object")

#: The kinds whose patch metadata is encoded here. The API server refuses strategic merge
#: patches for custom resources (415 Unsupported Media Type); the HTTP layer may use this
#: set to do the same.
STRATEGIC_MERGE_KINDS: Final[frozenset[str]] = frozenset(_SCHEMAS_BY_KIND)


# --------------------------------------------------------------------------------------
# Strategic merge patch: the algorithm
# --------------------------------------------------------------------------------------

_DIRECTIVE: Final = "$patch"
_RETAIN_KEYS: Final = "$retainKeys"
_DELETE_FROM_PRIMITIVE_LIST: Final = "$deleteFromPrimitiveList"
_SET_ELEMENT_ORDER: Final = "$setElementOrder"

_BAD_PRIMITIVE_LIST: Final = "invalid patch format of primitive list"
_BAD_RETAIN_KEYS: Final = "invalid patch format of retainKeys"
_BAD_ELEMENT_ORDER: Final = "invalid patch format of setElementOrder list"


def strategic_merge_patch(target: dict[str, Any], patch: dict[str, Any], *,
                          kind: str | None = None) -> dict[str, Any]:
    """Apply a strategic merge patch to an object of a built-in kind.

    ``kind`` defaults to the target's ``kind``; a kind without encoded metadata is
    patched with the ``metadata`` rules only (every other list is replaced).
    """
    if not isinstance(patch, dict):
        raise PatchError(f"json: cannot unmarshal {_json_type_name(patch)} into Go value of "
                         "type map[string]interface {}", code=400)
    name = kind if kind is not None else target.get("kind")
    schema = _SCHEMAS_BY_KIND.get(name, None) if isinstance(name, str) else None
    return _merge_map(copy.deepcopy(target), patch, schema or _ANY_OBJECT)


class _Removed:
    """Marks a value the server drops: an object carrying a ``$patch`` directive."""


_REMOVED: Final = _Removed()


def _is_directive_key(name: str) -> bool:
    return name in (_DIRECTIVE, _RETAIN_KEYS) or name.startswith(
        (_SET_ELEMENT_ORDER, _DELETE_FROM_PRIMITIVE_LIST))


def _clean(value: Any) -> Any:
    """A copy of a patch value taken as is: without nulls in objects nor directives.

    An object carrying ``$patch`` becomes :data:`_REMOVED`, as in apimachinery's
    ``removeDirectives``; nulls go as in its ``discardNullValuesFromPatch``.
    """
    if isinstance(value, dict):
        if _DIRECTIVE in value:
            return _REMOVED
        cleaned: dict[str, Any] = {}
        for name, item in value.items():
            if item is None or _is_directive_key(name):
                continue
            kept = _clean(item)
            if kept is not _REMOVED:
                cleaned[name] = kept
        return cleaned
    if isinstance(value, list):
        return [kept for kept in map(_clean, value) if kept is not _REMOVED]
    return value


def _set_from_patch(target: dict[str, Any], name: str, value: Any) -> None:
    cleaned = _clean(value)
    if cleaned is _REMOVED:
        target.pop(name, None)
    else:
        target[name] = cleaned


def _merge_map(original: dict[str, Any], patch: dict[str, Any],
               schema: StructPatchMeta) -> dict[str, Any]:
    """Merge ``patch`` into ``original``, which the caller owns (it is changed in place)."""
    if _DIRECTIVE in patch:
        return _map_directive(patch)
    pending = dict(patch)
    _retain_keys(original, pending)
    _set_element_orders(original, pending, schema)
    for key, value in pending.items():
        name, deleting = key, False
        if key.startswith(_DELETE_FROM_PRIMITIVE_LIST):
            name, deleting = _directive_target(key, _DELETE_FROM_PRIMITIVE_LIST,
                                               _BAD_PRIMITIVE_LIST), True
        if value is None:
            original.pop(name, None)
            continue
        if name not in original or _shape(original[name]) != _shape(value):
            if not deleting:
                _set_from_patch(original, name, value)
            continue
        current, meta = original[name], schema.for_field(name)
        if isinstance(current, dict):
            original[name] = _merge_map(current, value, meta.schema or _ANY_STRUCT)
        elif isinstance(current, list):
            original[name] = _merge_list_field(current, value, meta, name, deleting=deleting)
        else:
            _set_from_patch(original, name, value)
    return original


def _shape(value: Any) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "list"
    return "scalar"


def _map_directive(patch: dict[str, Any]) -> dict[str, Any]:
    directive = patch[_DIRECTIVE]
    if directive == "replace":
        replacement = _clean({k: v for k, v in patch.items() if k != _DIRECTIVE})
        assert isinstance(replacement, dict)
        return replacement
    if directive == "delete":
        return {}
    raise PatchError(f"unknown patch type: {_go_text(directive)} in map: {_go_text(patch)}",
                     code=500)


def _directive_target(key: str, prefix: str, malformed: str) -> str:
    head, slash, rest = key.partition("/")
    if not slash or head != prefix:
        raise PatchError(malformed, code=400)
    return rest


def _retain_keys(original: dict[str, Any], pending: dict[str, Any]) -> None:
    """``$retainKeys``: clear the live fields it does not list (``retainKeys`` strategy)."""
    if _RETAIN_KEYS not in pending:
        return
    retained = pending.pop(_RETAIN_KEYS)
    if not isinstance(retained, list):
        raise PatchError(_BAD_RETAIN_KEYS, code=400)
    allowed = {item for item in retained if isinstance(item, str)}
    for name, value in pending.items():
        if value is None or name.startswith((_DELETE_FROM_PRIMITIVE_LIST, _SET_ELEMENT_ORDER)):
            continue
        if name not in allowed:
            raise PatchError(_BAD_RETAIN_KEYS, code=400)
    for name in [name for name in original if name not in allowed]:
        del original[name]


def _set_element_orders(original: dict[str, Any], pending: dict[str, Any],
                        schema: StructPatchMeta) -> None:
    """``$setElementOrder/<list>``: merge that list now and order it as the directive says.

    The precedence is the directive's order, then the patch's, then the live list's.
    """
    for key in [key for key in pending if key.startswith(_SET_ELEMENT_ORDER)]:
        order = pending.pop(key)
        if not isinstance(order, list):
            raise _bad_arg_type(order)
        name = _directive_target(key, _SET_ELEMENT_ORDER, _BAD_ELEMENT_ORDER)
        in_original, in_patch = name in original, name in pending
        live = original.get(name) if in_original else []
        patch_list = pending.get(name) if in_patch else []
        if not isinstance(live, list):
            raise _bad_arg_type(live)
        if not isinstance(patch_list, list):
            raise _bad_arg_type(patch_list)
        meta = schema.for_field(name)
        _check_order(patch_list, order, meta.merge_key)
        if not in_original and not in_patch:
            continue
        if not in_patch:
            merged = live
        elif not in_original:
            merged = _clean(patch_list)
        else:
            merged = _merge_list_field(live, patch_list, meta, name, deleting=False)
        pending.pop(name, None)
        kind = _element_kind(live, patch_list)
        if kind is None or (kind == "object" and not meta.merge_key):
            original[name] = merged  # nothing to order (the server cannot order these)
            continue
        in_order, server_only = _partition(merged, order, meta.merge_key)
        original[name] = _ordered(in_order, server_only, order, live, meta.merge_key)


def _check_order(patch_list: list[Any], order: list[Any], key: str) -> None:
    """The patch list's elements must appear in the ``$setElementOrder`` list, in order."""
    if not patch_list or not order:
        return
    items = [item for item in patch_list if not _is_delete_element(item)] if key else patch_list
    position = index = 0
    while position < len(items) and index < len(order):
        if _has_directive(items[position]):
            position += 1
            continue
        if _same_merge_key(items[position], order[index], key):
            position += 1
        index += 1
    if position < len(items) and index >= len(order):
        raise PatchError(f"the order in patch list:\n{_go_text(patch_list)}\n doesn't match "
                         f"{_SET_ELEMENT_ORDER} list:\n{_go_text(order)}", code=500)


def _is_delete_element(item: Any) -> bool:
    if not isinstance(item, dict):
        raise _bad_arg_type(item)
    return item.get(_DIRECTIVE) == "delete"


def _has_directive(item: Any) -> bool:
    return isinstance(item, dict) and _DIRECTIVE in item


def _same_merge_key(left: Any, right: Any, key: str) -> bool:
    if not key:
        return _same_value(left, right)
    for item in (left, right):
        if not isinstance(item, dict):
            raise _bad_arg_type(item)
        if key not in item:
            raise _no_merge_key(item, key)
    return _same_value(left[key], right[key])


def _merge_list_field(live: list[Any], patch_list: list[Any], meta: FieldPatchMeta,
                      name: str, *, deleting: bool) -> list[Any]:
    """Combine a live list with a patch list: merged if the field says so, else replaced."""
    if not (meta.merge or deleting):
        cleaned = _clean(patch_list)
        assert isinstance(cleaned, list)
        return cleaned
    if not live and not patch_list:
        return live
    kind = _element_kind(live, patch_list)
    if kind != "object":
        if deleting:
            return [item for item in live
                    if not any(_same_value(item, gone) for gone in patch_list)]
        merged = _unique([*live, *copy.deepcopy(patch_list)])
        in_patch, server_only = _partition(merged, patch_list, "")
        return _ordered(in_patch, server_only, patch_list, live, "")
    if not meta.merge_key:
        raise PatchError(f"cannot merge lists without merge key for {name}", code=500)
    key = meta.merge_key
    live, patch_list = _list_directives(live, patch_list, key)
    merged = _merge_elements(live, patch_list, key, meta.schema or _ANY_STRUCT)
    in_patch, server_only = _partition(merged, patch_list, key)
    return _ordered(in_patch, server_only, patch_list, live, key)


def _list_directives(live: list[Any], patch_list: list[Any],
                     key: str) -> tuple[list[Any], list[Any]]:
    """Apply the ``$patch`` elements of a merging list; return the live list and the rest.

    ``{"$patch": "delete", <key>: v}`` removes the live elements whose key is ``v``;
    ``{"$patch": "replace"}`` makes the rest of the patch list the whole new list.
    """
    rest: list[Any] = []
    replace = False
    for element in patch_list:
        if _DIRECTIVE not in element:
            rest.append(element)
            continue
        directive = element[_DIRECTIVE]
        if directive == "delete":
            if key not in element:
                raise _no_merge_key(element, key)
            live = [item for item in live if not _key_matches(item, key, element[key])]
        elif directive == "replace":
            replace = True
        elif directive == "merge":
            raise PatchError("merging lists cannot yet be specified in the patch", code=500)
        else:
            raise PatchError(f"unknown patch type: {_go_text(directive)} in map: "
                             f"{_go_text(element)}", code=500)
    if replace:
        cleaned = _clean(rest)
        assert isinstance(cleaned, list)
        return cleaned, []
    return live, rest


def _key_matches(item: Any, key: str, value: Any) -> bool:
    if not isinstance(item, dict):
        raise PatchError("value for key is not a map", code=500)
    return key in item and _same_value(item[key], value)


def _merge_elements(live: list[Any], patch_list: list[Any], key: str,
                    schema: StructPatchMeta) -> list[Any]:
    merged = list(live)
    for element in patch_list:
        if key not in element:
            raise _no_merge_key(element, key)
        match = next((index for index, item in enumerate(merged)
                      if _key_matches(item, key, element[key])), None)
        if match is None:
            merged.append(_clean(element))
        else:
            merged[match] = _merge_map(merged[match], element, schema)
    return merged


def _partition(items: list[Any], reference: list[Any], key: str) -> tuple[list[Any], list[Any]]:
    """Split ``items`` into those present in ``reference`` and the others (server-only)."""
    present: list[Any] = []
    absent: list[Any] = []
    for item in items:
        if key:
            if not isinstance(item, dict):
                raise _bad_arg_type(item)
            if key not in item:
                raise _no_merge_key(item, key)
            found = any(_key_matches(other, key, item[key]) for other in reference)
        else:
            found = any(_same_value(item, other) for other in reference)
        (present if found else absent).append(item)
    return present, absent


def _ordered(from_patch: list[Any], server_only: list[Any], patch_order: list[Any],
             server_order: list[Any], key: str) -> list[Any]:
    """apimachinery's ``normalizeElementOrder``: interleave patch items and server items.

    Patch items keep the patch's order and server-only items the live order; a server
    item goes before a patch item only when both are in the live list and it came first,
    so items new to the list come before the live ones that follow them.
    """
    if key:
        for item in [*from_patch, *patch_order, *server_only, *server_order]:
            if not isinstance(item, dict):
                raise _bad_arg_type(item)
            if key not in item:
                raise _no_merge_key(item, key)
    patch_sorted = _sorted_by(from_patch, patch_order, key)
    server_sorted = _sorted_by(server_only, server_order, key)
    result: list[Any] = []
    left = right = 0
    while left < len(server_sorted) and right < len(patch_sorted):
        server_at = _position(server_order, server_sorted[left], key)
        patch_at = _position(server_order, patch_sorted[right], key)
        if server_at >= 0 and patch_at >= 0 and server_at < patch_at:
            result.append(server_sorted[left])
            left += 1
        else:
            result.append(patch_sorted[right])
            right += 1
    return result + server_sorted[left:] + patch_sorted[right:]


def _sorted_by(items: list[Any], order: list[Any], key: str) -> list[Any]:
    def rank(item: Any) -> int:
        position = _position(order, item, key)
        return position if position >= 0 else len(order)

    return sorted(items, key=rank)


def _position(items: list[Any], wanted: Any, key: str) -> int:
    probe = wanted.get(key) if key else wanted
    for index, item in enumerate(items):
        candidate = item.get(key) if key and isinstance(item, dict) else item
        if _same_value(candidate, probe):
            return index
    return -1


def _element_kind(*lists: list[Any]) -> str | None:
    """The one JSON type of the elements of ``lists`` (None when they are all empty)."""
    kind: str | None = None
    for items in lists:
        for item in items:
            current = _value_kind(item)
            if kind is None:
                if current == "list":
                    raise PatchError("lists of lists are not supported", code=422)
                kind = current
            elif current != kind:
                raise PatchError(f"list element types are not identical: {_go_text(list(lists))}",
                                 code=500)
    return kind


def _value_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "list"
    if value is None:
        return "null"
    return type(value).__name__


def _same_value(left: Any, right: Any) -> bool:
    """Go's interface equality on decoded JSON: equal values of the same type."""
    return type(left) is type(right) and bool(left == right)


def _unique(items: Iterable[Any]) -> list[Any]:
    unique: list[Any] = []
    for item in items:
        if not any(_same_value(item, seen) for seen in unique):
            unique.append(item)
    return unique


def _no_merge_key(item: Any, key: str) -> PatchError:
    return PatchError(f"map: {_go_text(item)} does not contain declared merge key: {key}",
                      code=500)


def _bad_arg_type(value: Any) -> PatchError:
    return PatchError(f"expected a []interface {{}}, but received a {_go_type(value)}",
                      code=500)


def _go_type(value: Any) -> str:
    if isinstance(value, dict):
        return "map[string]interface {}"
    if isinstance(value, list):
        return "[]interface {}"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int64"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    return "<nil>"


def _go_text(value: Any) -> str:
    """``fmt``'s ``%v`` of a decoded JSON value, as the server's messages print it."""
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{_go_text(value[k])}" for k in sorted(value)) + "]"
    if isinstance(value, list):
        return "[" + " ".join(_go_text(item) for item in value) + "]"
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return str(value)
