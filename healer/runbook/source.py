"""YAML with positions: every value of a runbook file keeps the line and column it came from.

The parser's events (libyaml's, when PyYAML ships it) are built into `Node`s holding plain
values (str, int, float, bool, None, lists and dicts of `Node`s) and a `Position`, so the
loader can say `runbooks/x.yaml:12:7: ...` for any mistake, however deep, and inside a
value, however it is written (escapes, folded lines, `|` and `>` blocks). Scalars get
exactly the values `yaml.safe_load` would give. Duplicate keys, which YAML parsers usually
let the last one win, are errors here.

Neighbours: `loader` reads `Node`s; `errors.RunbookError` carries the positions.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, NamedTuple

import yaml
from yaml.constructor import ConstructorError, SafeConstructor

from healer.errors import RunbookError

# libyaml's parser is several times faster (start-up loads every runbook); PyYAML ships
# it in its wheels, the pure-Python parser is the fallback.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_STR_TAG = "tag:yaml.org,2002:str"
_MERGE_TAG = "tag:yaml.org,2002:merge"
# Runbooks nest a few levels; far deeper input is hostile or broken, and would exhaust
# Python's stack here or in the loader.
_MAX_DEPTH = 100


class Position(NamedTuple):
    """Where a value starts. (Named tuples: a file has tens of thousands of these.)"""

    path: str
    line: int  # 1-based
    column: int  # 1-based

    def error(self, message: str, offset: int = 0) -> RunbookError:
        return RunbookError(self.path, self.line, self.column + offset, message)


class Span(NamedTuple):
    """Where a scalar is written in its file. Kept only for the scalars whose characters
    cannot be found by counting from where they start (quoted ones with escapes, ones
    written over several lines, block scalars), and for those YAML read as something
    other than a string (a number, a boolean: their text is what to quote)."""

    text: str  # the whole file (shared, not copied)
    start: int  # index of the scalar's first character: a quote, `|`, `>`, or its text
    end: int
    style: str | None  # None (plain), "'", '"', "|" or ">"

    @property
    def written(self) -> str:
        return self.text[self.start:self.end]


class Node(NamedTuple):
    """A YAML value and where it starts. Mappings hold (key node, value node) pairs."""

    value: Any  # str | int | float | bool | None | list[Node] | dict[str, tuple[Node, Node]]
    position: Position
    quoted: bool = False  # a quoted scalar: its text starts one column after `position`
    span: Span | None = None  # see `Span`; None: each character is where counting says

    @property
    def is_mapping(self) -> bool:
        return isinstance(self.value, dict)

    @property
    def is_sequence(self) -> bool:
        return isinstance(self.value, list)

    @property
    def is_scalar(self) -> bool:
        return not (self.is_mapping or self.is_sequence)

    def text_position(self, offset: int) -> Position:
        """Where character `offset` of this scalar's value is written (for errors inside a
        value); the start of the scalar where that cannot be known for sure."""
        if self.span is None:
            shift = offset + (1 if self.quoted else 0)
            return Position(self.position.path, self.position.line,
                            self.position.column + shift)
        places = (_places(self.span, self.position, self.value)
                  if isinstance(self.value, str) else None)
        if places is None:
            return self.position
        line, column = places[max(0, min(offset, len(places) - 1))]
        return Position(self.position.path, line, column)

    def plain(self) -> Any:
        """The value without positions (for hashing and messages)."""
        if isinstance(self.value, list):
            return [item.plain() for item in self.value]
        if isinstance(self.value, dict):
            return {key: value.plain() for key, (_, value) in self.value.items()}
        return self.value


class Document(NamedTuple):
    """One YAML document of a file, and the problems found building it (duplicate keys,
    keys that are not strings). `complete` is False when a problem left a part out."""

    node: Node
    problems: tuple[RunbookError, ...] = ()
    complete: bool = True


def load_documents(text: str, path: str) -> list[Document]:
    """Every YAML document of `text`, as positioned nodes; RunbookError for broken YAML."""
    text = text.removeprefix("\ufeff")  # a BOM: libyaml's indexes would not count it
    try:
        return _Builder(path, text).documents(yaml.parse(text, Loader=_LOADER))
    except yaml.MarkedYAMLError as error:
        line, column, message = _syntax_error(error, text)
        raise RunbookError(path, line, column, f"invalid YAML: {message}") from None
    except yaml.reader.ReaderError as error:  # a character YAML does not allow
        index = _character_index(text, error.position)
        line = text.count("\n", 0, index) + 1
        column = index - text.rfind("\n", 0, index)
        raise RunbookError(path, line, column, f"invalid YAML: the character "
                           f"U+{error.character:04X} is not allowed; remove it") from None
    except yaml.YAMLError as error:
        raise RunbookError(path, 1, 1, f"invalid YAML: {error}") from None


def _character_index(text: str, position: int) -> int:
    """The index in `text` of a reader error's position. libyaml is given the text as
    UTF-8 and counts bytes; PyYAML's own reader counts characters."""
    if _LOADER is yaml.SafeLoader:
        return position
    return len(text.encode("utf-8", "surrogatepass")[:position].decode("utf-8", "ignore"))


