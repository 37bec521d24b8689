"""Label and field selectors as the Kubernetes API server parses and matches them.

Covers:
- ``?labelSelector=`` syntax: every operator, whitespace, ``in``/``notin`` used as
  names, empty values; how requirements match (absent keys, numeric ``gt``/``lt``).
- The canonical string form (requirements by key, set values sorted) and that parsing
  it gives the same selector back (property).
- Refusals with the server's messages: bad grammar, bad keys and values, non-integer
  ``gt``/``lt`` bounds; random text raises nothing but ``SelectorError`` (property).
- ``metav1.LabelSelector`` objects: nil matches nothing, ``{}`` everything, matchLabels
  and matchExpressions, invalid operators and values.
- ``?fieldSelector=``: ``=``, ``==``, ``!=``, backslash escapes, the field labels each
  resource accepts (pods, nodes, core and events.k8s.io events, namespaces, jobs,
  services, and the metadata-only defaults, which refuse a ReplicaSet's
  ``status.replicas`` like the real server), the server's refusal messages, and how
  values render (missing booleans ``false``, missing counts ``0``).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from healer.sandbox.selectors import (
    LabelSelector,
    Operator,
    Requirement,
    SelectorError,
    label_selector_from_object,
    parse_field_selector,
    parse_label_selector,
)

# --------------------------------------------------------------------------------------
# Label selector syntax and matching
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "labels", "expected"), [
    ("app=web", {"app": "web"}, True),
    ("app=web", {"app": "api"}, False),
    ("app==web", {"app": "web"}, True),
    ("app!=web", {"app": "api"}, True),
    ("app!=web", {}, True),
    ("app!=web", {"app": "web"}, False),
    ("tier in (web,api)", {"tier": "api"}, True),
    ("tier in (web,api)", {}, False),
    ("tier notin (web,api)", {"tier": "db"}, True),
    ("tier notin (web,api)", {}, True),
    ("tier notin (web,api)", {"tier": "web"}, False),
    ("canary", {"canary": ""}, True),
    ("canary", {}, False),
    ("!canary", {}, True),
    ("!canary", {"canary": "yes"}, False),
    ("gen>5", {"gen": "6"}, True),
    ("gen>5", {"gen": "5"}, False),
    ("gen>5", {"gen": "x"}, False),
    ("gen>5", {}, False),
    ("gen<5", {"gen": "-10"}, True),
    ("app=web,tier in (a,b),!canary", {"app": "web", "tier": "b"}, True),
    ("app=web,tier in (a,b),!canary", {"app": "web", "tier": "b", "canary": "1"}, False),
    ("app=", {"app": ""}, True),
    ("app in ()", {"app": ""}, True),
    ("", {"anything": "x"}, True),
])
def test_label_selector_matches_like_the_server(text: str, labels: dict[str, str],
                                                expected: bool) -> None:
    """Each operator matches (or not) the label sets the API server would."""
    assert parse_label_selector(text).matches(labels) is expected


def test_label_selector_parses_into_requirements() -> None:
    """Whitespace is free, sets become sorted unique values, requirements sort by key."""
    selector = parse_label_selector("  tier in ( web , api,web ) ,!canary, app==web ")
    assert selector.requirements == (
        Requirement("app", Operator.DOUBLE_EQUALS, ("web",)),
        Requirement("canary", Operator.DOES_NOT_EXIST),
        Requirement("tier", Operator.IN, ("api", "web")),
    )


def test_keywords_can_be_keys_and_values() -> None:
    """``in`` and ``notin`` are names where a key or a value is expected."""
    selector = parse_label_selector("in in (notin),notin=in")
    assert selector.matches({"in": "notin", "notin": "in"})
    assert str(selector) == "in in (notin),notin=in"


def test_empty_values_in_sets() -> None:
    """``(,a,)`` holds the empty value as well as ``a``."""
    selector = parse_label_selector("x in (,a,)")
    assert selector.requirements == (Requirement("x", Operator.IN, ("", "a")),)
    assert selector.matches({"x": ""})


@pytest.mark.parametrize(("text", "canonical"), [
    ("b=2,a=1", "a=1,b=2"),
    ("tier notin (web, api, db)", "tier notin (api,db,web)"),
    ("app==web", "app==web"),
    ("!x,  y", "!x,y"),
    ("g>1,l<2", "g>1,l<2"),
    ("example.com/role in (a)", "example.com/role in (a)"),
    ("a in ()", "a in ()"),
    ("", ""),
])
def test_label_selector_string_is_canonical(text: str, canonical: str) -> None:
    """``str()`` prints the form the API server prints (e.g. in a Scale's selector)."""
    assert str(parse_label_selector(text)) == canonical


_NAME_PART_ERROR = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start "
    "and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', "
    "regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")
