r"""Alertmanager's label matchers, as runbooks write them: ``severity=~"warning|critical"``.

A runbook selects the alerts it handles with the matchers an operator already writes in
Alertmanager's routes, inhibit rules and silences, and it must select exactly the alerts
Alertmanager would. This module parses one matcher (`parse_matcher`), prints it back
(`str(matcher)`, Alertmanager's canonical form) and tests it against an alert's labels
(`Matcher.matches`). It is pure: no I/O, no clock, no module-level mutable state.

Neighbours: the runbook loader calls `parse_matcher` for each entry of a trigger's
``matchers`` list and turns a `MatcherError` (message plus column) into a ``RunbookError``
at ``file:line:col``; the engine calls `Matcher.matches` on every signal, so each regex is
translated and compiled once, here, when the matcher is parsed.

Which syntax
------------
Alertmanager (0.27 on) has two matcher parsers: the UTF-8 parser (``matcher/parse``; the
only one under ``--enable-feature=utf8-strict-mode``) and the classic parser
(``pkg/labels``), which its default mode falls back to, logging a deprecation warning,
whenever the UTF-8 parser rejects the text *or reads it differently*. healer accepts
exactly the matchers on which both modes agree, so a runbook means one thing to every
Alertmanager, today's and the strict one to come:

- The grammar is the UTF-8 parser's: ``name op value``, whitespace (Go's
  ``unicode.IsSpace``) allowed around each token; ``op`` is ``=``, ``!=``, ``=~`` or
  ``!~``. A name or value is either unquoted, a run of characters other than whitespace
  and ``{ } ! = ~ , \ " ' ``` ``, or double-quoted with Go's string escapes (``\"``,
  ``\\``, ``\n``, ``\t``, ``\xff``, ``\u00e9``, ...; no raw newline inside the quotes).
  So label names are any UTF-8 text, quoted when it holds a reserved character
  (``"service.name"="api"``), not only Prometheus' classic ``[a-zA-Z_][a-zA-Z0-9_]*``,
  because Alertmanager accepts them and Prometheus 3 emits them.
- Text the UTF-8 parser rejects is rejected, even where the classic fallback would take
  it (``foo=bar baz``, ``foo=~"\d+"``, ``foo=``); the error says what the classic parser
  would have read (``foo=~"\\d+"``), so the fix is a copy-paste.
- Text both parsers accept but read differently is rejected as ambiguous: ``foo="\t"`` is
  a tab to one and backslash-t to the other, and Alertmanager's default mode takes the
  classic reading.
- One matcher per text: no braces, no comma-separated list.

Regexes
-------
Alertmanager compiles ``"^(?:" + value + ")$"`` with Go's ``regexp`` (RE2 syntax) and
reports a match when that regex finds one. Note the string concatenation: a value such
as ``a)|(b`` is valid and means "starts with a, or ends with b". healer parses that same
string with an RE2 parser written from the rules of Go's ``regexp/syntax``, rejects what
Go rejects, with Go's message and a hint where Python users expect something RE2 lacks
(lookaround, backreferences, possessive quantifiers, atomic groups, ``\Z``), and emits an
equivalent Python pattern. Where the two dialects spell the same thing differently the
translation follows Go: ``$`` is the end of the text, not "before a final newline";
``\d``, ``\s``, ``\w`` and ``\b`` are ASCII (``\s`` without ``\v``); ``x{,3}`` and
``x{01}`` are literal text; ``(?U)`` swaps greediness; ``(?i)`` uses Unicode simple case
folding (``k`` matches the Kelvin sign U+212A, ``i`` does not match the dotless U+0131).

Known limits, each one refusing a runbook rather than changing what it matches:

- ``\p{...}`` / ``\pL`` Unicode classes are refused: Python has no tables for them.
- Go refuses regexes nested more than 1000 levels or compiling to more than ~3.3 million
  instructions; healer refuses past 200 levels (Python's ``re`` recurses) and estimates
  the size on its own tree, which can differ from Go's at the boundary.
- Case folding and the classes above follow the Unicode version of the Python running
  healer, which can lag or lead Go's by a version.
- Python's ``re`` backtracks where RE2 runs in linear time: a regex such as ``(a+)+b``
  can take exponential time on a hostile label value. Keep runbook regexes simple.
"""

from __future__ import annotations

import bisect
import enum
import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from healer.errors import HealerError

__all__ = ["MatchType", "Matcher", "MatcherError", "parse_matcher"]


class MatcherError(HealerError, ValueError):
    """A matcher's text is invalid: `message` says what, `offset` where.

    `offset` is the 0-based column (a character index) within the matcher text where the
    problem is. For a `Matcher` built directly rather than parsed, it indexes the value.
    """

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


class MatchType(enum.Enum):
    """How a matcher compares a label's value: Alertmanager's four operators."""

    EQUAL = "="
    NOT_EQUAL = "!="
    REGEX = "=~"
    NOT_REGEX = "!~"


