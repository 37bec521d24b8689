"""Field specs: the one description of the runbook format that validates and documents it.

Each spec turns a positioned YAML `Node` into a Python value, or records a `file:line:col`
problem and returns `INVALID` so that checking goes on and every problem of a file is
reported in one run. The same specs produce the JSON Schema (`schema()`), so the editor
schema can never drift from what the loader accepts. Actions declare their params with
these specs too.

Neighbours: `format` assembles the runbook's specs; `loader` runs them; `actions`
(a layer above) uses `Obj` for params.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from healer.errors import RunbookError
from healer.runbook.source import Node, Position


class _Invalid:
    def __repr__(self) -> str:
        return "INVALID"


INVALID: Any = _Invalid()  # what a conversion returns after recording a problem
MISSING: Any = object()  # a field's default when it has none
LARGEST = 2**63 - 1  # int64, as Kubernetes: no whole number in a runbook is meant larger


class Issues:
    """Problems found so far, in file order."""

    def __init__(self) -> None:
        self.errors: list[RunbookError] = []

    def add(self, position: Position, message: str) -> Any:
        self.errors.append(position.error(message))
        return INVALID


class Spec(Protocol):
    def convert(self, node: Node, where: str, issues: Issues) -> Any: ...

    def schema(self) -> dict[str, Any]: ...


def _kind_of(node: Node) -> str:
    value = node.value
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, int) and abs(value) > LARGEST:  # maybe too long for str()
        return f"a{' negative' if value < 0 else ''} number with more than 18 digits"
    if isinstance(value, int | float):
        return f"{value} (a number)"
    return repr(value)


def expected(node: Node, where: str, what: str, issues: Issues, *, text: bool = False) -> Any:
    """Record a value of the wrong type; `text`: a word was expected (hint at booleans)."""
    return issues.add(node.position, f"{where}: expected {what}, got {_kind_of(node)}"
                                     + (_boolean_hint(node) if text else ""))


def _boolean_hint(node: Node) -> str:
    """Where a word is expected: YAML 1.1 reads unquoted yes, no, on and off as booleans."""
    if not isinstance(node.value, bool):
        return ""
    return "; YAML reads unquoted yes/no/on/off/true/false as booleans: quote text"


@dataclass(frozen=True)
class Str:
    description: str = ""
    pattern: str | None = None
    pattern_hint: str = ""  # said instead of the regex when the pattern does not match
    max_length: int | None = None
    allow_empty: bool = False
    explain: Callable[[str], str | None] | None = None  # why a text fails the pattern

    def convert(self, node: Node, where: str, issues: Issues) -> Any:
        if not isinstance(node.value, str):
            return expected(node, where, "a string", issues, text=True)
        text = node.value
        if not text and not self.allow_empty:
            return issues.add(node.position, f"{where}: must not be empty")
        if self.max_length is not None and len(text) > self.max_length:
            return issues.add(node.position, f"{where}: must be at most {self.max_length} "
                                             f"characters long, got {len(text)}")
        if self.pattern is not None and not re.fullmatch(self.pattern, text):
            reason = self.explain(text) if self.explain is not None else None
            return issues.add(node.position, f"{where}: {text!r} " + (
                f"{reason}: expected {self.pattern_hint}" if reason else
                f"is not {self.pattern_hint}"))
        return text

    def schema(self) -> dict[str, Any]:
        result: dict[str, Any] = {"type": "string"}
        if not self.allow_empty:
            result["minLength"] = 1
        if self.pattern is not None:
            result["pattern"] = f"^(?:{self.pattern})$"
        if self.max_length is not None:
            result["maxLength"] = self.max_length
        return _described(result, self.description)


@dataclass(frozen=True)
class Int:
    description: str = ""
    minimum: int | None = None
    maximum: int | None = None

    def convert(self, node: Node, where: str, issues: Issues) -> Any:
        value = node.value
        if isinstance(value, bool) or not isinstance(value, int):
            return expected(node, where, "a whole number", issues)
        if abs(value) > LARGEST:  # too long to print, and never meant
            bound = (f"at most {self.maximum if self.maximum is not None else LARGEST}"
                     if value > 0 else
                     f"at least {self.minimum if self.minimum is not None else -LARGEST}")
            return issues.add(node.position, f"{where}: must be {bound}, got {_kind_of(node)}")
        if self.minimum is not None and value < self.minimum:
            return issues.add(node.position, f"{where}: must be at least {self.minimum}, "
                                             f"got {value}")
        if self.maximum is not None and value > self.maximum:
            return issues.add(node.position, f"{where}: must be at most {self.maximum}, "
                                             f"got {value}")
        return value

    def schema(self) -> dict[str, Any]:
        result: dict[str, Any] = {"type": "integer"}
        if self.minimum is not None:
            result["minimum"] = self.minimum
        if self.maximum is not None:
            result["maximum"] = self.maximum
        return _described(result, self.description)


@dataclass(frozen=True)
class Bool:
    description: str = ""

    def convert(self, node: Node, where: str, issues: Issues) -> Any:
        if not isinstance(node.value, bool):
            quoted = isinstance(node.value, str) and node.value.lower() in ("true", "false")
            return issues.add(node.position, f"{where}: expected true or false, got "
                                             f"{_kind_of(node)}"
                                             + ("; remove the quotes" if quoted else ""))
        return node.value

    def schema(self) -> dict[str, Any]:
        return _described({"type": "boolean"}, self.description)


@dataclass(frozen=True)
class Choice:
    values: tuple[str, ...]
    description: str = ""

    def convert(self, node: Node, where: str, issues: Issues) -> Any:
        if isinstance(node.value, str) and node.value in self.values:
            return node.value
        if len(self.values) == 1:
            return expected(node, where, self.values[0], issues, text=True)
        message = f"{where}: expected one of {', '.join(self.values)}, got {_kind_of(node)}"
        return issues.add(node.position, message + (did_you_mean(node.value, self.values)
                                                    or _boolean_hint(node)))

    def schema(self) -> dict[str, Any]:
        return _described({"enum": list(self.values)}, self.description)


@dataclass(frozen=True)
class Parsed:
    """A string parsed by `parse`; its errors carry an `offset` into the text."""

    parse: Callable[[Any], Any]  # called with the scalar (a str unless `scalars` widens it)
    errors: tuple[type[Exception], ...]
    what: str  # "an Alertmanager matcher", "a template" ...
    description: str = ""
    json: Mapping[str, Any] = field(default_factory=lambda: {"type": "string"})
    scalars: tuple[type, ...] = (str,)  # YAML scalar types accepted (ints for `75` ...)
    # a parsed value as a runbook writes it (600.0 → "10m"): how the schema shows a default
    written: Callable[[Any], Any] | None = None

    def convert(self, node: Node, where: str, issues: Issues) -> Any:
        if isinstance(node.value, bool) or not isinstance(node.value, self.scalars):
            return expected(node, where, self.what, issues)
        try:
            return self.parse(node.value)
        except self.errors as error:
            offset = int(getattr(error, "offset", 0) or 0)
            position = node.text_position(offset) if isinstance(node.value, str) else node.position
            return issues.add(position, f"{where}: {error}")

    def schema(self) -> dict[str, Any]:
        return _described(dict(self.json), self.description)


@dataclass(frozen=True)
class ListOf:
    item: Spec
    min_items: int = 0
    description: str = ""

    def convert(self, node: Node, where: str, issues: Issues) -> Any:
        if not isinstance(node.value, list):
            if isinstance(node.value, str) and node.value:  # one item, not in a list
                return issues.add(node.position, f"{where}: expected a list, got "
                                                 f"{node.value!r}; for one item, write "
                                                 f"[{node.value!r}]")
            return expected(node, where, "a list", issues)
        if len(node.value) < self.min_items:
            return issues.add(node.position, f"{where}: needs at least {self.min_items} "
                                             f"item{'s' if self.min_items > 1 else ''}")
        items = [self.item.convert(item, f"{where}[{i}]", issues)
                 for i, item in enumerate(node.value)]
        return INVALID if any(i is INVALID for i in items) else tuple(items)

    def schema(self) -> dict[str, Any]:
        result: dict[str, Any] = {"type": "array", "items": self.item.schema()}
        if self.min_items:
            result["minItems"] = self.min_items
        return _described(result, self.description)


@dataclass(frozen=True)
class MapOf:
    """A free-form mapping of strings to strings (labels). A number is refused rather than
    read as text: YAML has already changed how it was written (`1.10` is 1.1, `0x1F` 31)."""

    description: str = ""
    values: str = "values"  # what the values are called in messages

    def convert(self, node: Node, where: str, issues: Issues) -> Any:
        if not isinstance(node.value, dict):
            return expected(node, where, "a mapping of strings", issues)
        result: dict[str, str] = {}
        failed = False
        for key, (_, value) in node.value.items():
            if isinstance(value.value, str):
                result[key] = value.value
                continue
            failed = True
            written = value.span.written if value.span is not None else ""
            if (isinstance(value.value, int | float) and not isinstance(value.value, bool)
                    and 0 < len(written) <= 63 and "'" not in written):
                issues.add(value.position, f"{where}.{key}: {self.values} are strings: "
                                           f"quote it ('{written}')")
            else:
                expected(value, f"{where}.{key}", "a string", issues, text=True)
        return INVALID if failed else result

    def schema(self) -> dict[str, Any]:
        return _described({"type": "object", "additionalProperties": {"type": "string"}},
                          self.description)


@dataclass(frozen=True)
class Field:
    spec: Spec
    required: bool = False
    default: Any = MISSING


@dataclass(frozen=True)
class Obj:
    """A mapping with known keys; unknown keys are errors with a did-you-mean hint.

    `exactly_one` lists groups of keys of which exactly one must be present; `build` turns
    the converted values (by snake_case name) into the model object. A key misspelt
    with a did-you-mean hint is not reported missing too: the hint already says it. An
    `Obj` without fields says its `description` ("cordon takes no params") for a key.
    """

    fields: Mapping[str, Field]
    description: str = ""
    exactly_one: tuple[tuple[str, ...], ...] = ()
    build: Callable[..., Any] | None = None

    def convert(self, node: Node, where: str, issues: Issues) -> Any:
        place = where or "the document"
        if not isinstance(node.value, dict):
            return expected(node, place, "a mapping" if where else
                             f"a mapping with {', '.join(self.fields)}", issues)
        values: dict[str, Any] = {}
        failed = False
        hinted: set[str] = set()  # known keys a misspelt key was said to mean
        for key, (key_node, value_node) in node.value.items():
            spec = self.fields.get(key)
            if spec is None:
                meant = closest(key, self.fields)
                hint = f" (did you mean '{meant}'?)" if meant else ""
                if meant:
                    hinted.add(meant)
                elif not self.fields and self.description:
                    hint = f" ({self.description})"
                issues.add(key_node.position, f"unknown key '{key}' in {place}{hint}")
                failed = True
                continue
            converted = spec.spec.convert(value_node, f"{where}.{key}" if where else key,
                                          issues)
            failed |= converted is INVALID
            values[key] = converted
        for key, spec in self.fields.items():
            if key in values:
                continue
            if spec.required:
                if key not in hinted:
                    issues.add(node.position, f"missing required key '{key}' in {place}")
                failed = True
            elif spec.default is not MISSING:
                values[key] = spec.default
        for group in self.exactly_one:
            present = [k for k in group if k in node.value]
            if not present and hinted.intersection(group):
                failed = True  # a misspelt one, reported with its hint
            elif len(present) != 1:
                said = ("none" if not present else
                        f"{', '.join(present[:-1])} and {present[-1]}")
                issues.add(node.position, f"{place}: needs exactly one of "
                                          f"{', '.join(group)}; got {said}")
                failed = True
        if failed:
            return INVALID
        arguments = {_snake(k): v for k, v in values.items()}
        return self.build(**arguments) if self.build is not None else arguments

    def schema(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "type": "object",
            "properties": {k: _with_default(f.spec.schema(), _written(f.spec, f.default))
                           for k, f in self.fields.items()},
            "additionalProperties": False,
        }
        required = [k for k, f in self.fields.items() if f.required]
        if required:
            result["required"] = required
        if self.exactly_one:
            result["allOf"] = [{"oneOf": [{"required": [k]} for k in group]}
                               for group in self.exactly_one]
        return _described(result, self.description)


@dataclass(frozen=True)
class Checked:
    """Another spec plus a check across its fields (e.g. min <= max): `check` returns a
    problem to report at the value's position, or None."""

    inner: Spec
    check: Callable[[Any], str | None]

    def convert(self, node: Node, where: str, issues: Issues) -> Any:
        value = self.inner.convert(node, where, issues)
        if value is INVALID:
            return INVALID
        problem = self.check(value)
        return issues.add(node.position, f"{where}: {problem}") if problem else value

    def schema(self) -> dict[str, Any]:
        return self.inner.schema()


def did_you_mean(word: object, choices: Any) -> str:
    close = closest(word, choices)
    return f" (did you mean '{close}'?)" if close else ""


def closest(word: object, choices: Any) -> str | None:
    """The choice `word` is most likely a misspelling of, if any is close enough."""
    if not isinstance(word, str):
        return None
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return close[0] if close else None


@functools.lru_cache(maxsize=1024)  # field names: a small, fixed set
def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _described(schema: dict[str, Any], description: str) -> dict[str, Any]:
    if description:
        schema["description"] = description
    return schema


def _written(spec: Spec, default: Any) -> Any:
    """A field's default as a runbook writes it (a duration as "10m", not 600.0)."""
    if isinstance(spec, Parsed) and spec.written is not None and default is not MISSING:
        return spec.written(default)
    return default


def _with_default(schema: dict[str, Any], default: Any) -> dict[str, Any]:
    if default is not MISSING and isinstance(default, str | int | float | bool | tuple):
        schema = {**schema, "default": list(default) if isinstance(default, tuple) else default}
    return schema