_VALUE_ERROR = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' "
    "or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
    "'my_value',  or '12345', regex used for validation is "
    "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")


@pytest.mark.parametrize(("text", "message"), [
    ("app web", "unable to parse requirement: found 'web', expected: in, notin, =, ==, !=, "
                "gt, lt"),
    ("a=b c", "found 'c', expected: ',' or 'end of string'"),
    ("a,", "found '', expected: identifier after ','"),
    (",a", "found ',', expected: !, identifier, or 'end of string'"),
    ("!", "unable to parse requirement: found '', expected: identifier"),
    ("a in b", "unable to parse requirement: found 'b' expected: '('"),
    ("a in (b c)", "unable to parse requirement: found 'c', expected: ',' or ')'"),
    ("a in (,,)", "unable to parse requirement: found ')', expected: ',', or identifier"),
    ("a$=b", f'unable to parse requirement: <nil>: Invalid value: "a$": {_NAME_PART_ERROR}'),
    ("a=b$", f'unable to parse requirement: values[0][a]: Invalid value: "b$": {_VALUE_ERROR}'),
    ("a>x", "unable to parse requirement: values[0]: Invalid value: \"x\": for 'Gt', 'Lt' "
            "operators, the value must be an integer"),
    ("Example.com/a", "prefix part a lowercase RFC 1123 subdomain must consist of lower case"),
    ("a/b/c", "a qualified name must consist of alphanumeric characters"),
    ("x" * 64, "name part must be no more than 63 characters"),
])
def test_bad_label_selectors_are_refused_with_the_servers_message(text: str,
                                                                  message: str) -> None:
    """Grammar and validation errors carry the API server's wording."""
    with pytest.raises(SelectorError) as raised:
        parse_label_selector(text)
    assert message in str(raised.value)


# --------------------------------------------------------------------------------------
# metav1.LabelSelector
# --------------------------------------------------------------------------------------


def test_nil_selector_matches_nothing_and_empty_selector_everything() -> None:
    """``None`` selects no object; ``{}`` selects all (LabelSelectorAsSelector)."""
    nothing = label_selector_from_object(None)
    assert not nothing.matches({})
    assert not nothing.matches({"app": "web"})
    assert not nothing.empty
    assert nothing == LabelSelector.nothing()
    everything = label_selector_from_object({})
    assert everything.matches({})
    assert everything.empty
    assert everything == LabelSelector.everything()
    assert str(nothing) == str(everything) == ""


def test_selector_object_combines_match_labels_and_expressions() -> None:
    """matchLabels are ``key=value``; expressions map to in/notin/exists/!exists."""
    selector = label_selector_from_object({
        "matchLabels": {"tier": "web", "app": "shop"},
        "matchExpressions": [
            {"key": "env", "operator": "In", "values": ["prod", "canary"]},
            {"key": "track", "operator": "NotIn", "values": ["beta"]},
            {"key": "owner", "operator": "Exists"},
            {"key": "legacy", "operator": "DoesNotExist", "values": []},
        ],
    })
    assert str(selector) == ("app=shop,env in (canary,prod),!legacy,owner,tier=web,"
                             "track notin (beta)")
    labels = {"app": "shop", "tier": "web", "env": "prod", "owner": "me"}
    assert selector.matches(labels)
    assert not selector.matches(labels | {"legacy": "1"})
    assert not selector.matches(labels | {"track": "beta"})
    assert not selector.matches({k: v for k, v in labels.items() if k != "owner"})


