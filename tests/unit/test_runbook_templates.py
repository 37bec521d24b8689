"""Target templates: parsing at load time, rendering, and refusing hostile names.

Covers:
- parse errors, with their exact messages and 0-based offsets: unclosed `{{`, stray `}}`,
  empty `{{ }}`, unknown variables with a did-you-mean, anything that looks like code
  (filters, indexing, calls, `{% %}`, `{# #}`), bad label names;
- what parses: spacing inside the braces, literal text, `variables()`, equality by source;
- rendering: substitution of labels, annotations, owner and value; a variable that is
  not set is refused, naming it;
- `render_name` refusals for hostile label values (paths, selectors, empty, upper case,
  too long, whitespace, unicode lookalikes), each with a reason naming the variable and
  the (truncated) value; the exact DNS-1123 label and subdomain limits;
- properties: for any label values `render_name` returns a valid name (checked here
  without the module's regex) or raises `RefusedName`, and never rewrites a value; any
  text either parses or raises `TemplateError` with an offset inside the text; templates
  assembled from parts render to the concatenation of their values.
"""

from __future__ import annotations

import string

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from healer.runbook.templates import (
    NameKind,
    RefusedName,
    Template,
    TemplateContext,
    TemplateError,
    name_problem,
    parse_template,
)

LABEL_RULE = ("a DNS-1123 label: at most 63 characters, lower case letters, digits and '-', "
              "starting and ending with a letter or digit")
SUBDOMAIN_RULE = ("a DNS-1123 subdomain: at most 253 characters, lower case letters, digits, "
                  "'-' and '.', each dot-separated part starting and ending with a letter or "
                  "digit")
VARIABLES_ARE = ("variables are labels.<name>, annotations.<name>, owner.kind, owner.name "
                 "and value")
NO_CODE = "templates have no filters, indexing, calls or expressions"


def is_valid_name(name: str, kind: NameKind) -> bool:
    """The DNS-1123 rules of k8s.io/apimachinery, written without the module's regex."""
    allowed = set(string.ascii_lowercase + string.digits + "-")
    alphanumeric = set(string.ascii_lowercase + string.digits)

    def is_label(part: str) -> bool:
        return (part != "" and set(part) <= allowed and part[0] in alphanumeric
                and part[-1] in alphanumeric)

    if kind is NameKind.DNS1123_LABEL:
        return len(name) <= 63 and is_label(name)
    return len(name) <= 253 and all(is_label(part) for part in name.split("."))


def pod(value: str) -> TemplateContext:
    return TemplateContext(labels={"pod": value})


