"""The sandbox's PATCH formats, as the Kubernetes API server applies them.

Covers:
- RFC 7386 JSON merge patch: the RFC's examples; nulls; the diff of two documents,
  applied as a merge patch, reproduces the second (property).
- RFC 6902 JSON patch: the RFC's appendix examples, JSON pointer escaping, the ``-``
  index, all-or-nothing application, and which failures are malformed documents.
- Strategic merge patch on the built-in kinds: kubectl-shaped patches (rollout restart,
  cordon, set image, apply's ``$setElementOrder``), merge keys chosen by the list's path
  (container ports by ``containerPort``, Service ports by ``port``), conditions, env,
  finalizers, ownerReferences, lists that are replaced (tolerations, node taints), the
  directives ``$patch``, ``$retainKeys``, ``$deleteFromPrimitiveList`` and
  ``$setElementOrder``, the server's element ordering, and its errors.
- None of the three functions mutates its inputs (property), and a strategic merge
  patch without lists or directives behaves like a JSON merge patch (property).
"""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from healer.sandbox.patch import (
    STRATEGIC_MERGE_KINDS,
    PatchError,
    json_merge_patch,
    json_patch,
    strategic_merge_patch,
)

# --------------------------------------------------------------------------------------
# Strategies
# --------------------------------------------------------------------------------------

_scalars = st.none() | st.booleans() | st.integers(-5, 5) | st.text("abc", max_size=3)
_keys = st.text("abcd", min_size=1, max_size=2)
_json = st.recursive(
    _scalars,
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(_keys, children, max_size=3),
    max_leaves=12,
)
_json_without_null = st.recursive(
    st.booleans() | st.integers(-5, 5) | st.text("abc", max_size=3),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(_keys, children, max_size=3),
    max_leaves=12,
)
_objects = st.dictionaries(_keys, _json, max_size=4)


def _merge_diff(source: Any, target: Any) -> Any:
    """The RFC 7386 patch that turns ``source`` into ``target``."""
    if not isinstance(source, dict) or not isinstance(target, dict):
        return target
    patch: dict[str, Any] = {name: None for name in source if name not in target}
    for name, value in target.items():
        if name not in source:
            patch[name] = value
        elif source[name] != value or type(source[name]) is not type(value):
            patch[name] = _merge_diff(source[name], value)
    return patch


# --------------------------------------------------------------------------------------
# RFC 7386
# --------------------------------------------------------------------------------------

# RFC 7386, Appendix A.
_RFC7386_EXAMPLES = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize(("target", "patch", "expected"), _RFC7386_EXAMPLES)
def test_merge_patch_follows_the_rfc_examples(target: Any, patch: Any, expected: Any) -> None:
    """Every example of RFC 7386 Appendix A gives the RFC's result."""
    assert json_merge_patch(target, patch) == expected


def test_merge_patch_rfc_section_3_example() -> None:
    """The RFC's worked example: replace, remove a nested member, replace an array."""
    target = {
        "title": "Goodbye!",
        "author": {"givenName": "John", "familyName": "Doe"},
        "tags": ["example", "sample"],
        "content": "This will be unchanged",
    }
    patch = {
        "title": "Hello!",
        "phoneNumber": "+01-123-456-7890",
        "author": {"familyName": None},
        "tags": ["example"],
    }
    assert json_merge_patch(target, patch) == {
        "title": "Hello!",
        "author": {"givenName": "John"},
        "tags": ["example"],
        "content": "This will be unchanged",
        "phoneNumber": "+01-123-456-7890",
    }


