"""Label and field selectors, parsed, validated and matched as the API server does.

List and watch requests filter with ``?labelSelector=`` and ``?fieldSelector=``, and
workload objects carry ``metav1.LabelSelector`` values (``spec.selector``) that
controllers, the Scale subresource and PodDisruptionBudgets evaluate. The sandbox's HTTP
layer (``healer.sandbox.api``), its store and its controllers use this module for all
of them; it does no I/O.

It follows apimachinery's ``labels.Parse`` (lexer, grammar, validation and messages),
``metav1.LabelSelectorAsSelector``, ``fields.ParseSelector`` (with its backslash
escapes) and, for field selectors, each resource's field label conversion function and
``ToSelectableFields`` in kubernetes' ``pkg/apis`` and ``pkg/registry``: which field
labels a resource accepts, what it says when it refuses one, and how it renders a value
(a missing boolean is ``"false"``, a missing count ``"0"``, a missing string ``""``).
Failures raise :class:`SelectorError`, whose message is the server's.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

__all__ = [
    "FieldRequirement",
    "FieldSelector",
    "LabelSelector",
    "Operator",
    "Requirement",
    "SelectorError",
    "label_selector_from_object",
    "parse_field_selector",
    "parse_label_selector",
]


class SelectorError(ValueError):
    """A selector the server refuses; the message is the server's (HTTP 400)."""


# --------------------------------------------------------------------------------------
# Validation, with the messages of k8s.io/apimachinery/pkg/util/validation
# --------------------------------------------------------------------------------------

_QUALIFIED_NAME_FMT: Final = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_QUALIFIED_NAME_MESSAGE: Final = ("must consist of alphanumeric characters, '-', '_' or '.', "
                                  "and must start and end with an alphanumeric character")
_LABEL_VALUE_FMT: Final = f"({_QUALIFIED_NAME_FMT})?"
_LABEL_VALUE_MESSAGE: Final = ("a valid label must be an empty string or consist of "
                               "alphanumeric characters, '-', '_' or '.', and must start and "
                               "end with an alphanumeric character")
_DNS1123_LABEL_FMT: Final = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN_FMT: Final = f"{_DNS1123_LABEL_FMT}(\\.{_DNS1123_LABEL_FMT})*"
_DNS1123_SUBDOMAIN_MESSAGE: Final = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
    "'-' or '.', and must start and end with an alphanumeric character")
_QUALIFIED_NAME: Final = re.compile(_QUALIFIED_NAME_FMT)
_LABEL_VALUE: Final = re.compile(_LABEL_VALUE_FMT)
_DNS1123_SUBDOMAIN: Final = re.compile(_DNS1123_SUBDOMAIN_FMT)
_INT64: Final = re.compile(r"[+-]?[0-9]+")


def _regex_error(message: str, fmt: str, *examples: str) -> str:
    shown = "  or ".join(f"'{example}'," for example in examples)
    return f"{message} (e.g. {shown} regex used for validation is '{fmt}')"