@pytest.mark.parametrize(("selector", "message"), [
    ({"matchExpressions": [{"key": "a", "operator": "In"}]},
     "values: Invalid value: []string(nil): for 'in', 'notin' operators, values set "
     "can't be empty"),
    ({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]},
     'values: Invalid value: []string{"x"}: values set must be empty for exists and does '
     "not exist"),
    ({"matchExpressions": [{"key": "a", "operator": "Equals", "values": ["x"]}]},
     '"Equals" is not a valid label selector operator'),
    ({"matchLabels": {"a b": "c"}}, f'key: Invalid value: "a b": {_NAME_PART_ERROR}'),
    ({"matchLabels": {"a": "c d"}}, f'values[0][a]: Invalid value: "c d": {_VALUE_ERROR}'),
    ({"matchLabels": {"a": 1}}, "keys and values must be strings"),
])
def test_invalid_selector_objects_are_refused(selector: dict[str, Any], message: str) -> None:
    """Empty sets, values on Exists, unknown operators and bad keys are SelectorErrors."""
    with pytest.raises(SelectorError) as raised:
        label_selector_from_object(selector)
    assert message in str(raised.value)


def test_selector_that_is_not_an_object_is_refused() -> None:
    """A selector written as a string (a common YAML slip) is a SelectorError."""
    with pytest.raises(SelectorError, match="must be an object"):
        label_selector_from_object("app=web")  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------
# Label selector properties
# --------------------------------------------------------------------------------------

_name_part = st.from_regex(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,8}[A-Za-z0-9])?", fullmatch=True)
_label_key = st.builds(lambda prefix, name: f"{prefix}/{name}" if prefix else name,
                       st.sampled_from(["", "example.com", "a.b-c"]), _name_part)
_label_value = st.just("") | _name_part
# A set may hold the empty value, written first: "(,a)". (The server's grammar refuses
# some spellings of several empty values, such as "(,,)".)
_value_set = st.builds(lambda empty, values: [""] * empty + values, st.booleans(),
                       st.lists(_name_part, max_size=3)).filter(bool)
_requirement_text = st.one_of(
    st.builds("{}={}".format, _label_key, _label_value),
    st.builds("{}=={}".format, _label_key, _label_value),
    st.builds("{} != {}".format, _label_key, _label_value),
    st.builds(lambda key, values: f"{key} in ({','.join(values)})", _label_key, _value_set),
    st.builds(lambda key, values: f"{key} notin ({', '.join(values)})", _label_key,
              _value_set),
    _label_key,
    st.builds("!{}".format, _label_key),
    st.builds("{}>{}".format, _label_key, st.integers(0, 99)),
    st.builds("{}<{}".format, _label_key, st.integers(0, 99)),
)


@given(st.lists(_requirement_text, max_size=5))
def test_canonical_string_parses_back_to_the_same_selector(parts: list[str]) -> None:
    """``parse_label_selector(str(s)) == s`` for every parsed selector."""
    selector = parse_label_selector(",".join(parts))
    assert parse_label_selector(str(selector)) == selector
    assert len(selector.requirements) == len(parts)


@given(st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from("=!(),<> \t"),
               max_size=30))
def test_parsing_any_text_raises_only_selector_error(text: str) -> None:
    """Arbitrary input either parses or raises SelectorError, never anything else."""
    try:
        selector = parse_label_selector(text)
    except SelectorError:
        return
    assert parse_label_selector(str(selector)) == selector


# --------------------------------------------------------------------------------------
# Field selectors
# --------------------------------------------------------------------------------------


def _pod(**status: Any) -> dict[str, Any]:
    return {"kind": "Pod", "metadata": {"name": "web-1", "namespace": "shop"},
            "spec": {"nodeName": "node-a", "restartPolicy": "Always",
                     "schedulerName": "default-scheduler", "serviceAccountName": "default"},
            "status": {"phase": "Running", **status}}