def test_merge_patch_result_shares_nothing_with_the_patch() -> None:
    """Changing the result later does not change the patch document it came from."""
    patch = {"spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}}}}
    result = json_merge_patch({}, patch)
    result["spec"]["selector"]["matchLabels"]["app"] = "changed"
    assert patch["spec"]["selector"]["matchLabels"]["app"] == "web"


@given(_objects, st.dictionaries(_keys, _json_without_null, max_size=4))
def test_merge_patch_of_a_diff_reproduces_the_target(source: dict[str, Any],
                                                     target: dict[str, Any]) -> None:
    """Applying the merge diff of two null-free documents turns the first into the second."""
    assert json_merge_patch(source, _merge_diff(source, target)) == target


# --------------------------------------------------------------------------------------
# RFC 6902
# --------------------------------------------------------------------------------------

# RFC 6902, Appendix A (A.13, a document with a duplicate member, cannot be a dict).
_RFC6902_EXAMPLES = [
    ({"foo": "bar"}, [{"op": "add", "path": "/baz", "value": "qux"}],
     {"baz": "qux", "foo": "bar"}),
    ({"foo": ["bar", "baz"]}, [{"op": "add", "path": "/foo/1", "value": "qux"}],
     {"foo": ["bar", "qux", "baz"]}),
    ({"baz": "qux", "foo": "bar"}, [{"op": "remove", "path": "/baz"}], {"foo": "bar"}),
    ({"foo": ["bar", "qux", "baz"]}, [{"op": "remove", "path": "/foo/1"}],
     {"foo": ["bar", "baz"]}),
    ({"baz": "qux", "foo": "bar"}, [{"op": "replace", "path": "/baz", "value": "boo"}],
     {"baz": "boo", "foo": "bar"}),
    ({"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}},
     [{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}],
     {"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}}),
    ({"foo": ["all", "grass", "cows", "eat"]},
     [{"op": "move", "from": "/foo/1", "path": "/foo/3"}],
     {"foo": ["all", "cows", "eat", "grass"]}),
    ({"baz": "qux", "foo": ["a", 2, "c"]},
     [{"op": "test", "path": "/baz", "value": "qux"},
      {"op": "test", "path": "/foo/1", "value": 2}],
     {"baz": "qux", "foo": ["a", 2, "c"]}),
    ({"foo": "bar"}, [{"op": "add", "path": "/child", "value": {"grandchild": {}}}],
     {"foo": "bar", "child": {"grandchild": {}}}),
    ({"foo": "bar"}, [{"op": "add", "path": "/baz", "value": "qux", "xyz": 123}],
     {"foo": "bar", "baz": "qux"}),
    ({"/": 9, "~1": 10}, [{"op": "test", "path": "/~01", "value": 10}], {"/": 9, "~1": 10}),
    ({"foo": ["bar"]}, [{"op": "add", "path": "/foo/-", "value": ["abc", "def"]}],
     {"foo": ["bar", ["abc", "def"]]}),
]


@pytest.mark.parametrize(("target", "operations", "expected"), _RFC6902_EXAMPLES)
def test_json_patch_follows_the_rfc_examples(target: Any, operations: list[Any],
                                             expected: Any) -> None:
    """Every successful example of RFC 6902 Appendix A gives the RFC's result."""
    assert json_patch(target, operations) == expected


@pytest.mark.parametrize(("target", "operations"), [
    ({"baz": "qux"}, [{"op": "test", "path": "/baz", "value": "bar"}]),  # A.9
    ({"foo": "bar"}, [{"op": "add", "path": "/baz/bat", "value": "qux"}]),  # A.12
    ({"/": 9, "~1": 10}, [{"op": "test", "path": "/~01", "value": "10"}]),  # A.15
])
def test_json_patch_refuses_the_rfc_error_examples(target: Any,
                                                   operations: list[Any]) -> None:
    """The RFC's error examples fail with a 422, not a malformed-document 400."""
    with pytest.raises(PatchError) as raised:
        json_patch(target, operations)
    assert raised.value.code == 422
    assert not raised.value.malformed


def test_json_patch_pointer_escapes_slash_and_tilde() -> None:
    """``~1`` addresses a ``/`` in a member name and ``~0`` a ``~`` (annotation keys)."""
    pod = {"metadata": {"annotations": {"example.com/a~b": "1"}}}
    result = json_patch(pod, [
        {"op": "replace", "path": "/metadata/annotations/example.com~1a~0b", "value": "2"},
        {"op": "add", "path": "/metadata/annotations/kubectl.kubernetes.io~1restartedAt",
         "value": "now"},
    ])
    assert result == {"metadata": {"annotations": {"example.com/a~b": "2",
                                                   "kubectl.kubernetes.io/restartedAt": "now"}}}


def test_json_patch_copy_duplicates_a_value() -> None:
    """``copy`` puts an independent copy of the source at the path."""
    result = json_patch({"a": {"x": [1]}}, [{"op": "copy", "from": "/a", "path": "/b"},
                                            {"op": "add", "path": "/b/x/-", "value": 2}])
    assert result == {"a": {"x": [1]}, "b": {"x": [1, 2]}}


def test_json_patch_is_all_or_nothing() -> None:
    """A failing operation after successful ones leaves the target as it was."""
    target = {"spec": {"replicas": 1}}
    with pytest.raises(PatchError, match="testing value /spec/replicas failed"):
        json_patch(target, [{"op": "replace", "path": "/spec/replicas", "value": 5},
                            {"op": "test", "path": "/spec/replicas", "value": 1}])
    assert target == {"spec": {"replicas": 1}}


@pytest.mark.parametrize("operation", [
    {"op": "replace", "path": "/missing", "value": 1},
    {"op": "remove", "path": "/list/2"},
    {"op": "add", "path": "/list/3", "value": 1},
    {"op": "add", "path": "/list/01", "value": 1},
    {"op": "replace", "path": "/list/-", "value": 1},
    {"op": "move", "from": "/obj", "path": "/obj/inner"},
    {"op": "test", "path": "/list/0", "value": True},
    {"op": "add", "path": "no-leading-slash", "value": 1},
    {"op": "add", "path": "/x"},
    {"op": "frobnicate", "path": "/x"},
    {"path": "/x"},
])
def test_json_patch_refuses_operations_that_do_not_apply(operation: dict[str, Any]) -> None:
    """Missing targets, bad indices, a move into itself, a bad op or value: 422."""
    with pytest.raises(PatchError) as raised:
        json_patch({"list": [1, 2], "obj": {"inner": {}}}, [operation])
    assert raised.value.code == 422


def test_json_patch_test_does_not_confuse_booleans_and_numbers() -> None:
    """``test`` of ``1`` against ``true`` fails even though Python has ``True == 1``."""
    with pytest.raises(PatchError):
        json_patch({"a": True}, [{"op": "test", "path": "/a", "value": 1}])
    assert json_patch({"a": 1}, [{"op": "test", "path": "/a", "value": 1.0}]) == {"a": 1}


@pytest.mark.parametrize("operations", [{"op": "add"}, "add", [["add"]], [1]])
def test_json_patch_document_that_is_not_a_list_of_objects_is_malformed(
        operations: Any) -> None:
    """A patch document that is not a list of operation objects is a 400."""
    with pytest.raises(PatchError) as raised:
        json_patch({}, operations)
    assert raised.value.malformed


def test_json_patch_root_path_replaces_the_whole_document() -> None:
    """An empty pointer addresses the whole document (RFC 6901)."""
    assert json_patch({"a": 1}, [{"op": "replace", "path": "", "value": {"b": 2}}]) == {"b": 2}


# --------------------------------------------------------------------------------------
# Strategic merge patch: fixtures
# --------------------------------------------------------------------------------------


def _deployment() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop", "finalizers": ["a", "b"],
                     "ownerReferences": [{"uid": "u1", "name": "x"},
                                         {"uid": "u2", "name": "y"}]},
        "spec": {
            "replicas": 2,
            "strategy": {"type": "RollingUpdate",
                         "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {
                "metadata": {"labels": {"app": "web"},
                             "annotations": {"team": "shop"}},
                "spec": {
                    "nodeSelector": {"disk": "ssd", "zone": "a"},
                    "tolerations": [{"key": "a", "operator": "Exists"}],
                    "containers": [
                        {"name": "app", "image": "shop:1",
                         "env": [{"name": "MODE", "value": "prod"},
                                 {"name": "DEBUG", "value": "0"}],
                         "ports": [{"containerPort": 8080, "name": "http"}]},
                        {"name": "sidecar", "image": "proxy:1"},
                    ],
                },
            },
        },
        "status": {"conditions": [
            {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
            {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"},
        ]},
    }


def _pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = obj["spec"]["template"]["spec"]
    return spec


def _names(items: list[dict[str, Any]]) -> list[str]:
    return [item["name"] for item in items]


# --------------------------------------------------------------------------------------
# Strategic merge patch: what kubectl and controllers send
# --------------------------------------------------------------------------------------


def test_rollout_restart_adds_the_restarted_at_annotation() -> None:
    """``kubectl rollout restart``'s patch adds one template annotation, keeping the rest."""
    patch = {"spec": {"template": {"metadata": {"annotations": {
        "kubectl.kubernetes.io/restartedAt": "2025-01-01T00:00:00Z"}}}}}
    result = strategic_merge_patch(_deployment(), patch)
    assert result["spec"]["template"]["metadata"]["annotations"] == {
        "team": "shop", "kubectl.kubernetes.io/restartedAt": "2025-01-01T00:00:00Z"}
    assert _pod_spec(result) == _pod_spec(_deployment())


def test_cordon_sets_unschedulable_on_a_node() -> None:
    """``kubectl cordon``'s patch sets ``spec.unschedulable`` and keeps the taints."""
    node = {"kind": "Node", "metadata": {"name": "n1"},
            "spec": {"podCIDR": "10.0.0.0/24",
                     "taints": [{"key": "k", "effect": "NoSchedule"}]}}
    result = strategic_merge_patch(node, {"spec": {"unschedulable": True}})
    assert result["spec"] == {"podCIDR": "10.0.0.0/24", "unschedulable": True,
                              "taints": [{"key": "k", "effect": "NoSchedule"}]}


def test_uncordon_removes_unschedulable_with_null() -> None:
    """``kubectl uncordon``'s ``{"spec":{"unschedulable":null}}`` removes the field."""
    node = {"kind": "Node", "metadata": {"name": "n1"}, "spec": {"unschedulable": True}}
    assert strategic_merge_patch(node, {"spec": {"unschedulable": None}})["spec"] == {}


def test_set_image_changes_one_container_by_name() -> None:
    """``kubectl set image``: the named container's image changes, nothing else does."""
    patch = {"spec": {"template": {"spec": {"containers": [
        {"name": "sidecar", "image": "proxy:2"}]}}}}
    containers = _pod_spec(strategic_merge_patch(_deployment(), patch))["containers"]
    assert containers == [
        _pod_spec(_deployment())["containers"][0],
        {"name": "sidecar", "image": "proxy:2"},
    ]


def test_patch_delete_directive_removes_a_container() -> None:
    """``{"$patch": "delete", "name": ...}`` in a list removes that element."""
    patch = {"spec": {"template": {"spec": {"containers": [
        {"$patch": "delete", "name": "sidecar"}]}}}}
    containers = _pod_spec(strategic_merge_patch(_deployment(), patch))["containers"]
    assert _names(containers) == ["app"]


def test_env_merges_by_name() -> None:
    """An env patch updates a variable by name and adds a new one; others stay."""
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "app", "env": [
        {"name": "DEBUG", "value": "1"}, {"name": "NEW", "value": "x"}]}]}}}}
    env = _pod_spec(strategic_merge_patch(_deployment(), patch))["containers"][0]["env"]
    assert sorted(env, key=lambda item: item["name"]) == [
        {"name": "DEBUG", "value": "1"}, {"name": "MODE", "value": "prod"},
        {"name": "NEW", "value": "x"}]