def _byte_length(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def _qualified_name_errors(value: str) -> list[str]:
    """``validation.IsQualifiedName``: an optional DNS subdomain prefix and a name."""
    errors: list[str] = []
    parts = value.split("/")
    if len(parts) > 2:
        return ["a qualified name " + _regex_error(_QUALIFIED_NAME_MESSAGE, _QUALIFIED_NAME_FMT,
                                                   "MyName", "my.name", "123-abc")
                + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"]
    name = parts[-1]
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix:
            errors.append("prefix part must be non-empty")
        else:
            errors.extend("prefix part " + error for error in _subdomain_errors(prefix))
    if not name:
        errors.append("name part must be non-empty")
    elif _byte_length(name) > 63:
        errors.append("name part must be no more than 63 characters")
    if not _QUALIFIED_NAME.fullmatch(name):
        errors.append("name part " + _regex_error(_QUALIFIED_NAME_MESSAGE, _QUALIFIED_NAME_FMT,
                                                  "MyName", "my.name", "123-abc"))
    return errors


def _subdomain_errors(value: str) -> list[str]:
    errors: list[str] = []
    if _byte_length(value) > 253:
        errors.append("must be no more than 253 characters")
    if not _DNS1123_SUBDOMAIN.fullmatch(value):
        errors.append(_regex_error(_DNS1123_SUBDOMAIN_MESSAGE, _DNS1123_SUBDOMAIN_FMT,
                                   "example.com"))
    return errors


def _label_value_errors(value: str) -> list[str]:
    errors: list[str] = []
    if _byte_length(value) > 63:
        errors.append("must be no more than 63 characters")
    if not _LABEL_VALUE.fullmatch(value):
        errors.append(_regex_error(_LABEL_VALUE_MESSAGE, _LABEL_VALUE_FMT,
                                   "MyValue", "my_value", "12345"))
    return errors


def _go_quote(text: str) -> str:
    """Go's ``%q``: a double-quoted string with Go escapes."""
    escapes = {'"': '\\"', "\\": "\\\\", "\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n",
               "\r": "\\r", "\t": "\\t", "\v": "\\v"}
    out = []
    for char in text:
        if char in escapes:
            out.append(escapes[char])
        elif char.isprintable():
            out.append(char)
        elif ord(char) < 0x80:
            out.append(f"\\x{ord(char):02x}")
        elif ord(char) < 0x10000:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(f"\\U{ord(char):08x}")
    return '"' + "".join(out) + '"'


def _go_strings(values: Sequence[str]) -> str:
    """Go's ``%#v`` of a ``[]string`` (``[]string(nil)`` when empty, as the server has it)."""
    if not values:
        return "[]string(nil)"
    return "[]string{" + ", ".join(_go_quote(value) for value in values) + "}"


def _invalid(path: str, shown: str, detail: str) -> str:
    """``field.Invalid(path, value, detail).Error()``."""
    return f"{path}: Invalid value: {shown}: {detail}"


def _aggregate(errors: list[str]) -> str:
    """``utilerrors.NewAggregate(...).Error()``: one message, or ``[a, b]``, deduplicated."""
    unique = list(dict.fromkeys(errors))
    return unique[0] if len(unique) == 1 else "[" + ", ".join(unique) + "]"


# --------------------------------------------------------------------------------------
# Label selectors
# --------------------------------------------------------------------------------------


class Operator(enum.Enum):
    """The operators of a label requirement (``selection.Operator``)."""

    IN = "in"
    NOT_IN = "notin"
    EQUALS = "="
    DOUBLE_EQUALS = "=="
    NOT_EQUALS = "!="
    EXISTS = "exists"
    DOES_NOT_EXIST = "!"
    GREATER_THAN = "gt"
    LESS_THAN = "lt"


_SET_OPERATORS: Final = frozenset({Operator.IN, Operator.NOT_IN})
_EXACT_OPERATORS: Final = frozenset({Operator.EQUALS, Operator.DOUBLE_EQUALS,
                                     Operator.NOT_EQUALS})
_PRESENCE_OPERATORS: Final = frozenset({Operator.EXISTS, Operator.DOES_NOT_EXIST})
_ORDER_OPERATORS: Final = frozenset({Operator.GREATER_THAN, Operator.LESS_THAN})
_INFIX: Final[Mapping[Operator, str]] = MappingProxyType({
    Operator.EQUALS: "=", Operator.DOUBLE_EQUALS: "==", Operator.NOT_EQUALS: "!=",
    Operator.IN: " in ", Operator.NOT_IN: " notin ", Operator.GREATER_THAN: ">",
    Operator.LESS_THAN: "<",
})


def _as_int64(text: str) -> int | None:
    """``strconv.ParseInt(text, 10, 64)``, or None where it fails."""
    if not _INT64.fullmatch(text):
        return None
    number = int(text)
    return number if -(2**63) <= number < 2**63 else None


@dataclass(frozen=True)
class Requirement:
    """One condition on one label key, e.g. ``tier in (web,api)`` or ``!canary``."""

    key: str
    operator: Operator
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether ``labels`` satisfy this requirement (``labels.Requirement.Matches``)."""
        present = self.key in labels
        if self.operator in (Operator.IN, Operator.EQUALS, Operator.DOUBLE_EQUALS):
            return present and labels[self.key] in self.values
        if self.operator in (Operator.NOT_IN, Operator.NOT_EQUALS):
            return not present or labels[self.key] not in self.values
        if self.operator is Operator.EXISTS:
            return present
        if self.operator is Operator.DOES_NOT_EXIST:
            return not present
        if not present or len(self.values) != 1:
            return False
        have, bound = _as_int64(labels[self.key]), _as_int64(self.values[0])
        if have is None or bound is None:
            return False
        return have > bound if self.operator is Operator.GREATER_THAN else have < bound

    def __str__(self) -> str:
        if self.operator is Operator.EXISTS:
            return self.key
        if self.operator is Operator.DOES_NOT_EXIST:
            return "!" + self.key
        shown = (self.values[0] if len(self.values) == 1
                 else ",".join(sorted(self.values)))
        if self.operator in _SET_OPERATORS:
            shown = f"({shown})"
        return f"{self.key}{_INFIX[self.operator]}{shown}"


def _requirement(key: str, operator: Operator, values: Sequence[str]) -> Requirement:
    """``labels.NewRequirement`` (without a field path): validate and build."""
    errors = [_invalid("key", _go_quote(key), "; ".join(problems))
              for problems in [_qualified_name_errors(key)] if problems]
    if operator in _SET_OPERATORS and not values:
        errors.append(_invalid("values", _go_strings(values),
                               "for 'in', 'notin' operators, values set can't be empty"))
    elif operator in _EXACT_OPERATORS and len(values) != 1:
        errors.append(_invalid("values", _go_strings(values),
                               "exact-match compatibility requires one single value"))
    elif operator in _PRESENCE_OPERATORS and values:
        errors.append(_invalid("values", _go_strings(values),
                               "values set must be empty for exists and does not exist"))
    elif operator in _ORDER_OPERATORS:
        if len(values) != 1:
            errors.append(_invalid("values", _go_strings(values),
                                   "for 'Gt', 'Lt' operators, exactly one value is required"))
        errors.extend(_invalid(f"values[{index}]", _go_quote(value),
                               "for 'Gt', 'Lt' operators, the value must be an integer")
                      for index, value in enumerate(values) if _as_int64(value) is None)
    for index, value in enumerate(values):
        problems = _label_value_errors(value)
        if problems:
            errors.append(_invalid(f"values[{index}][{key}]", _go_quote(value),
                                   "; ".join(problems)))
    if errors:
        raise SelectorError(_aggregate(errors))
    return Requirement(key, operator, tuple(values))


@dataclass(frozen=True)
class LabelSelector:
    """A parsed label selector: requirements that must all hold.

    An empty selector matches everything; :meth:`nothing` matches nothing (what
    ``metav1.LabelSelectorAsSelector`` makes of a nil selector). ``str()`` is the canonical
    form the API server prints (requirements by key, set values sorted), which
    :func:`parse_label_selector` reads back to an equal selector.
    """

    requirements: tuple[Requirement, ...] = ()
    matches_nothing: bool = False

    @classmethod
    def everything(cls) -> LabelSelector:
        """The selector that matches every label set (``labels.Everything()``)."""
        return cls()

    @classmethod
    def nothing(cls) -> LabelSelector:
        """The selector that matches no label set (``labels.Nothing()``)."""
        return cls(matches_nothing=True)

    @property
    def empty(self) -> bool:
        """Whether the selector does not restrict anything (``Selector.Empty()``)."""
        return not self.matches_nothing and not self.requirements

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether every requirement holds for ``labels``."""
        if self.matches_nothing:
            return False
        return all(requirement.matches(labels) for requirement in self.requirements)

    def __str__(self) -> str:
        return ",".join(str(requirement) for requirement in self.requirements)


def _by_key(requirements: list[Requirement]) -> LabelSelector:
    return LabelSelector(tuple(sorted(requirements, key=lambda requirement: requirement.key)))


def parse_label_selector(text: str) -> LabelSelector:
    """Parse the string syntax of ``?labelSelector=`` (``labels.Parse``).

    ``a=b``, ``a==b``, ``a!=b``, ``a in (b,c)``, ``a notin (b,c)``, ``a`` (exists),
    ``!a`` (does not exist), ``a>1``, ``a<1``, comma-separated. Keys and values are
    validated like label keys and values.
    """
    return _by_key(_LabelParser(_scan(text)).parse())


class _Token(enum.Enum):
    ERROR = enum.auto()
    END = enum.auto()
    CLOSE_PAREN = enum.auto()
    COMMA = enum.auto()
    DOES_NOT_EXIST = enum.auto()
    DOUBLE_EQUALS = enum.auto()
    EQUALS = enum.auto()
    GREATER_THAN = enum.auto()
    IDENTIFIER = enum.auto()
    IN = enum.auto()
    LESS_THAN = enum.auto()
    NOT_EQUALS = enum.auto()
    NOT_IN = enum.auto()
    OPEN_PAREN = enum.auto()


_LITERAL_TOKENS: Final[Mapping[str, _Token]] = MappingProxyType({
    ")": _Token.CLOSE_PAREN, ",": _Token.COMMA, "!": _Token.DOES_NOT_EXIST,
    "==": _Token.DOUBLE_EQUALS, "=": _Token.EQUALS, ">": _Token.GREATER_THAN,
    "in": _Token.IN, "<": _Token.LESS_THAN, "!=": _Token.NOT_EQUALS,
    "notin": _Token.NOT_IN, "(": _Token.OPEN_PAREN,
})
_BINARY_OPERATORS: Final[Mapping[_Token, Operator]] = MappingProxyType({
    _Token.IN: Operator.IN, _Token.EQUALS: Operator.EQUALS,
    _Token.DOUBLE_EQUALS: Operator.DOUBLE_EQUALS, _Token.GREATER_THAN: Operator.GREATER_THAN,
    _Token.LESS_THAN: Operator.LESS_THAN, _Token.NOT_IN: Operator.NOT_IN,
    _Token.NOT_EQUALS: Operator.NOT_EQUALS,
})
_WHITESPACE: Final = frozenset(" \t\r\n")
_SPECIAL: Final = frozenset("=!(),><")
_NUL: Final = "\x00"


def _scan(text: str) -> list[tuple[_Token, str]]:
    """The tokens of a label selector, ending with ``END``."""
    lexer = _Lexer(text)
    items = [lexer.next_token()]
    while items[-1][0] is not _Token.END:
        items.append(lexer.next_token())
    return items


class _Lexer:
    """apimachinery's label ``Lexer``, character for character (a NUL ends the input)."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._position = 0

    def _read(self) -> str:
        if self._position < len(self._text):
            self._position += 1
            return self._text[self._position - 1]
        return _NUL

    def _unread(self) -> None:
        self._position -= 1

    def next_token(self) -> tuple[_Token, str]:
        char = self._read()
        while char in _WHITESPACE:
            char = self._read()
        if char == _NUL:
            return _Token.END, ""
        self._unread()
        return self._symbol() if char in _SPECIAL else self._word()

    def _word(self) -> tuple[_Token, str]:
        chars: list[str] = []
        while True:
            char = self._read()
            if char == _NUL:
                break
            if char in _SPECIAL or char in _WHITESPACE:
                self._unread()
                break
            chars.append(char)
        literal = "".join(chars)
        return _LITERAL_TOKENS.get(literal, _Token.IDENTIFIER), literal

    def _symbol(self) -> tuple[_Token, str]:
        """The longest operator made of the special characters that follow."""
        symbol = ""
        found: tuple[_Token, str] | None = None
        while True:
            char = self._read()
            if char == _NUL:
                break
            if char not in _SPECIAL:
                self._unread()
                break
            symbol += char
            token = _LITERAL_TOKENS.get(symbol)
            if token is not None:
                found = (token, symbol)
            elif found is not None:
                self._unread()
                break
        return found or (_Token.ERROR, f"error expected: keyword found '{symbol}'")


class _LabelParser:
    """A recursive-descent parser over scanned tokens, as apimachinery's ``Parser``."""

    def __init__(self, items: list[tuple[_Token, str]]) -> None:
        self._items = items
        self._position = 0

    def _peek(self, *, values: bool = True) -> tuple[_Token, str]:
        return self._token(self._items[self._position], values=values)

    def _next(self, *, values: bool = True) -> tuple[_Token, str]:
        item = self._items[self._position]
        self._position += 1
        return self._token(item, values=values)

    @staticmethod
    def _token(item: tuple[_Token, str], *, values: bool) -> tuple[_Token, str]:
        token, literal = item
        if values and token in (_Token.IN, _Token.NOT_IN):
            return _Token.IDENTIFIER, literal
        return token, literal

    def parse(self) -> list[Requirement]:
        requirements: list[Requirement] = []
        while True:
            token, literal = self._peek()
            if token is _Token.END:
                return requirements
            if token not in (_Token.IDENTIFIER, _Token.DOES_NOT_EXIST):
                raise SelectorError(
                    f"found '{literal}', expected: !, identifier, or 'end of string'")
            try:
                requirements.append(self._requirement())
            except SelectorError as error:
                raise SelectorError(f"unable to parse requirement: {error}") from None
            token, literal = self._next()
            if token is _Token.END:
                return requirements
            if token is not _Token.COMMA:
                raise SelectorError(f"found '{literal}', expected: ',' or 'end of string'")
            token, literal = self._peek()
            if token not in (_Token.IDENTIFIER, _Token.DOES_NOT_EXIST):
                raise SelectorError(f"found '{literal}', expected: identifier after ','")

    def _requirement(self) -> Requirement:
        operator: Operator | None = None
        token, key = self._next()
        if token is _Token.DOES_NOT_EXIST:
            operator = Operator.DOES_NOT_EXIST
            token, key = self._next()
        if token is not _Token.IDENTIFIER:
            raise SelectorError(f"found '{key}', expected: identifier")
        problems = _qualified_name_errors(key)
        if problems:
            raise SelectorError(_invalid("<nil>", _go_quote(key), "; ".join(problems)))
        if operator is None and self._peek()[0] in (_Token.END, _Token.COMMA):
            operator = Operator.EXISTS
        if operator is not None:
            return _requirement(key, operator, ())
        token, literal = self._next(values=False)
        binary = _BINARY_OPERATORS.get(token)
        if binary is None:
            raise SelectorError(f"found '{literal}', expected: in, notin, =, ==, !=, gt, lt")
        values = self._set_values() if binary in _SET_OPERATORS else self._exact_value()
        return _requirement(key, binary, sorted(values))

    def _set_values(self) -> set[str]:
        token, literal = self._next()
        if token is not _Token.OPEN_PAREN:
            raise SelectorError(f"found '{literal}' expected: '('")
        token, literal = self._peek()
        if token is _Token.CLOSE_PAREN:
            self._next()
            return {""}
        if token not in (_Token.IDENTIFIER, _Token.COMMA):
            raise SelectorError(f"found '{literal}', expected: ',', ')' or identifier")
        values = self._identifiers()
        self._next()  # the closing parenthesis _identifiers stopped at
        return values

    def _identifiers(self) -> set[str]:
        values: set[str] = set()
        while True:
            token, literal = self._next()
            if token is _Token.IDENTIFIER:
                values.add(literal)
                following, shown = self._peek()
                if following is _Token.CLOSE_PAREN:
                    return values
                if following is not _Token.COMMA:
                    raise SelectorError(f"found '{shown}', expected: ',' or ')'")
            elif token is _Token.COMMA:
                if not values:
                    values.add("")  # "(,": a leading empty value
                following, _ = self._peek()
                if following is _Token.CLOSE_PAREN:
                    values.add("")  # ",)": a trailing empty value
                    return values
                if following is _Token.COMMA:
                    self._next()
                    values.add("")  # ",,": an empty value between
            else:
                raise SelectorError(f"found '{literal}', expected: ',', or identifier")

    def _exact_value(self) -> set[str]:
        if self._peek()[0] in (_Token.END, _Token.COMMA):
            return {""}
        token, literal = self._next()
        if token is not _Token.IDENTIFIER:
            raise SelectorError(f"found '{literal}', expected: identifier")
        return {literal}


_LABEL_SELECTOR_OPERATORS: Final[Mapping[str, Operator]] = MappingProxyType({
    "In": Operator.IN, "NotIn": Operator.NOT_IN, "Exists": Operator.EXISTS,
    "DoesNotExist": Operator.DOES_NOT_EXIST,
})


def label_selector_from_object(selector: Mapping[str, Any] | None) -> LabelSelector:
    """Turn a ``metav1.LabelSelector`` into a selector (``LabelSelectorAsSelector``).

    ``None`` matches nothing; ``{}`` (no ``matchLabels``, no ``matchExpressions``) matches
    everything. ``matchLabels`` entries become ``key=value`` requirements and
    ``matchExpressions`` use ``In``, ``NotIn``, ``Exists`` and ``DoesNotExist``.
    """
    if selector is None:
        return LabelSelector.nothing()
    if not isinstance(selector, Mapping):
        raise SelectorError("a label selector must be an object")
    match_labels = selector.get("matchLabels") or {}
    expressions = selector.get("matchExpressions") or []
    if not isinstance(match_labels, Mapping) or not isinstance(expressions, list):
        raise SelectorError("matchLabels must be a map and matchExpressions a list")
    if not match_labels and not expressions:
        return LabelSelector.everything()
    requirements: list[Requirement] = []
    for key, value in match_labels.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise SelectorError(f"matchLabels: Invalid value: {key!r}: {value!r}: "
                                "keys and values must be strings")
        requirements.append(_requirement(key, Operator.EQUALS, [value]))
    for expression in expressions:
        if not isinstance(expression, Mapping):
            raise SelectorError("matchExpressions: each expression must be an object")
        name = expression.get("operator")
        operator = _LABEL_SELECTOR_OPERATORS.get(name) if isinstance(name, str) else None
        if operator is None:
            shown = _go_quote(name) if isinstance(name, str) else _go_quote(str(name or ""))
            raise SelectorError(f"{shown} is not a valid label selector operator")
        key, values = expression.get("key", ""), expression.get("values") or []
        if not isinstance(key, str) or not isinstance(values, list) or not all(
                isinstance(value, str) for value in values):
            raise SelectorError("matchExpressions: key must be a string and values strings")
        requirements.append(_requirement(key, operator, values))
    return _by_key(requirements)


# --------------------------------------------------------------------------------------
# Field selectors
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldRequirement:
    """One term of a field selector: ``field=value`` or ``field!=value``."""

    field: str
    value: str
    negated: bool = False

    def matches(self, fields: Mapping[str, str]) -> bool:
        """Whether the object's field set satisfies the term (a missing field is ``""``)."""
        return (fields.get(self.field, "") == self.value) != self.negated

    def __str__(self) -> str:
        return f"{self.field}{'!=' if self.negated else '='}{_escape_field_value(self.value)}"


@dataclass(frozen=True)
class FieldSelector:
    """A parsed field selector for one resource: terms that must all hold.

    Field labels are stored as the resource's conversion function maps them (a pod's
    ``spec.host`` is ``spec.nodeName``; events.k8s.io's ``regarding.kind`` is
    ``involvedObject.kind``).
    """

    resource: str
    requirements: tuple[FieldRequirement, ...] = ()
    group: str = ""

    @property
    def empty(self) -> bool:
        """Whether the selector does not restrict anything."""
        return not self.requirements

    def matches(self, obj: Mapping[str, Any]) -> bool:
        """Whether the object, as its resource renders its selectable fields, matches."""
        if not self.requirements:
            return True
        fields = _rules(self.resource, self.group).fields(obj)
        return all(requirement.matches(fields) for requirement in self.requirements)

    def __str__(self) -> str:
        return ",".join(str(requirement) for requirement in self.requirements)


def parse_field_selector(text: str, resource: str, *, group: str = "") -> FieldSelector:
    """Parse ``?fieldSelector=`` for a resource (the plural, e.g. ``"pods"``).

    ``group`` is the resource's API group; it matters only for ``events``, where
    ``events.k8s.io`` accepts other field labels than the core group. Either way the
    selector matches events stored in their core/v1 shape, as the sandbox stores them.
    """
    rules = _rules(resource, group)
    terms: list[tuple[str, str, bool]] = []
    for part in sorted(_split_terms(text)):
        if not part:
            continue
        split = _split_term(part)
        if split is None:
            raise SelectorError(f"invalid selector: '{text}'; can't understand '{part}'")
        label, operator, raw = split
        terms.append((label, _unescape_field_value(raw), operator == "!="))
    requirements = []
    for label, value, negated in terms:
        canonical = rules.accepted.get(label)
        if canonical is None:
            raise SelectorError(rules.refusal(label))
        requirements.append(FieldRequirement(canonical, value, negated))
    return FieldSelector(resource, tuple(requirements), group)


def _split_terms(text: str) -> list[str]:
    """Split on commas not escaped by a backslash (the backslashes stay)."""
    terms: list[str] = []
    start, escaped = 0, False
    for index, char in enumerate(text):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ",":
            terms.append(text[start:index])
            start = index + 1
    terms.append(text[start:])
    return terms if text else []


def _split_term(term: str) -> tuple[str, str, str] | None:
    for index in range(len(term)):
        for operator in ("!=", "==", "="):
            if term.startswith(operator, index):
                return term[:index], operator, term[index + len(operator):]
    return None


def _unescape_field_value(raw: str) -> str:
    """``fields.UnescapeValue``: ``\\\\``, ``\\,`` and ``\\=`` only; bare ``,``/``=`` refused."""
    value: list[str] = []
    escaped = False
    for char in raw:
        if escaped:
            if char not in "\\,=":
                raise SelectorError(f"invalid field selector: invalid escape sequence: \\{char}")
            value.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in ",=":
            raise SelectorError(
                f"invalid field selector: unescaped character in value: {ord(char)}")
        else:
            value.append(char)
    if escaped:
        raise SelectorError("invalid field selector: invalid escape sequence: \\")
    return "".join(value)


def _escape_field_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


# The selectable fields of each resource -----------------------------------------------


def _get(obj: Mapping[str, Any], path: str) -> Any:
    node: Any = obj
    for name in path.split("."):
        if not isinstance(node, Mapping):
            return None
        node = node.get(name)
    return node


def _text(value: Any) -> str:
    """A string field as Go renders it: the string, or ``""`` when missing."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _flag(value: Any) -> str:
    """``strconv.FormatBool`` of a bool field that defaults to false."""
    return "true" if value is True else "false"


def _count(value: Any) -> str:
    """``strconv.Itoa`` of an integer field that defaults to 0."""
    if value is None:
        return "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _meta_fields(obj: Mapping[str, Any], *, namespaced: bool) -> dict[str, str]:
    fields = {"metadata.name": _text(_get(obj, "metadata.name"))}
    if namespaced:
        fields["metadata.namespace"] = _text(_get(obj, "metadata.namespace"))
    return fields


def _pod_fields(pod: Mapping[str, Any]) -> dict[str, str]:
    pod_ips = _get(pod, "status.podIPs")
    first_ip = (_text(pod_ips[0].get("ip")) if isinstance(pod_ips, list) and pod_ips
                and isinstance(pod_ips[0], Mapping) else _text(_get(pod, "status.podIP")))
    # status.podIPs is an accepted label but not a selectable field: it is always "".
    return _meta_fields(pod, namespaced=True) | {
        "spec.nodeName": _text(_get(pod, "spec.nodeName")),
        "spec.restartPolicy": _text(_get(pod, "spec.restartPolicy")),
        "spec.schedulerName": _text(_get(pod, "spec.schedulerName")),
        "spec.serviceAccountName": _text(_get(pod, "spec.serviceAccountName")),
        "spec.hostNetwork": _flag(_get(pod, "spec.hostNetwork")),
        "status.phase": _text(_get(pod, "status.phase")),
        "status.podIP": first_ip,
        "status.nominatedNodeName": _text(_get(pod, "status.nominatedNodeName")),
    }


def _core_event_fields(event: Mapping[str, Any]) -> dict[str, str]:
    reporter = _text(event.get("reportingComponent"))
    fields = _meta_fields(event, namespaced=True) | {
        f"involvedObject.{name}": _text(_get(event, f"involvedObject.{name}"))
        for name in _OBJECT_REFERENCE_FIELDS}
    return fields | {
        "reason": _text(event.get("reason")),
        "reportingComponent": reporter,
        "source": _text(_get(event, "source.component")) or reporter,
        "type": _text(event.get("type")),
    }


_OBJECT_REFERENCE_FIELDS: Final = ("kind", "namespace", "name", "uid", "apiVersion",
                                   "resourceVersion", "fieldPath")


@dataclass(frozen=True)
class _FieldLabels:
    """What one resource accepts in a field selector and how it renders its fields."""

    accepted: Mapping[str, str]  # label as sent -> label in the field set
    fields: Callable[[Mapping[str, Any]], Mapping[str, str]]
    refusal: Callable[[str], str]


def _labels(*names: str, **renamed: str) -> Mapping[str, str]:
    return MappingProxyType({name: name for name in names} | renamed)


def _not_supported(label: str) -> str:
    return f"field label not supported: {label}"


def _not_known(label: str) -> str:
    return (f"{_go_quote(label)} is not a known field selector: "
            f'only "metadata.name", "metadata.namespace"')


def _only_meta(*, namespaced: bool) -> _FieldLabels:
    return _FieldLabels(_labels("metadata.name", "metadata.namespace"),
                        lambda obj: _meta_fields(obj, namespaced=namespaced), _not_known)


_EVENTS_V1_LABELS: Final = _labels(
    "reason", "source", "type", "metadata.namespace", "metadata.name",
    reportingController="reportingComponent",
    **{f"regarding.{name}": f"involvedObject.{name}" for name in _OBJECT_REFERENCE_FIELDS})
_FIELD_LABELS: Final[Mapping[str, _FieldLabels]] = MappingProxyType({
    # pkg/apis/core/v1/conversion.go with pkg/registry/core/*/strategy.go
    "pods": _FieldLabels(
        _labels("metadata.name", "metadata.namespace", "spec.nodeName", "spec.restartPolicy",
                "spec.schedulerName", "spec.serviceAccountName", "spec.hostNetwork",
                "status.phase", "status.podIP", "status.podIPs", "status.nominatedNodeName",
                **{"spec.host": "spec.nodeName"}),
        _pod_fields, _not_supported),
    "nodes": _FieldLabels(
        _labels("metadata.name", "spec.unschedulable"),
        lambda node: _meta_fields(node, namespaced=False)
        | {"spec.unschedulable": _flag(_get(node, "spec.unschedulable"))},
        _not_supported),
    "replicationcontrollers": _FieldLabels(
        _labels("metadata.name", "metadata.namespace", "status.replicas"),
        lambda rc: _meta_fields(rc, namespaced=True)
        | {"status.replicas": _count(_get(rc, "status.replicas"))},
        _not_supported),
    "events": _FieldLabels(
        _labels("metadata.name", "metadata.namespace", "reason", "reportingComponent",
                "source", "type",
                *(f"involvedObject.{name}" for name in _OBJECT_REFERENCE_FIELDS)),
        _core_event_fields, _not_supported),
    "namespaces": _FieldLabels(
        _labels("metadata.name", "status.phase"),
        lambda namespace: _meta_fields(namespace, namespaced=False)
        | {"status.phase": _text(_get(namespace, "status.phase"))},
        _not_supported),
    "secrets": _FieldLabels(
        _labels("metadata.name", "metadata.namespace", "type"),
        lambda secret: _meta_fields(secret, namespaced=True)
        | {"type": _text(secret.get("type"))},
        _not_supported),
    "services": _FieldLabels(
        _labels("metadata.name", "metadata.namespace", "spec.clusterIP", "spec.type"),
        lambda service: _meta_fields(service, namespaced=True)
        | {"spec.clusterIP": _text(_get(service, "spec.clusterIP")),
           "spec.type": _text(_get(service, "spec.type"))},
        _not_supported),
    # pkg/apis/batch/v1/conversion.go with pkg/registry/batch/job/strategy.go
    "jobs": _FieldLabels(
        _labels("metadata.name", "metadata.namespace", "status.successful"),
        lambda job: _meta_fields(job, namespaced=True)
        | {"status.successful": _count(_get(job, "status.succeeded"))},
        lambda label: f"field label {_go_quote(label)} not supported for Job"),
})
# pkg/apis/events/v1/conversion.go: the events.k8s.io names map onto the core field set,
# computed from the stored event, which has the core/v1 shape (as the server's internal one).
_EVENTS_V1: Final = _FieldLabels(_EVENTS_V1_LABELS, _core_event_fields, _not_supported)
_CLUSTER_SCOPED: Final = frozenset({
    "nodes", "namespaces", "persistentvolumes", "storageclasses", "clusterroles",
    "clusterrolebindings", "priorityclasses", "customresourcedefinitions",
    "apiservices", "certificatesigningrequests", "ingressclasses", "runtimeclasses",
    "csidrivers", "csinodes", "volumeattachments", "mutatingwebhookconfigurations",
    "validatingwebhookconfigurations",
})
_NAMESPACED_META: Final = _only_meta(namespaced=True)
_CLUSTER_META: Final = _only_meta(namespaced=False)


def _rules(resource: str, group: str) -> _FieldLabels:
    """The field label rules of a resource; every other one gets the metadata defaults.

    The defaults are ``runtime.DefaultMetaV1FieldSelectorConversion``: ``metadata.name``
    and ``metadata.namespace`` accepted (the latter never set on a cluster-scoped
    object). That is also what apps/v1 ReplicaSets get: the API server has no
    conversion registered for their ``status.replicas`` and refuses it.
    """
    if resource == "events" and group == "events.k8s.io":
        return _EVENTS_V1
    rules = _FIELD_LABELS.get(resource)
    if rules is not None:
        return rules
    return _CLUSTER_META if resource in _CLUSTER_SCOPED else _NAMESPACED_META
