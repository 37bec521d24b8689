"""Target templates: `{{ labels.pod }}` in a runbook, a checked Kubernetes name out.

Runbooks name what they act on with tiny templates rendered from the signal:
`namespace: "{{ labels.namespace }}"`, `name: "{{ labels.deployment }}-canary"`. The
language is deliberately substitution only: literal text and `{{ path }}`, where a path is
`labels.<name>`, `annotations.<name>`, `owner.kind`, `owner.name` or `value`. There are no
filters, expressions, loops or escapes, so a template can be checked completely when the
runbook loads (`parse_template`, errors carry the column) and rendering is a join.

Alert labels come from workloads and are untrusted input. `Template.render_name` renders
and then *refuses* anything that is not a valid Kubernetes name of the kind asked for: it
never sanitizes, because a "fixed" name is a different object. The refusal (`RefusedName`)
says which variable carried which value and why, for the audit trail.

Neighbours: `format` parses the runbook's templates with `parse_template`; `model` holds
`Template`s; the engine renders targets with `render_name`. This module imports nothing
from healer.
"""

from __future__ import annotations

import difflib
import enum
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field

ROOTS = ("labels", "annotations", "owner", "value")
OWNER_FIELDS = ("kind", "name")
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")  # a Prometheus label name
_PATH_CHARS = re.compile(r"[A-Za-z0-9_.]*")
_NAME_CHARS = re.compile(r"[A-Za-z0-9_.-]*")  # what a label name written with '-' spans
_SPACES = " \t"
_SELECTOR_CHARS = ",=!()"
_SHOWN_CHARS = 64  # values in messages are cut to this many characters


class TemplateError(ValueError):
    """A malformed template, found when the runbook loads."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset  # 0-based column within the template text


class RefusedName(ValueError):  # noqa: N818  (a refusal is an outcome the engine records)
    """Rendering refused; the message is the reason the engine records, for on-call."""


@dataclass(frozen=True)
class TemplateContext:
    """What a template can refer to: the signal's labels and annotations, the target's
    controller (`owner.*`, for steps acting on it) and a PromQL sample's `value`."""

    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    owner_kind: str | None = None
    owner_name: str | None = None
    value: str | None = None


class NameKind(enum.Enum):
    """Which Kubernetes name rule a rendered name must pass (apimachinery's validation)."""

    DNS1123_LABEL = "DNS-1123 label"  # namespaces, services
    DNS1123_SUBDOMAIN = "DNS-1123 subdomain"  # pods, deployments, nodes and most others

    @property
    def max_length(self) -> int:
        return 63 if self is NameKind.DNS1123_LABEL else 253

    @property
    def rule(self) -> str:
        if self is NameKind.DNS1123_LABEL:
            return ("a DNS-1123 label: at most 63 characters, lower case letters, digits "
                    "and '-', starting and ending with a letter or digit")
        return ("a DNS-1123 subdomain: at most 253 characters, lower case letters, digits, "
                "'-' and '.', each dot-separated part starting and ending with a letter or "
                "digit")


_LABEL_FORMAT = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_NAME_PATTERNS = {
    NameKind.DNS1123_LABEL: re.compile(_LABEL_FORMAT),
    NameKind.DNS1123_SUBDOMAIN: re.compile(rf"{_LABEL_FORMAT}(\.{_LABEL_FORMAT})*"),
}


@dataclass(frozen=True)
class _Variable:
    path: str  # "labels.pod"
    root: str  # "labels"
    key: str  # "pod"; "" for `value`

    def lookup(self, context: TemplateContext) -> str | None:
        if self.root == "labels":
            return context.labels.get(self.key)
        if self.root == "annotations":
            return context.annotations.get(self.key)
        if self.root == "owner":
            return context.owner_kind if self.key == "kind" else context.owner_name
        return context.value

    def missing(self) -> str:
        if self.root == "labels":
            return f"{self.path} is not set (the signal has no label {self.key!r})"
        if self.root == "annotations":
            return f"{self.path} is not set (the signal has no annotation {self.key!r})"
        if self.root == "owner":
            return f"{self.path} is not set (the target has no controller owner)"
        return f"{self.path} is not set (only PromQL signals carry a value)"