def test_env_value_from_replaces_value_when_value_is_nulled() -> None:
    """A null inside a merged element deletes that field of the live element."""
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "app", "env": [
        {"name": "MODE", "value": None,
         "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]}]}}}}
    env = _pod_spec(strategic_merge_patch(_deployment(), patch))["containers"][0]["env"]
    assert {"name": "MODE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}} in env


def test_container_ports_merge_by_container_port() -> None:
    """A container's ports merge by ``containerPort``: a new port is added, one updated."""
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "app", "ports": [
        {"containerPort": 8080, "protocol": "TCP"}, {"containerPort": 9090}]}]}}}}
    ports = _pod_spec(strategic_merge_patch(_deployment(), patch))["containers"][0]["ports"]
    assert sorted(ports, key=lambda port: port["containerPort"]) == [
        {"containerPort": 8080, "name": "http", "protocol": "TCP"}, {"containerPort": 9090}]


def test_service_ports_merge_by_port_not_container_port() -> None:
    """A Service's ``spec.ports`` merge by ``port``: the list's path decides the key."""
    service = {"kind": "Service", "metadata": {"name": "web"},
               "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8080},
                                  {"name": "metrics", "port": 9100}]}}
    result = strategic_merge_patch(service, {"spec": {"ports": [
        {"port": 80, "targetPort": 9090}]}})
    assert result["spec"]["ports"] == [{"name": "http", "port": 80, "targetPort": 9090},
                                       {"name": "metrics", "port": 9100}]