# What the parser was reading when it failed, as a YAML author names it.
_CONTEXTS = {
    "while scanning a quoted scalar": "the quoted string",
    "while parsing a flow mapping": "the {...} mapping",
    "while parsing a flow sequence": "the [...] list",
    "while parsing a block mapping": "the mapping",
    "while parsing a block collection": "the list",
}


def _syntax_error(error: yaml.MarkedYAMLError, text: str) -> tuple[int, int, str]:
    """Line, column and message for a parser error: what is wrong, and what to look at."""
    problem, context = error.problem or "", error.context or ""
    mark, opened = error.problem_mark or error.context_mark, error.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    lines = text.splitlines()
    char = lines[line - 1][column - 1:column] if line <= len(lines) else ""
    if context == "while scanning a quoted scalar" and "end of stream" in problem and opened:
        return (opened.line + 1, opened.column + 1,
                "this quoted string is never closed (no closing quote before the end of "
                "the file)")
    if char == "\t" or "tab character" in problem:
        return line, column, "a tab character here: indent with spaces, never tabs"
    if "cannot start any token" in problem:
        return line, column, (f"{char!r} cannot start a plain value: quote the value"
                              if char else problem)
    if problem == "mapping values are not allowed in this context":
        return line, column, ("a ':' YAML cannot place here: quote a value that contains "
                              "': ', or, if this line is a key, indent it like the keys "
                              "above it")
    if problem == "did not find expected key" and context == "while parsing a block mapping":
        return line, column, ("this line is not lined up with the keys of any mapping "
                              "above it: check its indentation")
    message = problem or context or "invalid YAML"
    if opened and context in _CONTEXTS and (opened.line, opened.column) != (
            mark.line if mark else -1, mark.column if mark else -1):
        message += (f", in {_CONTEXTS[context]} that starts at line {opened.line + 1}, "
                    f"column {opened.column + 1}")
    return line, column, message