@pytest.mark.parametrize(("text", "expected"), [
    ("spec.nodeName=node-a", True),
    ("spec.nodeName==node-a", True),
    ("spec.nodeName!=node-a", False),
    ("spec.host=node-a", True),
    ("spec.nodeName=node-b", False),
    ("metadata.name=web-1,metadata.namespace=shop", True),
    ("status.phase=Running,spec.restartPolicy=Always", True),
    ("spec.schedulerName=default-scheduler,spec.serviceAccountName=default", True),
    ("spec.hostNetwork=false", True),
    ("spec.hostNetwork=true", False),
    ("status.podIP=10.0.0.7", True),
    ("status.nominatedNodeName=", True),
    ("status.podIPs=", True),
    ("status.podIPs=10.0.0.7", False),
    ("", True),
])
def test_pod_field_selectors(text: str, expected: bool) -> None:
    """Pods select on their field labels; podIP is podIPs[0]; podIPs itself is always ''."""
    pod = _pod(podIPs=[{"ip": "10.0.0.7"}, {"ip": "fd00::7"}])
    assert parse_field_selector(text, "pods").matches(pod) is expected


def test_pod_ip_falls_back_to_the_singular_field() -> None:
    """A pod with only ``status.podIP`` set selects on it."""
    pod = _pod(podIP="10.0.0.9")
    assert parse_field_selector("status.podIP=10.0.0.9", "pods").matches(pod)


def test_host_network_renders_true_when_set() -> None:
    """``spec.hostNetwork: true`` renders as ``"true"``."""
    pod = _pod()
    pod["spec"]["hostNetwork"] = True
    assert parse_field_selector("spec.hostNetwork=true", "pods").matches(pod)


def test_node_unschedulable_defaults_to_false() -> None:
    """``kubectl get nodes --field-selector spec.unschedulable=false`` lists uncordoned nodes."""
    selector = parse_field_selector("spec.unschedulable=false", "nodes")
    assert selector.matches({"metadata": {"name": "n1"}, "spec": {}})
    assert not selector.matches({"metadata": {"name": "n1"}, "spec": {"unschedulable": True}})


def test_core_events_select_on_involved_object_and_source() -> None:
    """Core events: involvedObject.*, reason, type, and source falling back to reporter."""
    event = {"metadata": {"name": "e", "namespace": "shop"},
             "involvedObject": {"kind": "Pod", "name": "web-1", "namespace": "shop",
                                "uid": "u1"},
             "reason": "BackOff", "type": "Warning", "reportingComponent": "kubelet"}
    selector = parse_field_selector(
        "involvedObject.kind=Pod,involvedObject.name=web-1,involvedObject.uid=u1,"
        "reason=BackOff,type=Warning,source=kubelet,reportingComponent=kubelet", "events")
    assert selector.matches(event)
    assert not selector.matches(event | {"source": {"component": "scheduler"}})


def test_events_k8s_io_uses_its_own_field_labels() -> None:
    """events.k8s.io accepts ``regarding.*`` and ``reportingController``, not the core names.

    The event is stored in its core/v1 shape, as the server's internal object is.
    """
    event = {"metadata": {"name": "e", "namespace": "shop"},
             "involvedObject": {"kind": "Node", "name": "n1"},
             "reportingComponent": "healer", "reason": "Cordoned", "type": "Normal"}
    selector = parse_field_selector("regarding.kind=Node,reportingController=healer",
                                    "events", group="events.k8s.io")
    assert selector.matches(event)
    with pytest.raises(SelectorError, match=r"field label not supported: involvedObject\.kind"):
        parse_field_selector("involvedObject.kind=Node", "events", group="events.k8s.io")