def test_pod_status_conditions_merge_by_type() -> None:
    """The kubelet's status patch updates one condition by ``type`` and adds another."""
    pod = {"kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": []},
           "status": {"phase": "Pending", "conditions": [
               {"type": "PodScheduled", "status": "True"},
               {"type": "Ready", "status": "False", "reason": "ContainersNotReady"}]}}
    patch = {"status": {
        "$setElementOrder/conditions": [{"type": "PodScheduled"}, {"type": "Initialized"},
                                        {"type": "Ready"}],
        "conditions": [{"type": "Initialized", "status": "True"},
                       {"type": "Ready", "status": "True", "reason": None}],
        "phase": "Running"}}
    result = strategic_merge_patch(pod, patch)
    assert result["status"] == {"phase": "Running", "conditions": [
        {"type": "PodScheduled", "status": "True"},
        {"type": "Initialized", "status": "True"},
        {"type": "Ready", "status": "True"}]}


def test_deployment_and_node_conditions_merge_by_type() -> None:
    """Conditions merge by ``type`` on workloads and nodes alike."""
    deployment = strategic_merge_patch(_deployment(), {"status": {"conditions": [
        {"type": "Available", "status": "False"}]}})
    assert deployment["status"]["conditions"][0] == {
        "type": "Available", "status": "False", "reason": "MinimumReplicasAvailable"}
    assert len(deployment["status"]["conditions"]) == 2
    node = {"kind": "Node", "metadata": {"name": "n1"}, "status": {
        "conditions": [{"type": "Ready", "status": "True"},
                       {"type": "DiskPressure", "status": "False"}],
        "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}]}}
    result = strategic_merge_patch(node, {"status": {
        "conditions": [{"type": "Ready", "status": "Unknown"}],
        "addresses": [{"type": "Hostname", "address": "n1"}]}})
    assert result["status"]["conditions"] == [{"type": "Ready", "status": "Unknown"},
                                              {"type": "DiskPressure", "status": "False"}]
    assert {"type": "InternalIP", "address": "10.0.0.1"} in result["status"]["addresses"]


def test_lists_without_a_merge_strategy_are_replaced() -> None:
    """Tolerations (and a node's taints) have no patch strategy: the patch list wins."""
    patch = {"spec": {"template": {"spec": {"tolerations": [
        {"key": "b", "operator": "Exists"}]}}}}
    assert _pod_spec(strategic_merge_patch(_deployment(), patch))["tolerations"] == [
        {"key": "b", "operator": "Exists"}]
    node = {"kind": "Node", "metadata": {"name": "n"},
            "spec": {"taints": [{"key": "a", "effect": "NoSchedule"}]}}
    result = strategic_merge_patch(node, {"spec": {"taints": [
        {"key": "b", "effect": "NoExecute"}]}})
    assert result["spec"]["taints"] == [{"key": "b", "effect": "NoExecute"}]


def test_finalizers_merge_as_a_set_and_delete_from_primitive_list() -> None:
    """``finalizers`` merge without duplicates; ``$deleteFromPrimitiveList`` removes."""
    added = strategic_merge_patch(_deployment(), {"metadata": {"finalizers": ["b", "c"]}})
    assert sorted(added["metadata"]["finalizers"]) == ["a", "b", "c"]
    removed = strategic_merge_patch(_deployment(), {"metadata": {
        "$deleteFromPrimitiveList/finalizers": ["a"]}})
    assert removed["metadata"]["finalizers"] == ["b"]


def test_owner_reference_is_deleted_by_uid() -> None:
    """The garbage collector's ``$patch: delete`` removes an ownerReference by ``uid``."""
    result = strategic_merge_patch(_deployment(), {"metadata": {
        "ownerReferences": [{"$patch": "delete", "uid": "u1"}], "uid": "d-uid"}})
    assert result["metadata"]["ownerReferences"] == [{"uid": "u2", "name": "y"}]
    assert result["metadata"]["uid"] == "d-uid"


def test_set_element_order_puts_the_list_in_the_given_order() -> None:
    """``$setElementOrder`` orders the merged list; it never appears in the result."""
    patch = {"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "sidecar"}, {"name": "new"},
                                        {"name": "app"}],
        "containers": [{"name": "new", "image": "new:1"}]}}}}
    spec = _pod_spec(strategic_merge_patch(_deployment(), patch))
    assert _names(spec["containers"]) == ["sidecar", "new", "app"]
    assert not any(name.startswith("$") for name in spec)