class _Builder:
    """Builds `Node`s straight from the parser's events, in one pass.

    PyYAML's composer would first build its own node tree and resolve every scalar's tag;
    here plain scalars are resolved (with PyYAML's own YAML 1.1 resolvers and
    constructors, so values are exactly what `yaml.safe_load` gives) and quoted ones are
    taken as strings. Anchors, aliases and `<<` merge keys are supported.
    """

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.text = text
        self.anchors: dict[str, Node] = {}
        self.constructor = SafeConstructor()
        self.resolver = yaml.resolver.Resolver()
        self.problems: list[RunbookError] = []  # of the current document
        self.complete = True
        self.depth = 0  # of mappings and lists around the current node

    def documents(self, events: Iterator[yaml.Event]) -> list[Document]:
        found: list[Document] = []
        for event in events:
            if isinstance(event, yaml.DocumentStartEvent):
                self.anchors.clear()
                self.problems, self.complete = [], True
                node = self.node(next(events), events)
                if node.value is not None:  # an empty document (a stray ---) is skipped
                    found.append(Document(node, tuple(self.problems), self.complete))
        return found

    def node(self, event: yaml.Event, events: Iterator[yaml.Event]) -> Node:
        mark = event.start_mark
        assert mark is not None  # the parser marks every event
        position = Position(self.path, mark.line + 1, mark.column + 1)
        if isinstance(event, yaml.ScalarEvent):
            result = self.scalar(event, position)
        elif isinstance(event, yaml.AliasEvent):
            if event.anchor not in self.anchors:
                raise position.error(f"unknown alias '*{event.anchor}'")
            return self.anchors[event.anchor]
        elif isinstance(event, yaml.CollectionStartEvent):
            if self.depth == _MAX_DEPTH:
                raise position.error(f"nested more than {_MAX_DEPTH} levels deep")
            self.depth += 1
            if isinstance(event, yaml.MappingStartEvent):
                result = self.mapping(position, events)
            else:
                items = []
                for item in events:
                    if isinstance(item, yaml.SequenceEndEvent):
                        break
                    items.append(self.node(item, events))
                result = Node(items, position)
            self.depth -= 1
        else:  # DocumentEndEvent right after DocumentStart: an empty document
            return Node(None, position)
        anchor = getattr(event, "anchor", None)
        if anchor:
            self.anchors[anchor] = result
        return result

    def mapping(self, position: Position, events: Iterator[yaml.Event]) -> Node:
        pairs: dict[str, tuple[Node, Node]] = {}
        merged: dict[str, tuple[Node, Node]] = {}
        for event in events:
            if isinstance(event, yaml.MappingEndEvent):
                break
            key = self.node(event, events)
            value = self.node(next(events), events)
            if key.value == "<<" and isinstance(event, yaml.ScalarEvent) and not event.style:
                for source in value.value if isinstance(value.value, list) else [value]:
                    if not isinstance(source.value, dict):
                        raise source.position.error("a << merge takes a mapping or a list "
                                                    "of mappings")
                    merged = {**source.value, **merged}
                continue
            if not isinstance(key.value, str):
                # `{{ x }}` unquoted: a mapping whose key is the mapping `{ x }`
                braces = (position.line, position.column + 1) == key.position[1:]
                at = position if braces and key.is_mapping else key.position
                self.problems.append(at.error(_not_a_string(key, event)))
                self.complete = False
                continue
            if key.value in pairs:  # the first one is kept; either may be the mistake
                first = pairs[key.value][0].position
                self.problems.append(key.position.error(
                    f"duplicate key '{key.value}': also at line {first.line}, column "
                    f"{first.column}; keep one"))
                continue
            pairs[key.value] = (key, value)
        return Node({**merged, **pairs}, position)

    def span(self, event: yaml.ScalarEvent, value: Any) -> Span | None:
        """The scalar's `Span`, for those that need one (see `Span`)."""
        start, end = event.start_mark, event.end_mark
        assert start is not None
        assert end is not None
        if start.line == end.line and isinstance(value, str) and (
                not event.style or end.index - start.index == len(value) + 2):
            return None  # one line, no escapes (a plain or quoted string): counting finds it
        return Span(self.text, start.index, end.index, event.style or None)

    def scalar(self, event: yaml.ScalarEvent, position: Position) -> Node:
        quoted = event.style in ("'", '"')
        plain_text, _ = event.implicit
        tag = event.tag if event.tag not in (None, "!") else (
            self.resolver.resolve(yaml.ScalarNode, event.value,  # type: ignore[no-untyped-call]
                                  (plain_text, False))
            if plain_text else _STR_TAG)
        if tag in (_STR_TAG, _MERGE_TAG):  # a merge key stays "<<": `mapping` merges
            return Node(event.value, position, quoted, self.span(event, event.value))
        try:
            value = self.constructor.construct_object(
                yaml.ScalarNode(tag, event.value, style=event.style), deep=True)
        except ConstructorError as error:
            raise position.error(f"invalid value: {error.problem}") from None
        except (ValueError, KeyError, AttributeError, IndexError):  # `!!int nope`, `!!int` ...
            raise position.error(f"invalid value for {tag.rsplit(':', 1)[-1]}: "
                                 f"{event.value!r}") from None
        if not isinstance(value, str | int | float | bool | type(None)):
            value = event.value  # timestamps, binary ...: kept as the text written
        return Node(value, position, quoted,
                    self.span(event, value) if value is not None else None)