# parse errors --------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "offset", "message"), [
    ("{{ labels.pod", 0, 'unclosed "{{": expected "}}" after the variable'),
    ("x-{{ labels.a {{ labels.b }}", 2, 'unclosed "{{": expected "}}" after the variable'),
    ("pod-}}", 4, 'stray "}}" without an opening "{{"'),
    ("{{ labels.a }}}}", 14, 'stray "}}" without an opening "{{"'),
    ("a-{{ }}", 2, 'empty "{{ }}": expected a variable like labels.pod'),
    ("{{}}", 0, 'empty "{{ }}": expected a variable like labels.pod'),
    ("{{ label.x }}", 3, f"unknown variable 'label.x' (did you mean 'labels.x'?): "
                         f"{VARIABLES_ARE}"),
    ("{{ annotation.summary }}", 3, f"unknown variable 'annotation.summary' (did you mean "
                                    f"'annotations.summary'?): {VARIABLES_ARE}"),
    ("{{ .Labels.pod }}", 3, f"unknown variable '.Labels.pod' (did you mean 'labels.pod'?): "
                             f"{VARIABLES_ARE}"),
    ("{{ $labels.pod }}", 3, f"unknown variable '$labels.pod' (did you mean 'labels.pod'?): "
                             f"{VARIABLES_ARE}"),
    ("{{ pod }}", 3, f"unknown variable 'pod' (did you mean 'labels.pod'?): {VARIABLES_ARE}"),
    ("{{ owner.nmae }}", 3, "unknown variable 'owner.nmae' (did you mean 'owner.name'?): "
                            "owner has only owner.kind and owner.name"),
    ("{{ owner }}", 3, "unknown variable 'owner': owner has only owner.kind and owner.name"),
    ("{{ value.x }}", 3, "unknown variable 'value.x' (did you mean 'value'?): value has no "
                         "fields"),
    ("{{ labels }}", 3, "labels needs a name: labels.<name>, e.g. labels.pod"),
    ("{{ labels.1x }}", 10, "'1x' is not a Prometheus label name (letters, digits and '_', "
                            "not starting with a digit)"),
    ("{{ labels.a.b }}", 10, "'a.b' is not a Prometheus label name (letters, digits and '_', "
                             "not starting with a digit)"),
    ("{{ labels.x | upper }}", 12, f"\"{{{{ }}}}\" holds one variable and nothing else, found "
                                   f"'| upper': {NO_CODE}"),
    ('{{ labels["x"] }}', 9, f"\"{{{{ }}}}\" holds one variable and nothing else, found "
                             f"'[\"x\"]': {NO_CODE}"),
    ("{{ lower(labels.x) }}", 8, f"\"{{{{ }}}}\" holds one variable and nothing else, found "
                                 f"'(labels.x)': {NO_CODE}"),
    ("{{ labels.x + 'a' }}", 12, f"\"{{{{ }}}}\" holds one variable and nothing else, found "
                                 f"\"+ 'a'\": {NO_CODE}"),
    ("{% for x in labels %}", 0, '"{%" blocks are not supported: templates only substitute '
                                 'variables, like "{{ labels.pod }}"'),
    ("{% if x %}}}", 0, '"{%" blocks are not supported: templates only substitute '
                        'variables, like "{{ labels.pod }}"'),
    ("a{# note #}", 1, '"{#" comments are not supported: templates only substitute '
                       'variables, like "{{ labels.pod }}"'),
])
def test_parse_error_message_and_offset(text: str, offset: int, message: str) -> None:
    """Each malformed template is refused at load time with its message and column."""
    with pytest.raises(TemplateError) as caught:
        parse_template(text)
    assert (str(caught.value), caught.value.offset) == (message, offset)


def test_template_errors_are_value_errors() -> None:
    """The loader catches `TemplateError` as a ValueError carrying `offset`."""
    with pytest.raises(ValueError, match="unclosed") as caught:
        parse_template("{{")
    assert isinstance(caught.value, TemplateError)


# what parses ---------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "variables"), [
    ("{{ labels.namespace }}", {"labels.namespace"}),
    ("{{labels.pod}}", {"labels.pod"}),
    ("{{ \tannotations.runbook_url  }}", {"annotations.runbook_url"}),
    ("{{ labels.deployment }}-canary", {"labels.deployment"}),
    ("{{ owner.kind }}/{{ owner.name }}", {"owner.kind", "owner.name"}),
    ("{{ value }} {{ value }}", {"value"}),
    ("kube-system", set()),
    ("", set()),
    ("{ not a variable } {}", set()),
])
def test_variables_are_the_paths_used(text: str, variables: set[str]) -> None:
    """`variables()` lists each path once; spaces inside the braces are optional."""
    assert parse_template(text).variables() == variables


def test_templates_compare_by_source() -> None:
    """A template is its source: equal, hashable, printed as written; Template() parses."""
    assert parse_template("{{ labels.pod }}") == Template("{{ labels.pod }}")
    assert hash(parse_template("x")) == hash(Template("x"))
    assert str(parse_template("{{ value }}")) == "{{ value }}"
    with pytest.raises(TemplateError):
        Template("{{ nope }}")


# rendering -----------------------------------------------------------------------------


def test_render_substitutes_every_variable() -> None:
    """Labels, annotations, the owner and the value are substituted into literal text."""
    template = parse_template("{{ owner.kind }} {{ owner.name }} in {{ labels.namespace }}: "
                              "{{ annotations.summary }} ({{value}})")
    context = TemplateContext(labels={"namespace": "shop"},
                              annotations={"summary": "Memory HIGH"},
                              owner_kind="Deployment", owner_name="cart", value="0.97")
    assert template.render(context) == "Deployment cart in shop: Memory HIGH (0.97)"