def test_new_list_element_goes_before_live_ones_like_the_api_server() -> None:
    """Without ``$setElementOrder`` an added container comes before the live ones.

    apimachinery's ``mergeSortedSlice`` only lets a live item go first when both it and
    the patch item are in the live list and it came first there.
    """
    patch = {"spec": {"template": {"spec": {"containers": [
        {"name": "new", "image": "new:1"}]}}}}
    containers = _pod_spec(strategic_merge_patch(_deployment(), patch))["containers"]
    assert _names(containers) == ["new", "app", "sidecar"]


def test_patch_order_is_kept_and_server_only_items_keep_their_place() -> None:
    """The example of the "preserve order in strategic merge patch" design proposal."""
    pod = {"kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [
        {"name": "b", "image": "1"}, {"name": "c", "image": "1"}, {"name": "a", "image": "1"}]}}
    patch = {"spec": {"containers": [{"name": "a", "image": "2"}, {"name": "b", "image": "2"},
                                     {"name": "d", "image": "2"}]}}
    assert strategic_merge_patch(pod, patch)["spec"]["containers"] == [
        {"name": "c", "image": "1"}, {"name": "a", "image": "2"},
        {"name": "b", "image": "2"}, {"name": "d", "image": "2"}]


def test_retain_keys_clears_fields_it_does_not_list() -> None:
    """kubectl apply switching to Recreate sends ``$retainKeys``: rollingUpdate goes."""
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}
    result = strategic_merge_patch(_deployment(), patch)
    assert result["spec"]["strategy"] == {"type": "Recreate"}