@dataclass(frozen=True, slots=True)
class Matcher:
    """One label matcher: `name`, an operator and a `value` (a regex for ``=~``/``!~``).

    Building one compiles its regex, so a bad regex raises `MatcherError` here, with an
    offset into `value`. Equality and hashing use name, type and value only.
    """

    name: str
    type: MatchType
    value: str
    _regex: re.Pattern[str] | None = field(
        init=False, default=None, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        if self.type in (MatchType.REGEX, MatchType.NOT_REGEX):
            object.__setattr__(self, "_regex", _compile_regex(self.value))

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether `labels` satisfy this matcher; a missing label counts as ``""``."""
        value = labels.get(self.name, "")
        if self.type is MatchType.EQUAL:
            return value == self.value
        if self.type is MatchType.NOT_EQUAL:
            return value != self.value
        assert self._regex is not None
        found = self._regex.search(value) is not None
        return found if self.type is MatchType.REGEX else not found

    def __str__(self) -> str:
        """Alertmanager's canonical form, which `parse_matcher` reads back to this matcher.

        A name with no reserved character is printed bare and the value quoted with
        OpenMetrics escaping (``\\``, ``\n``, ``\"`` only); otherwise both are quoted as
        Go's ``strconv.Quote`` does. Alertmanager prints an empty name bare, which no
        parser reads back; healer quotes it (``""="x"``).
        """
        if not self.name or any(ch in _RESERVED for ch in self.name):
            return f"{_go_quote(self.name)}{self.type.value}{_go_quote(self.value)}"
        return f'{self.name}{self.type.value}"{self.value.translate(_OPENMETRICS_ESCAPES)}"'


def parse_matcher(text: str) -> Matcher:
    """Parse one matcher, such as ``severity=~"warning|critical"`` or ``team = payments``.

    Raises `MatcherError` for anything Alertmanager's UTF-8 parser rejects, anything its
    classic fallback would read differently, and any regex Go's RE2 refuses.
    """
    surrogate = _SURROGATE.search(text)
    if surrogate is not None:
        raise MatcherError(
            f"invalid character U+{ord(surrogate.group()):04X}: not valid UTF-8",
            surrogate.start(),
        )
    classic = _parse_classic(text)
    try:
        parsed = _parse_utf8(text)
    except MatcherError as error:
        fallback = _matcher_or_none(classic)
        if fallback is None:
            raise
        raise MatcherError(
            f"{error.message} (Alertmanager accepts this only through its deprecated "
            f"classic-parser fallback, as `{fallback}`: write that instead)",
            error.offset,
        ) from None
    matcher, value_offset = parsed
    if classic is not None and classic != (matcher.name, matcher.type, matcher.value):
        fallback = _matcher_or_none(classic)
        if fallback is not None:
            raise MatcherError(
                f"ambiguous matcher: Alertmanager's UTF-8 parser reads it as `{matcher}` "
                f"but its classic-parser fallback as `{fallback}`; write the one you mean",
                value_offset,
            )
    return matcher


# --------------------------------------------------------------------------------------
# The UTF-8 parser's grammar (Alertmanager's matcher/parse)
# --------------------------------------------------------------------------------------

# Go's unicode.IsSpace: Latin-1 spaces plus Unicode's White_Space property. Not Python's
# str.isspace, which also counts the ASCII separators U+001C..U+001F.
_GO_SPACE = frozenset(
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
# What ends an unquoted name or value, and makes Alertmanager quote a name when printing.
_RESERVED = _GO_SPACE | frozenset("{}!=~,\\\"'`")
_SURROGATE = re.compile("[\ud800-\udfff]")

_OPERATORS = ("=~", "!=", "!~", "=")  # longest first
_OPERATOR_LIST = "=, !=, =~ or !~"


def _parse_utf8(text: str) -> tuple[Matcher, int]:
    """The matcher in `text` as the UTF-8 parser reads it, and the column of its value."""
    pos = _skip_space(text, 0)
    if pos == len(text):
        raise MatcherError(
            'empty matcher: expected a label name, an operator and a value, like team="payments"',
            pos,
        )
    name, _, pos = _string_token(text, pos, "expected a label name")
    pos = _skip_space(text, pos)
    if pos == len(text):
        raise MatcherError(f"expected an operator ({_OPERATOR_LIST}) after the label name", pos)
    operator = next((op for op in _OPERATORS if text.startswith(op, pos)), "")
    if not operator:
        if text[pos] == "!":
            raise MatcherError("expected `=` or `~` after `!`", pos + 1)
        raise _unexpected(text, pos, f"expected an operator ({_OPERATOR_LIST})")
    pos = _skip_space(text, pos + len(operator))
    if pos == len(text):
        raise MatcherError(f"expected a label value after `{operator}`", pos)
    value_offset = pos
    value, columns, pos = _string_token(text, pos, "expected a label value")
    pos = _skip_space(text, pos)
    if pos < len(text):
        if text[pos] == ",":
            raise MatcherError("unexpected `,`: write one matcher per entry", pos)
        raise _unexpected(
            text,
            pos,
            "expected the end of the matcher; quote a value that contains spaces or "
            "special characters",
            after="after the label value",
        )
    try:
        matcher = Matcher(name, MatchType(operator), value)
    except MatcherError as error:
        index = min(error.offset, len(value) - 1) if value else 0
        raise MatcherError(error.message, columns[max(index, 0)]) from None
    return matcher, value_offset


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _GO_SPACE:
        pos += 1
    return pos


def _string_token(text: str, pos: int, expected: str) -> tuple[str, list[int], int]:
    """Read a quoted or unquoted name or value at `pos`.

    Returns its text, the column of each of its characters followed by the column just
    after them, and the position after the token.
    """
    if text[pos] == '"':
        end = _closing_quote(text, pos)
        value, columns = _unquote(text, pos, end)
        return value, [*columns, end], end + 1
    if text[pos] in _RESERVED:
        raise _unexpected(text, pos, expected)
    end = pos
    while end < len(text) and text[end] not in _RESERVED:
        end += 1
    return text[pos:end], list(range(pos, end + 1)), end


def _closing_quote(text: str, start: int) -> int:
    """Where the string quoted at `start` ends, as Alertmanager's lexer finds it."""
    pos = start + 1
    while pos < len(text):
        if text[pos] == "\\":
            pos += 2
        elif text[pos] == '"':
            return pos
        else:
            pos += 1
    raise MatcherError('unterminated quoted string: missing closing `"`', start)


_SIMPLE_ESCAPES = {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11, "\\": 92, '"': 34}
_ESCAPE_DIGITS = {"x": 2, "u": 4, "U": 8}
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
_OCTAL_DIGITS = frozenset("01234567")


def _unquote(text: str, start: int, end: int) -> tuple[str, list[int]]:
    """Decode the Go string literal ``text[start:end + 1]`` as ``strconv.Unquote`` does.

    Go strings are bytes: ``\\xf0\\x9f\\x99\\x82`` is one emoji, and the result must be
    valid UTF-8. Returns the text and the column where each of its characters starts.
    """
    data = bytearray()
    byte_columns: list[int] = []
    pos = start + 1
    while pos < end:
        char = text[pos]
        if char == "\n":
            raise MatcherError("a quoted string cannot span lines: write \\n for a newline", pos)
        if char != "\\":
            encoded = char.encode()
            data += encoded
            byte_columns += [pos] * len(encoded)
            pos += 1
            continue
        kind = text[pos + 1]
        if kind in _SIMPLE_ESCAPES:
            encoded = bytes((_SIMPLE_ESCAPES[kind],))
            next_pos = pos + 2
        elif kind in _ESCAPE_DIGITS:
            next_pos = pos + 2 + _ESCAPE_DIGITS[kind]
            digits = text[pos + 2 : min(next_pos, end)]
            complete = len(digits) == next_pos - pos - 2 and set(digits) <= _HEX_DIGITS
            code = int(digits, 16) if complete else -1
            if kind == "x" and code >= 0:
                encoded = bytes((code,))
            elif 0 <= code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF:
                encoded = chr(code).encode()
            else:
                raise _bad_escape(text, pos, pos + 2 + len(digits))
        elif kind in _OCTAL_DIGITS:
            next_pos = pos + 4
            digits = text[pos + 1 : min(next_pos, end)]
            if len(digits) != 3 or not set(digits) <= _OCTAL_DIGITS or int(digits, 8) > 255:
                raise _bad_escape(text, pos, pos + 1 + len(digits))
            encoded = bytes((int(digits, 8),))
        else:
            raise _bad_escape(text, pos, pos + 2)
        data += encoded
        byte_columns += [pos] * len(encoded)
        pos = next_pos
    try:
        value = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise MatcherError("quoted string is not valid UTF-8", byte_columns[error.start]) from None
    columns: list[int] = []
    index = 0
    for char in value:
        columns.append(byte_columns[index])
        index += len(char.encode())
    return value, columns


def _bad_escape(text: str, start: int, end: int) -> MatcherError:
    return MatcherError(
        f"invalid escape sequence `{text[start:end]}` in a quoted string "
        "(write `\\\\` for a backslash)",
        start,
    )


def _token_at(text: str, pos: int) -> str:
    """The token starting at `pos`, for an error message."""
    char = text[pos]
    if char == '"':
        try:
            end = _closing_quote(text, pos) + 1
        except MatcherError:
            end = len(text)
    elif text.startswith(("=~", "!=", "!~"), pos):
        end = pos + 2
    elif char in _RESERVED:
        end = pos + 1
    else:
        end = pos
        while end < len(text) and text[end] not in _RESERVED:
            end += 1
    token = text[pos:end]
    return token if len(token) <= 40 else token[:37] + "..."


def _unexpected(text: str, pos: int, expected: str, after: str = "") -> MatcherError:
    token = _token_at(text, pos)
    where = f" {after}" if after else ""
    if token in ("{", "}"):
        return MatcherError(f"unexpected `{token}`: write the matcher without braces", pos)
    if token in ("'", "`"):
        return MatcherError(f"unexpected `{token}`: quote names and values with double quotes", pos)
    return MatcherError(f"unexpected `{token}`{where}: {expected}", pos)


# --------------------------------------------------------------------------------------
# The classic parser (Alertmanager's pkg/labels), only to detect where the two disagree
# --------------------------------------------------------------------------------------

# pkg/labels' regex, with Go's meaning spelled out: \s is [\t\n\f\r ], $ is the end of the text.
_CLASSIC = re.compile(
    r"[\t\n\f\r ]*([a-zA-Z_:][a-zA-Z0-9_:]*)[\t\n\f\r ]*(=~|=|!=|!~)"
    r"[\t\n\f\r ]*(.*?)[\t\n\f\r ]*\Z",
    re.DOTALL,
)


def _parse_classic(text: str) -> tuple[str, MatchType, str] | None:
    """Name, type and value as the classic parser reads `text`; None if it refuses it.

    The regex, if any, is not compiled here.
    """
    found = _CLASSIC.match(text)
    if found is None:
        return None
    name, operator, raw = found.groups()
    quoted = raw.startswith('"')
    if quoted:
        raw = raw[1:]
    last = len(raw) - 1
    out: list[str] = []
    escaped = False
    for index, char in enumerate(raw):
        if escaped:
            escaped = False
            if char == "n":
                out.append("\n")
            elif char in '"\\':
                out.append(char)
            else:  # a spurious escape is a literal backslash
                out.append("\\" + char)
        elif char == "\\":
            if index < last:
                escaped = True
            else:
                out.append(char)
        elif char == '"':
            if not quoted or index < last:
                return None
            quoted = False
        else:
            out.append(char)
    if quoted:
        return None
    return name, MatchType(operator), "".join(out)


def _matcher_or_none(parts: tuple[str, MatchType, str] | None) -> Matcher | None:
    if parts is None:
        return None
    try:
        return Matcher(*parts)
    except MatcherError:
        return None


# --------------------------------------------------------------------------------------
# Printing
# --------------------------------------------------------------------------------------

_OPENMETRICS_ESCAPES = {ord("\\"): "\\\\", ord("\n"): "\\n", ord('"'): '\\"'}
_GO_CONTROL_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
}


def _go_quote(text: str) -> str:
    """Go's ``strconv.Quote``: printable characters as they are, the rest escaped."""
    out = ['"']
    for char in text:
        code = ord(char)
        if char in '"\\':
            out.append("\\" + char)
        elif char.isprintable():  # Go's IsPrint: categories L, M, N, P, S and U+0020
            out.append(char)
        elif char in _GO_CONTROL_ESCAPES:
            out.append(_GO_CONTROL_ESCAPES[char])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


# --------------------------------------------------------------------------------------
# RE2 (Go regexp/syntax, Perl flags) to Python re
# --------------------------------------------------------------------------------------

_MAX_RUNE = 0x10FFFF
_MAX_REPEAT = 1000  # Go: largest count in x{n,m}, and of the product of nested counts
_MAX_HEIGHT = 200  # Go allows 1000; Python's re recurses per nesting level
_MAX_SIZE = (128 << 20) // 40  # Go: compiled-program limit, in instructions
_MIN_FOLD, _MAX_FOLD = 0x41, 0x1E943  # Go: the code points that case folding involves

_Ranges = list[tuple[int, int]]


class _Flag(enum.Flag):
    """Go's parser flags that change meaning as ``(?imsU)`` toggles them."""

    NONE = 0
    FOLD_CASE = enum.auto()  # (?i)
    ONE_LINE = enum.auto()  # cleared by (?m): ^ and $ match at text ends only
    DOT_NL = enum.auto()  # (?s)
    NON_GREEDY = enum.auto()  # (?U)


class _Kind(enum.Enum):
    CHARS = enum.auto()
    ASSERT = enum.auto()
    GROUP = enum.auto()
    CONCAT = enum.auto()
    ALTERNATE = enum.auto()
    REPEAT = enum.auto()
    EMPTY = enum.auto()


@dataclass(frozen=True, slots=True)
class _Node:
    """A parsed piece of regex, already translated to Python."""

    kind: _Kind
    python: str
    height: int = 1  # as Go measures nesting
    size: int = 1  # Go's estimate of its compiled size
    repeats: int = 1  # largest product of x{n,m} counts on a path down from here


@dataclass(slots=True)
class _Frame:
    """An open group while parsing (working state of one parse, never shared)."""

    start: int
    capture: bool
    restore: _Flag
    alternatives: list[_Node] = field(default_factory=list)
    items: list[_Node] = field(default_factory=list)


class _RegexError(Exception):
    """Go's refusal: its error code text, the expression it quotes, and where it is."""

    def __init__(self, code: str, expr: str, pos: int, hint: str = "") -> None:
        super().__init__(code)
        self.code = code
        self.expr = expr
        self.pos = pos
        self.hint = hint


_PERL_GROUPS: dict[str, tuple[tuple[int, int], ...]] = {
    "d": ((0x30, 0x39),),
    "s": ((0x09, 0x0A), (0x0C, 0x0D), (0x20, 0x20)),
    "w": ((0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)),
}
_POSIX_GROUPS: dict[str, tuple[tuple[int, int], ...]] = {
    "alnum": ((0x30, 0x39), (0x41, 0x5A), (0x61, 0x7A)),
    "alpha": ((0x41, 0x5A), (0x61, 0x7A)),
    "ascii": ((0x00, 0x7F),),
    "blank": ((0x09, 0x09), (0x20, 0x20)),
    "cntrl": ((0x00, 0x1F), (0x7F, 0x7F)),
    "digit": ((0x30, 0x39),),
    "graph": ((0x21, 0x7E),),
    "lower": ((0x61, 0x7A),),
    "print": ((0x20, 0x7E),),
    "punct": ((0x21, 0x2F), (0x3A, 0x40), (0x5B, 0x60), (0x7B, 0x7E)),
    "space": ((0x09, 0x0D), (0x20, 0x20)),
    "upper": ((0x41, 0x5A),),
    "word": ((0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)),
    "xdigit": ((0x30, 0x39), (0x41, 0x46), (0x61, 0x66)),
}
_ASSERTIONS = {
    "begin_text": r"\A",
    "end_text": r"\Z",
    "begin_line": "(?m:^)",
    "end_line": "(?m:$)",
    # Go's \b and \B look at ASCII word characters. Spelled out, because Python's \B never
    # matches an empty text, where Go's does.
    "word_boundary": r"(?:(?<=[0-9A-Za-z_])(?![0-9A-Za-z_])|(?<![0-9A-Za-z_])(?=[0-9A-Za-z_]))",
    "not_word_boundary": r"(?:(?<=[0-9A-Za-z_])(?=[0-9A-Za-z_])|(?<![0-9A-Za-z_])(?![0-9A-Za-z_]))",
}
_FLAG_LETTERS = {
    "i": _Flag.FOLD_CASE,
    "m": _Flag.ONE_LINE,
    "s": _Flag.DOT_NL,
    "U": _Flag.NON_GREEDY,
}
_C_ESCAPES = {"a": 7, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11}
_ANCHOR_OPEN, _ANCHOR_CLOSE = "^(?:", ")$"


def _compile_regex(value: str) -> re.Pattern[str]:
    """Compile a matcher value as Alertmanager does; errors carry an offset into `value`."""
    try:
        python = _RegexTranslator(_ANCHOR_OPEN + value + _ANCHOR_CLOSE).translate()
        return re.compile(python)
    except _RegexError as error:
        hint = f" ({error.hint})" if error.hint else ""
        index = min(max(error.pos - len(_ANCHOR_OPEN), 0), max(len(value) - 1, 0))
        raise MatcherError(
            f"error parsing regexp: {error.code}: `{error.expr}`{hint}", index
        ) from None
    except RecursionError:
        raise MatcherError("error parsing regexp: expression nests too deeply", 0) from None


class _RegexTranslator:
    """Parses RE2 syntax as Go's regexp/syntax does with its Perl flags, emitting Python.

    Follows Go's parser step by step (so that it accepts and refuses the same texts, in
    the same order), keeping a stack of open groups instead of Go's operator stack.
    """

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self.pos = 0
        self.flags = _Flag.ONE_LINE
        self.frames = [_Frame(start=0, capture=False, restore=_Flag.ONE_LINE)]

    def translate(self) -> str:
        """The Python pattern equivalent to `pattern`; raises `_RegexError` as Go would."""
        last_repeat = -1  # where the previous step's repetition operator started, if any
        while self.pos < len(self.pattern):
            last_repeat = self._step(last_repeat)
        if len(self.frames) > 1:
            raise _RegexError("missing closing )", self.pattern, self.frames[-1].start)
        root = _alternate(self.frames[0])
        if root.height > _MAX_HEIGHT:
            raise _RegexError(
                "expression nests too deeply",
                self.pattern,
                0,
                f"healer's limit is {_MAX_HEIGHT} levels",
            )
        if root.size > _MAX_SIZE:
            raise _RegexError("expression too large", self.pattern, 0)
        return root.python

    def _step(self, last_repeat: int) -> int:
        """Parse one construct at `pos`; return where it started if it was a repetition."""
        pattern = self.pattern
        start = self.pos
        char = pattern[start]
        if char == "(":
            if pattern.startswith("(?", start):
                self._perl_flags()
            else:
                self._open(capture=True)
                self.pos += 1
        elif char == "|":
            frame = self.frames[-1]
            frame.alternatives.append(_concat(frame.items))
            frame.items = []
            self.pos += 1
        elif char == ")":
            self._close()
            self.pos += 1
        elif char == "^":
            self._assert("begin_text" if _Flag.ONE_LINE in self.flags else "begin_line")
        elif char == "$":
            self._assert("end_text" if _Flag.ONE_LINE in self.flags else "end_line")
        elif char == ".":
            dot_nl = _Flag.DOT_NL in self.flags
            self._push(_chars([(0, _MAX_RUNE)] if dot_nl else [(0, 9), (11, _MAX_RUNE)]))
            self.pos += 1
        elif char == "[":
            self._class()
        elif char in "*+?":
            low, high = {"*": (0, -1), "+": (1, -1), "?": (0, 1)}[char]
            self._repeat(char, low, high, start, start + 1, last_repeat)
            return start
        elif char == "{":
            counted = _parse_counted(pattern, start)
            if counted is None:  # not a valid repetition: a literal brace
                self._push(self._literal(ord("{")))
                self.pos += 1
                return -1
            low, high, end = counted
            if low < 0 or low > _MAX_REPEAT or high > _MAX_REPEAT or 0 <= high < low:
                raise _RegexError("invalid repeat count", pattern[start:end], start)
            self._repeat("{", low, high, start, end, last_repeat)
            return start
        elif char == "\\":
            self._escape()
        else:
            self._push(self._literal(ord(char)))
            self.pos += 1
        return -1

    # -- stack --------------------------------------------------------------------------

    def _push(self, node: _Node) -> None:
        self.frames[-1].items.append(node)

    def _assert(self, which: str) -> None:
        self._push(_Node(_Kind.ASSERT, _ASSERTIONS[which]))
        self.pos += 1 if self.pattern[self.pos] in "^$" else 2

    def _open(self, capture: bool) -> None:
        self.frames.append(_Frame(start=self.pos, capture=capture, restore=self.flags))

    def _close(self) -> None:
        if len(self.frames) == 1:
            raise _RegexError("unexpected )", self.pattern, self.pos)
        frame = self.frames.pop()
        node = _alternate(frame)
        if frame.capture:
            node = _Node(
                _Kind.GROUP,
                f"(?:{node.python})",
                height=node.height + 1,
                size=node.size + 2,
                repeats=node.repeats,
            )
        self.flags = frame.restore
        self._push(node)

    def _repeat(
        self, operator: str, low: int, high: int, start: int, end: int, last_repeat: int
    ) -> None:
        """Apply the repetition at ``pattern[start:end]`` to the last item, as Go does."""
        pattern = self.pattern
        greedy = _Flag.NON_GREEDY not in self.flags
        if pattern.startswith("?", end):
            end += 1
            greedy = not greedy
        if last_repeat >= 0:
            hint = "RE2 has no possessive quantifiers" if operator == "+" else ""
            raise _RegexError(
                "invalid nested repetition operator", pattern[last_repeat:end], last_repeat, hint
            )
        items = self.frames[-1].items
        if not items:
            raise _RegexError("missing argument to repetition operator", pattern[start:end], start)
        sub = items[-1]
        if operator != "{":
            suffix = operator
        elif low == high:
            suffix = f"{{{low}}}"
        else:
            suffix = f"{{{low},{'' if high < 0 else high}}}"
        if not greedy:
            suffix += "?"
        atom = sub.python if sub.kind in (_Kind.CHARS, _Kind.GROUP) else f"(?:{sub.python})"
        if operator == "*":
            size = 2 + sub.size
        elif operator in ("+", "?"):
            size = 1 + sub.size
        elif high < 0:
            size = 2 + sub.size if low == 0 else 1 + low * sub.size
        else:
            size = high * sub.size + (high - low)
        repeats = sub.repeats
        if operator == "{":
            count = high if high >= 0 else low
            repeats = 1 if high == 0 else max(count, 1) * sub.repeats
            repeats = min(repeats, _MAX_REPEAT + 1)
            if (low >= 2 or high >= 2) and repeats > _MAX_REPEAT:
                raise _RegexError("invalid repeat count", pattern[start:end], start)
        items[-1] = _Node(
            _Kind.REPEAT,
            atom + suffix,
            height=sub.height + 1,
            size=max(size, 1),
            repeats=repeats,
        )
        self.pos = end

    # -- groups and flags ---------------------------------------------------------------

    def _perl_flags(self) -> None:
        """``(?flags)``, ``(?flags:``, ``(?P<name>`` or ``(?<name>`` at `pos`."""
        pattern, start = self.pattern, self.pos
        rest = len(pattern) - start
        named_p = rest > 4 and pattern[start + 2] == "P" and pattern[start + 3] == "<"
        if named_p or (rest > 3 and pattern[start + 2] == "<"):
            lookbehind = pattern[start + 2 : start + 4] in ("<=", "<!")
            hint = "RE2 has no lookbehind" if lookbehind else ""
            end = pattern.find(">", start)
            if end < 0:
                raise _RegexError("invalid named capture", pattern[start:], start, hint)
            name = pattern[start + (4 if named_p else 3) : end]
            if not name or not all(c == "_" or (c.isascii() and c.isalnum()) for c in name):
                raise _RegexError("invalid named capture", pattern[start : end + 1], start, hint)
            self._open(capture=True)
            self.pos = end + 1
            return

        flags = self.flags
        negated = False
        saw_flag = False
        pos = start + 2
        while pos < len(pattern):
            char = pattern[pos]
            pos += 1
            if char in _FLAG_LETTERS:
                # m clears ONE_LINE, the others set their flag; after a - it is the reverse.
                if (char == "m") != negated:
                    flags &= ~_FLAG_LETTERS[char]
                else:
                    flags |= _FLAG_LETTERS[char]
                saw_flag = True
            elif char == "-" and not negated:
                negated = True
                saw_flag = False
            elif char in ":)" and (saw_flag or not negated):
                if char == ":":
                    self._open(capture=False)
                self.flags = flags
                self.pos = pos
                return
            else:
                break
        expr = pattern[start:pos]
        raise _RegexError("invalid or unsupported Perl syntax", expr, start, _perl_hint(expr))

    # -- character classes --------------------------------------------------------------

    def _class(self) -> None:
        """A bracketed class at `pos`, as Go's parseClass reads it."""
        pattern, start = self.pattern, self.pos
        pos = start + 1
        negated = pattern.startswith("^", pos)
        if negated:
            pos += 1
        ranges: _Ranges = []
        first = True
        while pos >= len(pattern) or pattern[pos] != "]" or first:
            first = False
            if len(pattern) - pos > 2 and pattern.startswith("[:", pos):
                close = pattern.find(":]", pos + 2)
                if close >= 0:
                    name = pattern[pos : close + 2]
                    group_name = name[2:-2].removeprefix("^")
                    if group_name not in _POSIX_GROUPS:
                        raise _RegexError("invalid character class range", name, pos)
                    ranges += self._group(_POSIX_GROUPS[group_name], name[2] == "^")
                    pos = close + 2
                    continue
            if len(pattern) - pos >= 2 and pattern[pos] == "\\":
                kind = pattern[pos + 1]
                if kind in "pP":
                    raise _unicode_class_error(pattern, pos)
                if kind.lower() in _PERL_GROUPS:
                    ranges += self._group(_PERL_GROUPS[kind.lower()], kind.isupper())
                    pos += 2
                    continue
            range_start = pos
            low, pos = self._class_char(pos, start)
            high = low
            if len(pattern) - pos >= 2 and pattern[pos] == "-" and pattern[pos + 1] != "]":
                high, pos = self._class_char(pos + 1, start)
                if high < low:
                    raise _RegexError(
                        "invalid character class range", pattern[range_start:pos], range_start
                    )
            if _Flag.FOLD_CASE in self.flags:
                ranges += _fold([(low, high)])
            else:
                ranges.append((low, high))
        ranges = _clean(ranges)
        self._push(_chars(_negate(ranges) if negated else ranges))
        self.pos = pos + 1

    def _class_char(self, pos: int, class_start: int) -> tuple[int, int]:
        if pos >= len(self.pattern):
            raise _RegexError("missing closing ]", self.pattern[class_start:], class_start)
        if self.pattern[pos] == "\\":
            return self._escaped_char(pos)
        return ord(self.pattern[pos]), pos + 1

    def _group(self, group: Iterable[tuple[int, int]], negated: bool) -> _Ranges:
        """A Perl (``\\d``) or POSIX (``[:alpha:]``) class: folded first, then negated."""
        ranges = _fold(group) if _Flag.FOLD_CASE in self.flags else _clean(group)
        return _negate(ranges) if negated else ranges

    # -- escapes and literals -----------------------------------------------------------

    def _escape(self) -> None:
        """A backslash at `pos` outside a class."""
        pattern, pos = self.pattern, self.pos
        kind = pattern[pos + 1] if pos + 1 < len(pattern) else ""
        if kind == "A":
            self._assert("begin_text")
        elif kind == "z":
            self._assert("end_text")
        elif kind == "b":
            self._assert("word_boundary")
        elif kind == "B":
            self._assert("not_word_boundary")
        elif kind == "C":
            raise _RegexError("invalid escape sequence", pattern[pos : pos + 2], pos)
        elif kind == "Q":
            end = pattern.find("\\E", pos + 2)
            literal_end = len(pattern) if end < 0 else end
            for char in pattern[pos + 2 : literal_end]:
                self._push(self._literal(ord(char)))
            self.pos = len(pattern) if end < 0 else end + 2
        elif kind in ("p", "P"):
            raise _unicode_class_error(pattern, pos)
        elif kind and kind.lower() in _PERL_GROUPS:
            self._push(_chars(self._group(_PERL_GROUPS[kind.lower()], kind.isupper())))
            self.pos += 2
        else:
            code, self.pos = self._escaped_char(pos)
            self._push(self._literal(code))

    def _escaped_char(self, pos: int) -> tuple[int, int]:
        """Go's parseEscape: the character a backslash escape at `pos` stands for."""
        pattern = self.pattern
        if pos + 1 >= len(pattern):
            raise _RegexError("trailing backslash at end of expression", "", pos)
        char = pattern[pos + 1]
        end = pos + 2
        if char.isascii() and not char.isalnum():
            return ord(char), end
        if char in "01234567" and (
            char == "0" or (end < len(pattern) and pattern[end] in _OCTAL_DIGITS)
        ):
            code = int(char)
            for _ in range(2):
                if end < len(pattern) and pattern[end] in _OCTAL_DIGITS:
                    code = code * 8 + int(pattern[end])
                    end += 1
            return code, end
        if char == "x" and end < len(pattern):
            if pattern[end] == "{":
                end += 1
                digits = 0
                code = 0
                while end < len(pattern):
                    digit = pattern[end]
                    end += 1
                    if digit == "}":
                        if digits:
                            return code, end
                        break
                    if digit not in _HEX_DIGITS:
                        break
                    code = code * 16 + int(digit, 16)
                    if code > _MAX_RUNE:
                        break
                    digits += 1
            else:
                pair = pattern[end : end + 2]
                end += len(pair)
                if len(pair) == 2 and set(pair) <= _HEX_DIGITS:
                    return int(pair, 16), end
        elif char in _C_ESCAPES:
            return _C_ESCAPES[char], end
        expr = pattern[pos:end]
        raise _RegexError("invalid escape sequence", expr, pos, _escape_hint(expr))

    def _literal(self, code: int) -> _Node:
        if _Flag.FOLD_CASE in self.flags:
            return _chars(_fold([(code, code)]))
        return _chars([(code, code)])


def _parse_counted(pattern: str, start: int) -> tuple[int, int, int] | None:
    """Go's parseRepeat: ``{n}``, ``{n,}`` or ``{n,m}`` at `start` as (n, m, end).

    m is -1 when unbounded; a number too big to parse is -1 as n. None when the brace
    does not start a repetition, which makes it a literal brace.
    """
    found = _COUNTED.match(pattern, start)
    if found is None:
        return None
    low_text, comma, high_text = found.groups()
    low = _repeat_number(low_text)
    if not comma:
        return low, low, found.end()
    if not high_text:
        return low, -1, found.end()
    high = _repeat_number(high_text)
    return (low if high >= 0 else -1), high, found.end()


# No leading zeros: Go reads {01} as literal text.
_COUNTED = re.compile(r"\{(0|[1-9][0-9]*)(?:(,)(0|[1-9][0-9]*)?)?\}")


def _repeat_number(text: str) -> int:
    return int(text) if len(text) <= 9 else -1


def _perl_hint(expr: str) -> str:
    body = expr[2:]
    if body.startswith(("=", "!")):
        return "RE2 has no lookahead"
    if body.startswith(">"):
        return "RE2 has no atomic groups"
    if body.startswith("#"):
        return "RE2 has no comments"
    if body.startswith("P"):
        return "RE2 has no backreferences"
    return ""


def _escape_hint(expr: str) -> str:
    if expr[1:2] in tuple("123456789") or expr[1:2] in ("g", "k"):
        return "RE2 has no backreferences"
    if expr == "\\Z":
        return "use \\z or $ for the end of the text"
    return ""


def _unicode_class_error(pattern: str, pos: int) -> _RegexError:
    end = pattern.find("}", pos) + 1 if pattern.startswith("{", pos + 2) else pos + 3
    return _RegexError(
        "unsupported Unicode class",
        pattern[pos : end or len(pattern)],
        pos,
        "healer does not support \\p classes; list the characters instead",
    )


def _concat(items: Sequence[_Node]) -> _Node:
    if not items:
        return _Node(_Kind.EMPTY, "")
    if len(items) == 1:
        return items[0]
    python = "".join(
        f"(?:{item.python})" if item.kind is _Kind.ALTERNATE else item.python for item in items
    )
    return _Node(
        _Kind.CONCAT,
        python,
        height=1 + max(item.height for item in items),
        size=sum(item.size for item in items),
        repeats=max(item.repeats for item in items),
    )


def _alternate(frame: _Frame) -> _Node:
    options = [*frame.alternatives, _concat(frame.items)]
    if len(options) == 1:
        return options[0]
    return _Node(
        _Kind.ALTERNATE,
        "|".join(option.python for option in options),
        height=1 + max(option.height for option in options),
        size=sum(option.size for option in options) + len(options) - 1,
        repeats=max(option.repeats for option in options),
    )


def _chars(ranges: _Ranges) -> _Node:
    if len(ranges) == 1 and ranges[0][0] == ranges[0][1]:
        return _Node(_Kind.CHARS, _python_char(ranges[0][0]))
    if not ranges:
        return _Node(_Kind.CHARS, f"[^{_python_char(0)}-{_python_char(_MAX_RUNE)}]")
    parts = (
        _python_char(low) if low == high else f"{_python_char(low)}-{_python_char(high)}"
        for low, high in ranges
    )
    return _Node(_Kind.CHARS, "[" + "".join(parts) + "]")


def _python_char(code: int) -> str:
    """One code point in a Python pattern: ASCII letters and digits bare, the rest escaped."""
    if code < 0x80 and chr(code).isalnum():
        return chr(code)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _clean(ranges: Iterable[tuple[int, int]]) -> _Ranges:
    """Sorted, merged ranges."""
    out: _Ranges = []
    for low, high in sorted(ranges):
        if out and low <= out[-1][1] + 1:
            if high > out[-1][1]:
                out[-1] = (out[-1][0], high)
        else:
            out.append((low, high))
    return out


def _negate(ranges: _Ranges) -> _Ranges:
    """The complement of clean `ranges` within all code points."""
    out: _Ranges = []
    next_low = 0
    for low, high in ranges:
        if next_low < low:
            out.append((next_low, low - 1))
        next_low = high + 1
    if next_low <= _MAX_RUNE:
        out.append((next_low, _MAX_RUNE))
    return out


def _fold(ranges: Iterable[tuple[int, int]]) -> _Ranges:
    """`ranges` plus every code point case-equivalent to one in them (Go's fold)."""
    orbits = _case_orbits()
    out = list(ranges)
    for low, high in list(out):
        first = bisect.bisect_left(orbits.members, low)
        last = bisect.bisect_right(orbits.members, high)
        for code in orbits.members[first:last]:
            out.extend((other, other) for other in orbits.orbit[code])
    return _clean(out)


@dataclass(frozen=True, slots=True)
class _CaseOrbits:
    """Unicode simple case folding as Go's unicode.SimpleFold iterates it."""

    members: tuple[int, ...]  # sorted code points that have a case-equivalent
    orbit: Mapping[int, tuple[int, ...]]  # each of them to its whole equivalence class


@functools.cache
def _case_orbits() -> _CaseOrbits:
    """Built on first use of ``(?i)`` (~0.1 s), then shared: it is immutable.

    Two code points are equivalent when their simple case foldings (CaseFolding.txt
    status C or S) agree. Python exposes full folding (``str.casefold``); where that is
    several characters, the simple folding is the one-character lowercase if any.
    """
    classes: dict[str, list[int]] = {}
    for code in range(_MIN_FOLD, _MAX_FOLD + 1):
        char = chr(code)
        folded = char.casefold()
        if len(folded) != 1:
            lowered = char.lower()
            folded = lowered if len(lowered) == 1 else char
        classes.setdefault(folded, []).append(code)
    orbit = {code: tuple(codes) for codes in classes.values() if len(codes) > 1 for code in codes}
    return _CaseOrbits(members=tuple(sorted(orbit)), orbit=MappingProxyType(orbit))