def test_render_keeps_values_verbatim() -> None:
    """`render` is plain substitution: it neither escapes nor re-interprets values."""
    context = pod("{{ labels.pod }} ../x")
    assert parse_template("{{ labels.pod }}!").render(context) == "{{ labels.pod }} ../x!"


@pytest.mark.parametrize(("text", "context", "message"), [
    ("{{ labels.pod }}", TemplateContext(labels={"namespace": "x"}),
     "cannot render '{{ labels.pod }}': labels.pod is not set (the signal has no label "
     "'pod')"),
    ("{{ annotations.summary }}", TemplateContext(),
     "cannot render '{{ annotations.summary }}': annotations.summary is not set (the signal "
     "has no annotation 'summary')"),
    ("{{ owner.name }}", TemplateContext(owner_kind="ReplicaSet"),
     "cannot render '{{ owner.name }}': owner.name is not set (the target has no controller "
     "owner)"),
    ("v={{ value }}", TemplateContext(),
     "cannot render 'v={{ value }}': value is not set (only PromQL signals carry a value)"),
])
def test_render_refuses_a_variable_that_is_not_set(text: str, context: TemplateContext,
                                                   message: str) -> None:
    """A missing variable is never rendered as empty text: it is refused, naming it."""
    with pytest.raises(RefusedName) as caught:
        parse_template(text).render(context)
    assert str(caught.value) == message


def test_render_name_refuses_a_variable_that_is_not_set() -> None:
    """A target whose label is missing is refused before any name check."""
    with pytest.raises(RefusedName) as caught:
        parse_template("{{ labels.pod }}").render_name(TemplateContext(),
                                                       NameKind.DNS1123_SUBDOMAIN)
    assert str(caught.value) == ("refused target name '{{ labels.pod }}': labels.pod is not "
                                 "set (the signal has no label 'pod')")


@pytest.mark.parametrize(("value", "kind"), [
    ("web-7d4f9c-x2x8q", NameKind.DNS1123_SUBDOMAIN),
    ("ip-10-0-1-17.eu-west-1.compute.internal", NameKind.DNS1123_SUBDOMAIN),
    ("0", NameKind.DNS1123_LABEL),
    ("a" * 63, NameKind.DNS1123_LABEL),
    ("a" * 253, NameKind.DNS1123_SUBDOMAIN),
    ("a" * 100 + ".b", NameKind.DNS1123_SUBDOMAIN),  # only the whole is limited, as in k8s
])
def test_render_name_accepts_valid_names(value: str, kind: NameKind) -> None:
    """Valid Kubernetes names, up to the exact length limits, render unchanged."""
    assert parse_template("{{ labels.pod }}").render_name(pod(value), kind) == value


def test_render_name_checks_the_whole_rendered_name() -> None:
    """Literal text counts: a suffix can make a name too long or valid."""
    template = parse_template("{{ labels.deployment }}-canary")
    context = TemplateContext(labels={"deployment": "cart"})
    assert template.render_name(context, NameKind.DNS1123_LABEL) == "cart-canary"
    with pytest.raises(RefusedName, match="is 64 characters long, more than 63"):
        template.render_name(TemplateContext(labels={"deployment": "a" * 57}),
                             NameKind.DNS1123_LABEL)