def test_retain_keys_must_list_every_patched_field() -> None:
    """A patched field missing from ``$retainKeys`` makes the patch malformed (400)."""
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate",
                                   "rollingUpdate": {"maxSurge": 2}}}}
    with pytest.raises(PatchError) as raised:
        strategic_merge_patch(_deployment(), patch)
    assert raised.value.malformed


def test_replace_directive_in_a_map_replaces_it_whole() -> None:
    """``$patch: replace`` in a map makes it exactly the patch's map."""
    patch = {"spec": {"template": {"spec": {"nodeSelector": {
        "$patch": "replace", "gpu": "true"}}}}}
    assert _pod_spec(strategic_merge_patch(_deployment(), patch))["nodeSelector"] == {
        "gpu": "true"}


def test_replace_directive_in_a_list_replaces_the_list() -> None:
    """A ``{"$patch": "replace"}`` element makes the other elements the whole list."""
    patch = {"spec": {"template": {"spec": {"containers": [
        {"$patch": "replace"}, {"name": "only", "image": "only:1"}]}}}}
    assert _pod_spec(strategic_merge_patch(_deployment(), patch))["containers"] == [
        {"name": "only", "image": "only:1"}]


def test_delete_directive_in_a_map_empties_it() -> None:
    """``$patch: delete`` in a map leaves an empty map."""
    patch = {"spec": {"template": {"spec": {"nodeSelector": {"$patch": "delete"}}}}}
    assert _pod_spec(strategic_merge_patch(_deployment(), patch))["nodeSelector"] == {}