@pytest.mark.parametrize(("resource", "text", "obj", "expected"), [
    ("namespaces", "status.phase=Active", {"metadata": {"name": "a"},
                                          "status": {"phase": "Active"}}, True),
    ("jobs", "status.successful=0", {"metadata": {"name": "j"}, "status": {}}, True),
    ("jobs", "status.successful=2", {"metadata": {"name": "j"},
                                     "status": {"succeeded": 2}}, True),
    ("services", "spec.type=NodePort,spec.clusterIP=10.96.0.9",
     {"metadata": {"name": "s"}, "spec": {"type": "NodePort", "clusterIP": "10.96.0.9"}}, True),
    ("deployments", "metadata.namespace=shop", {"metadata": {"name": "d",
                                                             "namespace": "shop"}}, True),
    ("persistentvolumes", "metadata.namespace=shop", {"metadata": {"name": "pv"}}, False),
    ("configmaps", "metadata.name!=kube-root-ca.crt", {"metadata": {"name": "x"}}, True),
])
def test_resource_field_labels(resource: str, text: str, obj: dict[str, Any],
                               expected: bool) -> None:
    """Each resource renders its own selectable fields; others only name and namespace."""
    assert parse_field_selector(text, resource).matches(obj) is expected


@pytest.mark.parametrize(("resource", "text", "message"), [
    ("pods", "spec.containers=x", "field label not supported: spec.containers"),
    ("nodes", "metadata.namespace=x", "field label not supported: metadata.namespace"),
    ("namespaces", "metadata.namespace=x", "field label not supported: metadata.namespace"),
    ("jobs", "status.active=1", 'field label "status.active" not supported for Job'),
    ("replicasets", "status.replicas=0",
     '"status.replicas" is not a known field selector: only "metadata.name", '
     '"metadata.namespace"'),
    ("deployments", "spec.replicas=1",
     '"spec.replicas" is not a known field selector: only "metadata.name", '
     '"metadata.namespace"'),
])
def test_unsupported_field_labels_are_refused_like_the_server(resource: str, text: str,
                                                              message: str) -> None:
    """Each resource refuses unknown labels with its conversion function's message."""
    with pytest.raises(SelectorError) as raised:
        parse_field_selector(text, resource)
    assert str(raised.value) == message


@pytest.mark.parametrize(("text", "message"), [
    ("spec.nodeName", "invalid selector: 'spec.nodeName'; can't understand 'spec.nodeName'"),
    ("spec.nodeName=a,b", "invalid selector: 'spec.nodeName=a,b'; can't understand 'b'"),
    ("spec.nodeName=a=b", "invalid field selector: unescaped character in value: 61"),
    ("spec.nodeName=a\\q", "invalid field selector: invalid escape sequence: \\q"),
    ("spec.nodeName=a\\", "invalid field selector: invalid escape sequence: \\"),
])
def test_malformed_field_selectors_are_refused(text: str, message: str) -> None:
    """Terms without an operator and bad escapes fail with the server's message."""
    with pytest.raises(SelectorError) as raised:
        parse_field_selector(text, "pods")
    assert str(raised.value) == message


def test_field_values_may_escape_commas_equals_and_backslashes() -> None:
    """``\\,``, ``\\=`` and ``\\\\`` stand for themselves; ``str()`` escapes them back."""
    selector = parse_field_selector(r"metadata.name=a\,b\=c\\d", "configmaps")
    assert selector.matches({"metadata": {"name": r"a,b=c\d"}})
    assert str(selector) == r"metadata.name=a\,b\=c\\d"
    assert parse_field_selector(str(selector), "configmaps") == selector


def test_field_selector_string_sorts_terms_and_uses_single_equals() -> None:
    """Terms are sorted as the server sorts them and ``==`` prints as ``=``."""
    selector = parse_field_selector("status.phase!=Failed,spec.host==n1", "pods")
    assert str(selector) == "spec.nodeName=n1,status.phase!=Failed"


@given(st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from("=!,\\"),
               max_size=30),
       st.sampled_from(["pods", "nodes", "events", "jobs", "deployments", "namespaces"]))
def test_parsing_any_field_selector_raises_only_selector_error(text: str,
                                                               resource: str) -> None:
    """Arbitrary input either parses or raises SelectorError, never anything else."""
    try:
        selector = parse_field_selector(text, resource)
    except SelectorError:
        return
    assert selector.matches({"metadata": {"name": "x"}}) in (True, False)