@dataclass(frozen=True)
class Template:
    """A parsed template. `Template(text)` parses too (and raises `TemplateError`)."""

    source: str
    _parts: tuple[str | _Variable, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_parts", _parse(self.source))

    def __str__(self) -> str:
        return self.source

    def variables(self) -> frozenset[str]:
        """The paths the template refers to, e.g. {"labels.namespace", "owner.name"}."""
        return frozenset(p.path for p in self._parts if isinstance(p, _Variable))

    def render(self, context: TemplateContext) -> str:
        """The text with each variable substituted; a variable not set → `RefusedName`."""
        return "".join(self._values(context, "cannot render"))

    def render_name(self, context: TemplateContext, kind: NameKind) -> str:
        """Render, then refuse anything that is not a valid Kubernetes name of `kind`."""
        values = self._values(context, "refused target name")
        name = "".join(values)
        if name_problem(name, kind) is None:
            return name
        problem, culprit = _diagnose(name, kind)
        given = list(dict.fromkeys((part, value) for part, value
                                   in zip(self._parts, values, strict=True)
                                   if isinstance(part, _Variable)))
        if len(self._parts) == 1 and given:
            origin = f"from {given[0][0].path}={_shown(name)}"
        else:
            sources = ", ".join(f"{var.path}={_shown(value)}" for var, value in given)
            origin = _shown(name) + (f" from {sources}" if sources else "")
            carriers = [var.path for var, value in given if culprit and culprit in value]
            if carriers:  # the reason starts "contains ...": say whose value does
                problem = f"{carriers[0]} {problem}"
        raise RefusedName(f"refused target name {origin}: {problem}; not a valid Kubernetes "
                          f"name (must be {kind.rule})")

    def _values(self, context: TemplateContext, refusing: str) -> list[str]:
        values: list[str] = []
        for part in self._parts:
            if isinstance(part, str):
                values.append(part)
                continue
            value = part.lookup(context)
            if value is None:
                raise RefusedName(f"{refusing} {self.source!r}: {part.missing()}")
            values.append(value)
        return values


def parse_template(text: str) -> Template:
    """Parse a template once, at load time; errors carry the 0-based column at fault."""
    return Template(text)


def name_problem(name: str, kind: NameKind) -> str | None:
    """Why `name` is not a valid Kubernetes name of `kind`, or None when it is one.

    The verdict is the DNS-1123 pattern and length of k8s.io/apimachinery's
    IsDNS1123Label / IsDNS1123Subdomain; the reason names the most telling fault first.
    """
    if len(name) <= kind.max_length and _NAME_PATTERNS[kind].fullmatch(name):
        return None
    return _diagnose(name, kind)[0]


def _diagnose(name: str, kind: NameKind) -> tuple[str, str]:
    """(why an invalid name is invalid, the text at fault or "" when it is the whole)."""
    if not name:
        return "is empty", ""
    if ".." in name:
        return "contains '..' (a path, never a name)", ".."
    for char in name:
        reason = _character_problem(char, kind)
        if reason is not None:
            return reason, char
    if len(name) > kind.max_length:
        return f"is {len(name)} characters long, more than {kind.max_length}", ""
    if name[0] in "-.":
        return f"starts with {name[0]!r}", ""
    if name[-1] in "-.":
        return f"ends with {name[-1]!r}", ""
    return "a dot-separated part starts or ends with '-'", ""  # the only fault left


def _character_problem(char: str, kind: NameKind) -> str | None:
    if char == "/":
        return "contains '/' (a path, never a name)"
    if char.isspace() or unicodedata.category(char).startswith("C"):
        return f"contains whitespace or a control character ({_codepoint(char)})"
    if char in _SELECTOR_CHARS:
        return f"contains {char!r} (selector syntax, never a name)"
    if not char.isascii():
        return f"contains a non-ASCII character ({_codepoint(char)})"
    if "A" <= char <= "Z":
        return f"contains the upper case letter {char!r}"
    if char == "." and kind is NameKind.DNS1123_LABEL:
        return "contains '.', which a DNS-1123 label does not allow"
    if not ("a" <= char <= "z" or "0" <= char <= "9" or char in "-."):
        return f"contains {char!r}"
    return None


def _codepoint(char: str) -> str:
    return f"U+{ord(char):04X} {unicodedata.name(char, '') or repr(char)}"


def _shown(value: str) -> str:
    """A value quoted for a message, cut so a hostile label cannot flood the audit trail."""
    if len(value) <= _SHOWN_CHARS:
        return repr(value)
    return f"{value[:_SHOWN_CHARS]!r}... ({len(value)} characters)"


# parsing ------------------------------------------------------------------------------


def _parse(text: str) -> tuple[str | _Variable, ...]:
    parts: list[str | _Variable] = []
    position = 0
    while position < len(text):
        opening = text.find("{{", position)
        literal_end = len(text) if opening < 0 else opening
        _check_literal(text, position, literal_end)
        if literal_end > position:
            parts.append(text[position:literal_end])
        if opening < 0:
            break
        closing = text.find("}}", opening + 2)
        if closing < 0 or text.find("{{", opening + 2, closing) >= 0:
            raise TemplateError('unclosed "{{": expected "}}" after the variable', opening)
        parts.append(_variable(text, opening + 2, closing))
        position = closing + 2
    return tuple(parts)


_NOT_LITERAL = {
    "}}": 'stray "}}" without an opening "{{"',
    "{%": '"{%" blocks are not supported: templates only substitute variables, like '
          '"{{ labels.pod }}"',
    "{#": '"{#" comments are not supported: templates only substitute variables, like '
          '"{{ labels.pod }}"',
}


def _check_literal(text: str, start: int, end: int) -> None:
    """Refuse the first token in literal text that belongs to a bigger template language."""
    found = [(at, token) for token in _NOT_LITERAL if (at := text.find(token, start, end)) >= 0]
    if found:
        at, token = min(found)
        raise TemplateError(_NOT_LITERAL[token], at)


def _variable(text: str, start: int, end: int) -> _Variable:
    """The variable between `{{` (ending at `start`) and `}}` (at `end`)."""
    begin = start
    while begin < end and text[begin] in _SPACES:
        begin += 1
    if begin == end:
        raise TemplateError('empty "{{ }}": expected a variable like labels.pod', start - 2)
    prefix = text[begin] if text[begin] in "$." else ""
    path_end = _PATH_CHARS.match(text, begin + len(prefix), end)
    assert path_end is not None  # `*` always matches
    rest = path_end.end()
    while rest < end and text[rest] in _SPACES:
        rest += 1
    path = text[begin + len(prefix):path_end.end()]
    if path.startswith(("labels.", "annotations.")) and text.startswith("-", path_end.end()):
        name_end = _NAME_CHARS.match(text, path_end.end(), end)
        assert name_end is not None
        if text[name_end.end():end].strip(_SPACES) == "":  # `labels.pod-name`: a bad name
            return _resolve(prefix + text[begin + len(prefix):name_end.end()], begin)
    if rest < end or (prefix and not path):
        at = rest if rest < end else begin
        raise TemplateError(f'"{{{{ }}}}" holds one variable and nothing else, found '
                            f"{_shown(text[at:end].rstrip(_SPACES))}: templates have no "
                            f"filters, indexing, calls or expressions", at)
    return _resolve(prefix + path, begin)


def _resolve(written: str, offset: int) -> _Variable:
    """Check a dotted path (`written` as in the template, at `offset`) against the roots."""
    path = written.lstrip("$.")
    segments = path.split(".")
    root, rest = segments[0], segments[1:]
    if written != path or root not in ROOTS:
        hint = _did_you_mean(root, rest)
        raise TemplateError(f"unknown variable {written!r}{hint}: variables are "
                            f"labels.<name>, annotations.<name>, owner.kind, owner.name "
                            f"and value", offset)
    if root == "value":
        if rest:
            raise TemplateError(f"unknown variable {path!r} (did you mean 'value'?): value "
                                f"has no fields", offset)
        return _Variable(path, root, "")
    if root == "owner":
        if len(rest) != 1 or rest[0] not in OWNER_FIELDS:
            close = difflib.get_close_matches(".".join(rest), OWNER_FIELDS, n=1)
            hint = f" (did you mean 'owner.{close[0]}'?)" if close else ""
            raise TemplateError(f"unknown variable {path!r}{hint}: owner has only owner.kind "
                                f"and owner.name", offset)
        return _Variable(path, root, rest[0])
    if not rest or not rest[0]:
        raise TemplateError(f"{root} needs a name: {root}.<name>, e.g. {root}.pod", offset)
    key = ".".join(rest)
    if len(rest) > 1 or not LABEL_NAME.fullmatch(key):
        raise TemplateError(f"{key!r} is not a Prometheus label name (letters, digits and "
                            f"'_', not starting with a digit)", offset + len(root) + 1)
    return _Variable(path, root, key)


def _did_you_mean(root: str, rest: list[str]) -> str:
    if root.lower() in ROOTS:
        corrected = root.lower()
    else:
        close = difflib.get_close_matches(root.lower(), ROOTS, n=1, cutoff=0.6)
        if not close:  # `{{ pod }}`: most likely a label
            plain = not rest and LABEL_NAME.fullmatch(root)
            return f" (did you mean 'labels.{root}'?)" if plain else ""
        corrected = close[0]
    return f" (did you mean {'.'.join([corrected, *rest])!r}?)"