def test_null_deletes_a_key_and_a_null_for_a_missing_key_adds_nothing() -> None:
    """``null`` removes a live field; a null for an absent field is ignored."""
    patch = {"spec": {"template": {"spec": {"nodeSelector": {"zone": None, "rack": None}}}}}
    assert _pod_spec(strategic_merge_patch(_deployment(), patch))["nodeSelector"] == {
        "disk": "ssd"}


def test_values_taken_from_the_patch_keep_no_directives_or_nulls() -> None:
    """A new field copied from the patch carries no ``$`` key, null, or ``$patch`` map."""
    patch = {"spec": {"template": {"spec": {"affinity": {
        "nodeAffinity": {"$retainKeys": ["x"], "preferred": None},
        "podAffinity": {"$patch": "replace"},
        "podAntiAffinity": {"$setElementOrder/terms": [], "terms": [{"a": 1}]}}}}}}
    affinity = _pod_spec(strategic_merge_patch(_deployment(), patch))["affinity"]
    assert affinity == {"nodeAffinity": {}, "podAntiAffinity": {"terms": [{"a": 1}]}}


def test_unknown_kind_merges_only_metadata_lists() -> None:
    """For a kind without metadata, finalizers still merge and other lists are replaced."""
    custom = {"kind": "Widget", "metadata": {"name": "w", "finalizers": ["a"]},
              "spec": {"items": [{"name": "x"}]}}
    result = strategic_merge_patch(custom, {"metadata": {"finalizers": ["b"]},
                                            "spec": {"items": [{"name": "y"}]}})
    assert sorted(result["metadata"]["finalizers"]) == ["a", "b"]
    assert result["spec"]["items"] == [{"name": "y"}]
    assert "Widget" not in STRATEGIC_MERGE_KINDS
    assert {"Pod", "Deployment", "Node", "Service", "Lease"} <= STRATEGIC_MERGE_KINDS


def test_kind_argument_overrides_the_target_kind() -> None:
    """``kind=`` chooses the metadata, e.g. for a target that lacks ``kind``."""
    pod = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a", "image": "1"},
                                                              {"name": "b", "image": "1"}]}}
    patch = {"spec": {"containers": [{"name": "b", "image": "2"}]}}
    merged = strategic_merge_patch(pod, patch, kind="Pod")
    assert merged["spec"]["containers"] == [{"name": "a", "image": "1"},
                                            {"name": "b", "image": "2"}]
    assert strategic_merge_patch(pod, patch)["spec"]["containers"] == [
        {"name": "b", "image": "2"}]


# --------------------------------------------------------------------------------------
# Strategic merge patch: errors
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("patch", "message"), [
    ({"spec": {"template": {"spec": {"nodeSelector": {"$patch": "frobnicate"}}}}},
     "unknown patch type: frobnicate in map: map[$patch:frobnicate]"),
    ({"spec": {"template": {"spec": {"nodeSelector": {"$patch": "merge"}}}}},
     "unknown patch type: merge in map"),
    ({"spec": {"template": {"spec": {"containers": [{"$patch": "frobnicate", "name": "a"}]}}}},
     "unknown patch type: frobnicate in map: map[$patch:frobnicate name:a]"),
    ({"spec": {"template": {"spec": {"containers": [{"$patch": "merge", "name": "a"}]}}}},
     "merging lists cannot yet be specified in the patch"),
    ({"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}},
     "map: map[image:x] does not contain declared merge key: name"),
    ({"spec": {"template": {"spec": {"containers": [{"$patch": "delete"}]}}}},
     "does not contain declared merge key: name"),
    ({"metadata": {"finalizers": [["nested"]]}}, "list element types are not identical"),
    ({"metadata": {"finalizers": [1]}}, "list element types are not identical"),
])
def test_patches_the_server_refuses_raise_patch_error(patch: dict[str, Any],
                                                      message: str) -> None:
    """Bad directives, missing merge keys and mixed lists fail with the server's message."""
    with pytest.raises(PatchError, match=re.escape(message)):
        strategic_merge_patch(_deployment(), patch)