# Where each character of a value is written -----------------------------------------------
#
# Folding (a line break read as a space), escapes and block indentation move a value's
# characters away from where counting from the scalar's start puts them. These functions
# redo libyaml's scanning (scan_flow_scalar, scan_plain_scalar, scan_block_scalar) with a
# place for every character, and check that the characters come out as the parser's value:
# a place is only given when it is certain. Only errors call them.

Place = tuple[int, int]  # line, column; 1-based
_Placed = list[tuple[str, int, int]]  # character, line, column
_ESCAPES = yaml.scanner.Scanner.ESCAPE_REPLACEMENTS
_HEX_ESCAPES = yaml.scanner.Scanner.ESCAPE_CODES  # x, u, U: how many hex digits follow
_BLOCK_HEADER = re.compile(r"[|>](?:[1-9][+-]?|[+-][1-9]?)?")


def _places(span: Span, position: Position, value: str) -> list[Place] | None:
    """The place of each character of `value`, then of its end; None if not certain."""
    source = span.written
    if any(char in source for char in "\x85\u2028\u2029"):
        return None  # line breaks to libyaml, not to editors
    if span.style in ("|", ">"):
        placed = _block_places(source, position.line, value)
    else:
        placed = _flow_places(source, span.style, position.line, position.column)
    if placed is None or "".join(char for char, _, _ in placed[:-1]) != value:
        return None
    return [(line, column) for _, line, column in placed]


def _flow_places(source: str, style: str | None, line: int, column: int) -> _Placed | None:
    """A plain or quoted scalar's characters and their places, then its end (the closing
    quote). Lines are joined as YAML folds them: a line break between text is a space, n
    breaks are n - 1 newlines, blanks around a break are dropped."""
    if style in ("'", '"'):
        if len(source) < 2 or not source[0] == source[-1] == style:
            return None
        source, column = source[1:-1], column + 1
    placed: _Placed = []
    blanks: _Placed = []  # spaces and tabs after text on the current line
    folding = False  # between lines: after a line break, before the next text
    first_break: Place | None = None  # the break that ended the text (None: escaped)
    breaks: list[Place] = []  # the breaks after it: empty lines

    def settle() -> None:
        nonlocal blanks, folding, first_break, breaks
        if not folding:
            placed.extend(blanks)
        elif first_break is not None and not breaks:
            placed.append((" ", *first_break))
        else:
            placed.extend(("\n", *place) for place in breaks)
        blanks, folding, first_break, breaks = [], False, None, []

    i = 0
    while i < len(source):
        char = source[i]
        if char in " \t":
            if not folding:
                blanks.append((char, line, column))
            i, column = i + 1, column + 1
            continue
        if char in "\r\n":
            if folding:
                breaks.append((line, column))
            else:
                blanks, folding, first_break = [], True, (line, column)
            i += 2 if source.startswith("\r\n", i) else 1
            line, column = line + 1, 1
            continue
        settle()
        if style == '"' and char == "\\" and source[i + 1:i + 2] in ("\r", "\n"):
            i += 3 if source.startswith("\r\n", i + 1) else 2  # an escaped line break:
            line, column, folding = line + 1, 1, True  # the lines join without a space
            continue
        read = _character(source, i, style)
        if read is None:
            return None
        placed.append((read[0], line, column))
        i, column = i + read[1], column + read[1]
    settle()
    placed.append(("", line, column))
    return placed