# refusals ------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "reason"), [
    ("../x", "contains '..' (a path, never a name)"),
    ("..", "contains '..' (a path, never a name)"),
    ("a/b", "contains '/' (a path, never a name)"),
    ("x,y=z", "contains ',' (selector syntax, never a name)"),
    ("app!=web", "contains '!' (selector syntax, never a name)"),
    ("notin(a)", "contains '(' (selector syntax, never a name)"),
    ("", "is empty"),
    ("A", "contains the upper case letter 'A'"),
    ("x\n", "contains whitespace or a control character (U+000A '\\n')"),
    ("web 1", "contains whitespace or a control character (U+0020 SPACE)"),
    ("web\u200b", "contains whitespace or a control character (U+200B ZERO WIDTH SPACE)"),
    ("web\u00a0", "contains whitespace or a control character (U+00A0 NO-BREAK SPACE)"),
    ("ngin\u0445", "contains a non-ASCII character (U+0445 CYRILLIC SMALL LETTER HA)"),
    ("\uff57eb", "contains a non-ASCII character (U+FF57 FULLWIDTH LATIN SMALL LETTER W)"),
    ("web-\u0661", "contains a non-ASCII character (U+0661 ARABIC-INDIC DIGIT ONE)"),
    ("my_pod", "contains '_'"),
    ("*", "contains '*'"),
    ("-web", "starts with '-'"),
    ("web-", "ends with '-'"),
    (".web", "starts with '.'"),
    ("web.-x", "a dot-separated part starts or ends with '-'"),
])
def test_render_name_refuses_hostile_values(value: str, reason: str) -> None:
    """Each hostile label value is refused (never rewritten) with a reason naming it."""
    with pytest.raises(RefusedName) as caught:
        parse_template("{{ labels.pod }}").render_name(pod(value), NameKind.DNS1123_SUBDOMAIN)
    assert str(caught.value) == (f"refused target name from labels.pod={value!r}: {reason}; "
                                 f"not a valid Kubernetes name (must be {SUBDOMAIN_RULE})")


def test_a_dot_is_refused_in_a_label() -> None:
    """Namespaces are DNS-1123 labels: a dotted value is a valid subdomain but refused."""
    template = parse_template("{{ labels.namespace }}")
    context = TemplateContext(labels={"namespace": "shop.prod"})
    assert template.render_name(context, NameKind.DNS1123_SUBDOMAIN) == "shop.prod"
    with pytest.raises(RefusedName) as caught:
        template.render_name(context, NameKind.DNS1123_LABEL)
    assert str(caught.value) == ("refused target name from labels.namespace='shop.prod': "
                                 "contains '.', which a DNS-1123 label does not allow; not a "
                                 f"valid Kubernetes name (must be {LABEL_RULE})")


@pytest.mark.parametrize(("length", "kind"), [(70, NameKind.DNS1123_LABEL),
                                              (254, NameKind.DNS1123_SUBDOMAIN),
                                              (300, NameKind.DNS1123_SUBDOMAIN)])
def test_too_long_names_are_refused_with_the_value_truncated(length: int,
                                                             kind: NameKind) -> None:
    """An over-long value is refused; the message shows 64 characters and the length."""
    with pytest.raises(RefusedName) as caught:
        parse_template("{{ labels.pod }}").render_name(pod("a" * length), kind)
    limit = 63 if kind is NameKind.DNS1123_LABEL else 253
    assert str(caught.value).startswith(
        f"refused target name from labels.pod={'a' * 64!r}... ({length} characters): "
        f"is {length} characters long, more than {limit}; ")


def test_a_huge_hostile_value_cannot_flood_the_message() -> None:
    """A megabyte of label value yields a message of bounded size."""
    with pytest.raises(RefusedName) as caught:
        parse_template("{{ labels.pod }}").render_name(pod("../" * 300_000),
                                                       NameKind.DNS1123_SUBDOMAIN)
    assert len(str(caught.value)) < 500
    assert "(900000 characters): contains '..'" in str(caught.value)


def test_refusal_names_the_variable_that_carried_the_fault() -> None:
    """With several variables, the message shows each value and whose value is at fault."""
    template = parse_template("{{ labels.namespace }}-{{ labels.deployment }}-canary")
    context = TemplateContext(labels={"namespace": "shop", "deployment": "a/b"})
    with pytest.raises(RefusedName) as caught:
        template.render_name(context, NameKind.DNS1123_SUBDOMAIN)
    assert str(caught.value) == (
        "refused target name 'shop-a/b-canary' from labels.namespace='shop', "
        "labels.deployment='a/b': labels.deployment contains '/' (a path, never a name); "
        f"not a valid Kubernetes name (must be {SUBDOMAIN_RULE})")