def test_a_list_of_lists_cannot_merge() -> None:
    """A merging list whose elements are lists is refused with a 422, as by the server."""
    pod = {"kind": "Pod", "metadata": {"name": "p", "finalizers": []}}
    with pytest.raises(PatchError, match="lists of lists are not supported") as raised:
        strategic_merge_patch(pod, {"metadata": {"finalizers": [["a"]]}})
    assert raised.value.code == 422


@pytest.mark.parametrize("patch", [
    {"metadata": {"$deleteFromPrimitiveList": ["a"]}},
    {"metadata": {"$setElementOrderfinalizers": ["a"]}},
    {"spec": {"strategy": {"$retainKeys": "type"}}},
    ["not", "an", "object"],
])
def test_malformed_strategic_patches_are_bad_requests(patch: Any) -> None:
    """Malformed directive names or values, or a non-object patch, are 400s."""
    with pytest.raises(PatchError) as raised:
        strategic_merge_patch(_deployment(), patch)
    assert raised.value.malformed
    assert raised.value.code == 400


def test_set_element_order_must_agree_with_the_patch_list() -> None:
    """A patch list whose order contradicts ``$setElementOrder`` is refused."""
    patch = {"metadata": {"$setElementOrder/finalizers": ["x", "y"], "finalizers": ["y", "x"]}}
    with pytest.raises(PatchError, match="doesn't match"):
        strategic_merge_patch(_deployment(), patch)


# --------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------


@given(_json, _json)
def test_merge_and_json_patches_never_mutate_their_inputs(target: Any, patch: Any) -> None:
    """json_merge_patch and json_patch leave both arguments exactly as they were."""
    target_before, patch_before = copy.deepcopy(target), copy.deepcopy(patch)
    json_merge_patch(target, patch)
    operations = [{"op": "add", "path": "/a", "value": patch},
                  {"op": "test", "path": "/a", "value": patch}]
    try:
        json_patch(target, operations)
    except PatchError:
        assert not isinstance(target, dict)
    assert target == target_before
    assert patch == patch_before


_directive_keys = st.sampled_from(["$patch", "$retainKeys", "$setElementOrder/containers",
                                   "$deleteFromPrimitiveList/finalizers", "containers",
                                   "finalizers", "name", "image", "spec", "metadata"])
_smp_patches = st.recursive(
    _scalars | st.sampled_from(["replace", "delete", "merge"]),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(_directive_keys | _keys, children, max_size=4),
    max_leaves=15,
).filter(lambda value: isinstance(value, dict))


@given(_smp_patches)
def test_strategic_merge_patch_never_mutates_its_inputs(patch: dict[str, Any]) -> None:
    """Whatever the patch (even an invalid one), target and patch are left untouched."""
    target = _deployment()
    patch_before = copy.deepcopy(patch)
    try:
        result = strategic_merge_patch(target, patch)
    except PatchError:
        pass
    else:
        assert result is not target
    assert target == _deployment()
    assert patch == patch_before


_flat_patches = st.dictionaries(
    _keys, st.recursive(st.none() | st.text("ab", max_size=2),
                        lambda children: st.dictionaries(_keys, children, max_size=3),
                        max_leaves=8),
    max_size=4)


@given(st.dictionaries(_keys, st.dictionaries(_keys, st.text("ab", max_size=2), max_size=3),
                       max_size=3),
       _flat_patches)
def test_strategic_patch_without_lists_is_a_json_merge_patch(data: dict[str, Any],
                                                             patch: dict[str, Any]) -> None:
    """Maps without lists or directives merge exactly as RFC 7386 merges them."""
    config_map = {"kind": "ConfigMap", "metadata": {"name": "c"}, "data": data}
    wrapped = {"data": patch}
    assert strategic_merge_patch(config_map, wrapped) == json_merge_patch(config_map, wrapped)