def _character(source: str, i: int, style: str | None) -> tuple[str, int] | None:
    """The value character written at `i` of a scalar's text (an escape in a double-quoted
    one, `''` in a single-quoted one), and how long it is written; None if it cannot be
    there."""
    char = source[i]
    if char != style and not (style == '"' and char == "\\"):
        return char, 1
    if style == "'":
        return ("'", 2) if source[i + 1:i + 2] == "'" else None
    escaped = source[i + 1:i + 2]  # after a backslash (a lone " is None below)
    if char == "\\" and escaped in _ESCAPES:
        return _ESCAPES[escaped], 2
    if char != "\\" or escaped not in _HEX_ESCAPES:
        return None
    length = 2 + _HEX_ESCAPES[escaped]
    try:
        return chr(int(source[i + 2:i + length], 16)), length
    except ValueError:
        return None


def _block_places(source: str, line: int, value: str) -> _Placed | None:
    """A block scalar's (`|`, `>`) characters and their places, then its end. Its
    indentation is the first text line's, or, with an indentation indicator (`|2`),
    whichever of the possible ones gives the parser's value."""
    header = _BLOCK_HEADER.match(source)
    lines = re.split(r"\r\n|\r|\n", source)
    if header is None or len(lines) < 2:
        return None
    body = lines[1:]  # the last one has no line break: the rest of the source after it
    first = next((text for text in body if text.strip(" ")), "")
    indent = len(first) - len(first.lstrip(" "))
    tried = range(indent, 0, -1) if any(c.isdigit() for c in header.group()) else [indent]
    for candidate in tried:
        placed = _block_lines(body, line + 1, candidate, header.group())
        if "".join(char for char, _, _ in placed[:-1]) == value:
            return placed
    return None


def _block_lines(body: list[str], line: int, indent: int, header: str) -> _Placed:
    """`_block_places` for one indentation."""
    placed: _Placed = []
    end: Place = (line, 1)
    last_break: Place | None = None  # the line break after the last text line
    breaks: list[Place] = []  # the empty lines' breaks since
    leading_blank = False  # the last text line started with a space or a tab
    for number, text in enumerate(body, line):
        has_break = number < line + len(body) - 1
        if len(text) <= indent and not text.strip(" "):  # an empty line
            if has_break:
                breaks.append((number, len(text) + 1))
            continue
        if len(text) - len(text.lstrip(" ")) < indent:  # less indented: the scalar ended
            break
        content = text[indent:]
        blank = content[0] in " \t"
        if last_break is not None:
            if header[0] == ">" and not leading_blank and not blank:
                if not breaks:
                    placed.append((" ", *last_break))
            else:
                placed.append(("\n", *last_break))
        placed.extend(("\n", *place) for place in breaks)
        placed.extend((char, number, indent + 1 + j) for j, char in enumerate(content))
        end = (number, len(text) + 1)
        breaks, leading_blank = [], blank
        last_break = end if has_break else None
    if "-" not in header and last_break is not None:
        placed.append(("\n", *last_break))
    if "+" in header:
        placed.extend(("\n", *place) for place in breaks)
    placed.append(("", *end))
    return placed


def _not_a_string(key: Node, event: yaml.Event) -> str:
    """Why a mapping key is refused: every key of a runbook is a string."""
    if key.is_mapping:
        return ('a mapping cannot be a key; if this is a template, quote it, as in '
                '"{{ labels.pod }}" (unquoted, "{{" starts a YAML mapping)')
    if key.is_sequence:
        return "a list cannot be a key: keys are strings"
    written = (event.value if isinstance(event, yaml.ScalarEvent)
               else f"*{getattr(event, 'anchor', '')}")  # an alias
    kind = ("null" if key.value is None else "a boolean" if isinstance(key.value, bool)
            else "a number")
    return f"key '{written}' is read by YAML as {kind}, not a string: quote it (\"{written}\": ...)"
