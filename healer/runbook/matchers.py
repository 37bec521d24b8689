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
Alertmanager compiles ``"^(?:" + value + ")$"`` with Go's ``regexp`` and reports a match
when that regex finds one. Note the string concatenation: a value such as ``a)|(b`` is
valid and means "starts with a, or ends with b". healer compiles that same string with
RE2 (``google-re2``), the engine whose syntax and semantics Go's ``regexp`` reproduces, so
``$`` is the end of the text, ``\d``/``\s``/``\w``/``\b`` are ASCII, ``x{,3}`` is
literal text, ``(?i)`` uses simple case folding and ``\pL`` classes work, all as in
Go. Matching runs in time linear in the label value: no regex, however written, lets a
hostile label value stall the engine. A refusal carries RE2's message, with a hint where
Python or PCRE users expect something RE2 lacks (lookaround, backreferences, possessive
quantifiers, atomic groups, ``\Z``), and points at the culprit in the value.

Where RE2 and Go differ, healer follows Go or refuses: ``\C`` (one byte) is refused as
Go refuses it, and a label value holding a lone surrogate is matched as Go's JSON decoder
would read it, with U+FFFD in its place. Go refuses a few regexes that RE2 takes
(duplicate group names, nesting past 1000 levels); those are harmless for matching. A
regex value is limited to 32 KiB.
"""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import re2

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
    _regex: re2._Regexp | None = field(
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
        try:
            text = value.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: Go reads it as U+FFFD
            text = _SURROGATE.sub("\ufffd", value).encode("utf-8")
        found = self._regex.search(text) is not None
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
        shown = {"'": "`'`", "`": "'`'"}[token]  # a backquote cannot sit in backquotes
        return MatcherError(f"unexpected {shown}: quote names and values with double quotes", pos)
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
# Regexes, compiled by RE2
# --------------------------------------------------------------------------------------

_ANCHOR_OPEN, _ANCHOR_CLOSE = "^(?:", ")$"
# Far beyond any real matcher, and short of the sizes at which RE2 logs to stderr.
_MAX_REGEX_LENGTH = 32 * 1024


@functools.cache
def _re2_options() -> re2.Options:
    options = re2.Options()
    options.log_errors = False  # RE2 would print each refusal to stderr
    options.never_capture = True  # a match is a yes or no; groups would cost time
    return options


def _compile_regex(value: str) -> re2._Regexp:
    """Compile a matcher value as Alertmanager does; errors carry an offset into `value`."""
    if len(value) > _MAX_REGEX_LENGTH:
        raise MatcherError(
            f"regex too long: {len(value)} characters, the limit is {_MAX_REGEX_LENGTH}",
            _MAX_REGEX_LENGTH,
        )
    pattern = _ANCHOR_OPEN + value + _ANCHOR_CLOSE
    byte_escape = _byte_escape(value)
    if byte_escape is not None:
        raise MatcherError(
            "error parsing regexp: invalid escape sequence: `\\C` "
            "(Go's regexp has no single-byte escape)",
            byte_escape,
        )
    try:
        return re2.compile(pattern.encode("utf-8"), _re2_options())
    except UnicodeEncodeError as error:
        raise MatcherError(
            "error parsing regexp: invalid UTF-8", max(error.start - len(_ANCHOR_OPEN), 0)
        ) from None
    except re2.error as error:
        if _ends_in_backslash(value):  # RE2 reads it as escaping the anchoring's `)`
            raise MatcherError(
                "error parsing regexp: trailing backslash at end of expression",
                len(value) - 1,
            ) from None
        what, _, culprit = bytes(error.args[0]).decode("utf-8", "replace").partition(": ")
        span = _culprit_span(culprit, pattern)
        if span is None:
            raise MatcherError(f"error parsing regexp: {_with_hint(what, culprit)}", 0) from None
        start, end = span
        raise MatcherError(
            f"error parsing regexp: {_with_hint(what, value[start:end] or culprit)}",
            min(start, max(len(value) - 1, 0)),
        ) from None


def _ends_in_backslash(value: str) -> bool:
    """Whether `value` ends with an escaping backslash (an odd run of them)."""
    return (len(value) - len(value.rstrip("\\"))) % 2 == 1


def _culprit_span(culprit: str, pattern: str) -> tuple[int, int] | None:
    """Where the text RE2 names lies in the matcher's value, as offsets into the value.

    RE2 names the whole anchored pattern (``^(?:(a)$``) for an unbalanced one; the
    anchoring is healer's, so the span is cut to the value."""
    if not culprit:
        return None
    found = pattern.find(culprit, len(_ANCHOR_OPEN))
    if found == -1:
        found = pattern.find(culprit)
    if found == -1:
        return None
    value_end = len(pattern) - len(_ANCHOR_CLOSE)
    start = max(found, len(_ANCHOR_OPEN))
    end = min(found + len(culprit), value_end)
    return start - len(_ANCHOR_OPEN), max(end, start) - len(_ANCHOR_OPEN)


def _byte_escape(value: str) -> int | None:
    """Where `value` uses ``\\C``, which RE2 takes as "any byte" and Go refuses."""
    pos = 0
    while (pos := value.find("\\", pos)) != -1:
        if value.startswith("\\Q", pos):  # quoted text runs to \E or the end
            end = value.find("\\E", pos + 2)
            if end == -1:
                return None
            pos = end + 2
            continue
        if value.startswith("C", pos + 1):
            return pos
        pos += 2
    return None


# RE2's message is "<what>: <culprit>"; the hints say what Python or PCRE users reach for.
_HINTS = (
    ("invalid perl operator", "(?=", "RE2 has no lookahead"),
    ("invalid perl operator", "(?!", "RE2 has no lookahead"),
    ("invalid perl operator", "(?<=", "RE2 has no lookbehind"),
    ("invalid perl operator", "(?<!", "RE2 has no lookbehind"),
    ("invalid perl operator", "(?>", "RE2 has no atomic groups"),
    ("invalid perl operator", "(?#", "RE2 has no comments"),
    ("invalid perl operator", "(?P", "RE2 has no backreferences; a named group is (?P<name>...)"),
    ("bad repetition operator", "++", "RE2 has no possessive quantifiers"),
    ("bad repetition operator", "*+", "RE2 has no possessive quantifiers"),
    ("bad repetition operator", "?+", "RE2 has no possessive quantifiers"),
    ("invalid escape sequence", "\\Z", "use \\z or $ for the end of the text"),
)


def _with_hint(what: str, culprit: str) -> str:
    hint = next(
        (hint for kind, start, hint in _HINTS if what == kind and culprit.startswith(start)), ""
    )
    if what == "invalid escape sequence" and len(culprit) == 2 and culprit[1] in "123456789gk":
        hint = "RE2 has no backreferences"
    described = f"{what}: `{culprit}`" if culprit else what
    return described + (f" ({hint})" if hint else "")