def test_a_literal_only_target_is_checked_too() -> None:
    """A template without variables is still checked when rendered as a name."""
    with pytest.raises(RefusedName) as caught:
        parse_template("Kube_System").render_name(TemplateContext(), NameKind.DNS1123_LABEL)
    assert str(caught.value).startswith("refused target name 'Kube_System': contains the "
                                        "upper case letter 'K'; ")


def test_name_problem_agrees_with_render_name() -> None:
    """`name_problem` is None exactly for valid names, else the reason render_name gives."""
    assert name_problem("web-1", NameKind.DNS1123_LABEL) is None
    assert name_problem("a/b", NameKind.DNS1123_LABEL) == "contains '/' (a path, never a name)"


# properties ----------------------------------------------------------------------------

HOSTILE_ALPHABET = "abz09-._/ ,=!()A\n\t\u0430\u200b\uff41"
TARGET_TEMPLATES = [
    "{{ labels.pod }}",
    "{{ labels.deployment }}-canary",
    "{{ labels.namespace }}.{{ labels.pod }}",
    "web-{{ annotations.instance }}",
    "{{ owner.name }}",
]


@given(template_text=st.sampled_from(TARGET_TEMPLATES),
       kind=st.sampled_from(NameKind),
       values=st.dictionaries(st.sampled_from(["pod", "deployment", "namespace", "instance"]),
                              st.text(HOSTILE_ALPHABET, max_size=300) | st.text(max_size=80)),
       owner=st.none() | st.text(HOSTILE_ALPHABET, max_size=80))
@example(template_text="{{ labels.pod }}", kind=NameKind.DNS1123_LABEL,
         values={"pod": "x\n"}, owner=None)
@example(template_text="{{ labels.pod }}", kind=NameKind.DNS1123_LABEL,
         values={"pod": "a" * 63}, owner=None)
def test_render_name_returns_a_valid_name_or_refuses(template_text: str, kind: NameKind,
                                                     values: dict[str, str],
                                                     owner: str | None) -> None:
    """For any label values: a valid, unrewritten name, or RefusedName; nothing else."""
    template = parse_template(template_text)
    context = TemplateContext(labels=values, annotations=values, owner_name=owner)
    try:
        name = template.render_name(context, kind)
    except RefusedName as error:
        refusal = str(error)
    else:
        assert is_valid_name(name, kind)
        assert name == template.render(context)
        return
    assert refusal.startswith("refused target name ")
    assert len(refusal) < 1000


@given(st.text(max_size=200) | st.text("{}%#|.$ labelsownervaluekind_x[]()\"'\t", max_size=60))
@example("{{")
@example("}}")
@example("{{ labels.x }}}")
@example("{{{{")
def test_parsing_any_text_raises_only_template_error(text: str) -> None:
    """Any text parses, or raises TemplateError with an offset inside the text."""
    try:
        template = parse_template(text)
    except TemplateError as error:
        offset = error.offset
    else:
        assert template.source == text
        return
    assert 0 <= offset < len(text)


LITERALS = st.text(st.characters(blacklist_characters="{}"), max_size=10)
PATHS = st.sampled_from(["labels.pod", "labels.namespace", "annotations.summary",
                         "owner.kind", "owner.name", "value"])


@given(st.lists(st.tuples(LITERALS, PATHS, st.sampled_from(["", " ", "  \t"])), max_size=5),
       LITERALS, st.text(max_size=20))
def test_assembled_templates_render_to_the_concatenation(
        pieces: list[tuple[str, str, str]], tail: str, value: str) -> None:
    """A template built from literals and variables renders to literals and values."""
    text = "".join(f"{literal}{{{{{space}{path}{space}}}}}" for literal, path, space in pieces)
    context = TemplateContext(labels={"pod": value, "namespace": value},
                              annotations={"summary": value}, owner_kind=value,
                              owner_name=value, value=value)
    template = parse_template(text + tail)
    assert template.variables() == {path for _, path, _ in pieces}
    assert template.render(context) == "".join(literal + value for literal, _, _ in pieces) + tail
