r"""Alertmanager label matchers: syntax, canonical form, refusals and matching.

Covers:
- The syntax runbooks write: the four operators, whitespace, quoted and unquoted names
  and values, Go string escapes, UTF-8 label names.
- The canonical form (``str``), as Alertmanager prints it, and that parsing it gives the
  same matcher back (property).
- Refusals, with exact messages and columns: bad grammar, bad quoting and escapes, text
  Alertmanager only reads through its classic-parser fallback (with the suggested fix),
  text its two parsers read differently, braces and lists.
- Regexes as Go's RE2 parses them: refusals with Go's messages and a column inside the
  value (lookaround, backreferences, possessive and atomic groups, bad repeats ...); the
  anchoring by concatenation; where RE2 and Python's re differ (``$``, ``\d``, ``\s``,
  ``\b``/``\B``, ``x{,3}``, ``(?U)``, case folding) Go's meaning wins.
- Matching: missing labels are ``""`` for every operator; ``=~".*"`` and ``=~""``.
- Properties: random text raises nothing but ``MatcherError``, with a column inside the
  text; ``=`` and ``!=`` agree with a plain comparison; ``!~`` is the negation of ``=~``.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from healer.errors import HealerError
from healer.runbook.matchers import Matcher, MatcherError, MatchType, parse_matcher

EQ, NE, RE, NRE = MatchType.EQUAL, MatchType.NOT_EQUAL, MatchType.REGEX, MatchType.NOT_REGEX


def refusal(text: str) -> MatcherError:
    with pytest.raises(MatcherError) as caught:
        parse_matcher(text)
    return caught.value


# --------------------------------------------------------------------------------------
# Syntax
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "name", "match_type", "value"),
    [
        ('alertname="KubePodCrashLooping"', "alertname", EQ, "KubePodCrashLooping"),
        ('severity=~"warning|critical"', "severity", RE, "warning|critical"),
        ('namespace!~"kube-.*"', "namespace", NRE, "kube-.*"),
        ('team!="payments"', "team", NE, "payments"),
        ("team = payments", "team", EQ, "payments"),
        ("  team\t!=\npayments  ", "team", NE, "payments"),
        ("foo=~[a-z]+", "foo", RE, "[a-z]+"),
        ('foo=""', "foo", EQ, ""),
        ('foo="bar baz, qux"', "foo", EQ, "bar baz, qux"),
        ('foo="say \\"hi\\""', "foo", EQ, 'say "hi"'),
        ('foo="back\\\\slash"', "foo", EQ, "back\\slash"),
        ('foo="line\\nbreak"', "foo", EQ, "line\nbreak"),
        ('foo=~"\\\\d+"', "foo", RE, "\\d+"),
        ("foo=🙂bar", "foo", EQ, "🙂bar"),
        ("foo.bar=x", "foo.bar", EQ, "x"),
        ('"service.name"="api"', "service.name", EQ, "api"),
        ('"with space"!~"a|b"', "with space", NRE, "a|b"),
        ('""="x"', "", EQ, "x"),
        ('"foo"="\\t\\u00e9\\U0001f642\\x41\\101"', "foo", EQ, "\té🙂AA"),
        ('"foo"="\\xf0\\x9f\\x99\\x82"', "foo", EQ, "🙂"),
        ("a:b=c", "a:b", EQ, "c"),
    ],
)
def test_valid_matchers(text: str, name: str, match_type: MatchType, value: str) -> None:
    """Each operator, quoting style and escape parses to the name, type and value."""
    assert parse_matcher(text) == Matcher(name, match_type, value)


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("team = payments", 'team="payments"'),
        ("foo=~[a-z]+", 'foo=~"[a-z]+"'),
        ('foo="a\\"b\\\\c\\nd"', 'foo="a\\"b\\\\c\\nd"'),
        ('"foo"="tab\\there"', 'foo="tab\there"'),
        ('"service.name"!="api"', 'service.name!="api"'),
        ('"with space"!="api"', '"with space"!="api"'),
        ('"a b"="tab\\t nbsp\\u00a0 \\x01 🙂"', '"a b"="tab\\t nbsp\\u00a0 \\x01 🙂"'),
        ('""="x"', '""="x"'),
    ],
)
def test_canonical_form(text: str, canonical: str) -> None:
    """str() prints Alertmanager's form: bare name and OpenMetrics escapes, else Go quoting."""
    assert str(parse_matcher(text)) == canonical


def test_matcher_error_is_a_healer_error_and_a_value_error() -> None:
    """A MatcherError is user-facing input trouble: both a HealerError and a ValueError."""
    error = refusal("foo")
    assert isinstance(error, HealerError)
    assert isinstance(error, ValueError)
    assert str(error) == error.message


# --------------------------------------------------------------------------------------
# Refusals
# --------------------------------------------------------------------------------------

_CLASSIC = "Alertmanager accepts this only through its deprecated classic-parser fallback"


@pytest.mark.parametrize(
    ("text", "message", "offset"),
    [
        (
            "",
            'empty matcher: expected a label name, an operator and a value, like team="payments"',
            0,
        ),
        (
            "   ",
            'empty matcher: expected a label name, an operator and a value, like team="payments"',
            3,
        ),
        ("=bar", "unexpected `=`: expected a label name", 0),
        ("~x=y", "unexpected `~`: expected a label name", 0),
        ("foo", "expected an operator (=, !=, =~ or !~) after the label name", 3),
        ("foo!", "expected `=` or `~` after `!`", 4),
        ("foo!x", "expected `=` or `~` after `!`", 4),
        ("foo bar=1", "unexpected `bar`: expected an operator (=, !=, =~ or !~)", 4),
        ("{foo=bar}", "unexpected `{`: write the matcher without braces", 0),
        ('foo="bar"}', "unexpected `}`: write the matcher without braces", 9),
        ('foo="unterminated', 'unterminated quoted string: missing closing `"`', 4),
        ('foo="ends with\\"', 'unterminated quoted string: missing closing `"`', 4),
        ('"foo"="a\nb"', "a quoted string cannot span lines: write \\n for a newline", 8),
        (
            '"foo"="\\q"',
            "invalid escape sequence `\\q` in a quoted string (write `\\\\` for a backslash)",
            7,
        ),
        (
            "\"foo\"='x'",
            "unexpected `'`: quote names and values with double quotes",
            6,
        ),
        ('"foo"="\\xf0\\x9f"', "quoted string is not valid UTF-8", 7),
        (
            '"foo"="\\ud800"',
            "invalid escape sequence `\\ud800` in a quoted string (write `\\\\` for a backslash)",
            7,
        ),
        (
            '"foo"="\\400"',
            "invalid escape sequence `\\400` in a quoted string (write `\\\\` for a backslash)",
            7,
        ),
        (
            '"a"="b" "c"',
            'unexpected `"c"` after the label value: expected the end of the '
            "matcher; quote a value that contains spaces or special characters",
            8,
        ),
        ("foo=\ud800", "invalid character U+D800: not valid UTF-8", 4),
    ],
)
def test_refusals(text: str, message: str, offset: int) -> None:
    """Bad grammar and quoting are refused with a message and the column of the problem."""
    error = refusal(text)
    assert (error.message, error.offset) == (message, offset)


@pytest.mark.parametrize(
    ("text", "message", "offset", "suggestion"),
    [
        (
            'foo=~"\\d+"',
            "invalid escape sequence `\\d` in a quoted string (write `\\\\` for a backslash)",
            6,
            'foo=~"\\\\d+"',
        ),
        (
            "foo=bar baz",
            "unexpected `baz` after the label value: expected the end of the matcher; "
            "quote a value that contains spaces or special characters",
            8,
            'foo="bar baz"',
        ),
        ("foo=", "expected a label value after `=`", 4, 'foo=""'),
        ("foo=bar,", "unexpected `,`: write one matcher per entry", 7, 'foo="bar,"'),
        (
            "foo=bar,baz=qux",
            "unexpected `,`: write one matcher per entry",
            7,
            'foo="bar,baz=qux"',
        ),
        ("foo==bar", "unexpected `=`: expected a label value", 4, 'foo="=bar"'),
        (
            "foo='bar'",
            "unexpected `'`: quote names and values with double quotes",
            4,
            "foo=\"'bar'\"",
        ),
    ],
)
def test_classic_only_input_is_refused_with_the_fix(
    text: str, message: str, offset: int, suggestion: str
) -> None:
    """Text only the classic fallback reads is refused, naming what it would have read."""
    error = refusal(text)
    assert error.message == f"{message} ({_CLASSIC}, as `{suggestion}`: write that instead)"
    assert error.offset == offset
    assert parse_matcher(suggestion) is not None


@pytest.mark.parametrize(
    ("text", "utf8_reading", "classic_reading", "offset"),
    [
        ('foo="\\t"', 'foo="\t"', 'foo="\\\\t"', 4),
        ('foo="\\u00e9"', 'foo="é"', 'foo="\\\\u00e9"', 4),
        ("foo=\u00a0bar", 'foo="bar"', 'foo="\u00a0bar"', 5),
        ("foo=bar\u000b", 'foo="bar"', 'foo="bar\u000b"', 4),
    ],
)
def test_ambiguous_input_is_refused(
    text: str, utf8_reading: str, classic_reading: str, offset: int
) -> None:
    """Text Alertmanager's two parsers read differently is refused, showing both readings."""
    error = refusal(text)
    assert error.message == (
        f"ambiguous matcher: Alertmanager's UTF-8 parser reads it as `{utf8_reading}` "
        f"but its classic-parser fallback as `{classic_reading}`; write the one you mean"
    )
    assert error.offset == offset


def test_escapes_are_fine_where_the_classic_parser_cannot_read_the_text() -> None:
    """With a quoted name only the UTF-8 parser applies, so Go escapes are unambiguous."""
    assert parse_matcher('"foo"="\\t"').value == "\t"


# --------------------------------------------------------------------------------------
# Regex refusals: Go's RE2 syntax
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "message", "column"),
    [
        ("(?=a)", "invalid perl operator: `(?=` (RE2 has no lookahead)", 0),
        ("x(?!a)", "invalid perl operator: `(?!` (RE2 has no lookahead)", 1),
        ("(?<=a)b", "invalid perl operator: `(?<=` (RE2 has no lookbehind)", 0),
        ("(?>a)", "invalid perl operator: `(?>` (RE2 has no atomic groups)", 0),
        ("(?#note)", "invalid perl operator: `(?#` (RE2 has no comments)", 0),
        (
            "(a)(?P=x)",
            "invalid perl operator: `(?P` "
            "(RE2 has no backreferences; a named group is (?P<name>...))",
            3,
        ),
        ("(a)\\1", "invalid escape sequence: `\\1` (RE2 has no backreferences)", 3),
        ("a++", "bad repetition operator: `++` (RE2 has no possessive quantifiers)", 1),
        ("a**", "bad repetition operator: `**`", 1),
        ("x{2}{3}", "bad repetition operator: `{2}{3}`", 1),
        ("*a", "no argument for repetition operator: `*`", 0),
        ("a|?", "no argument for repetition operator: `?`", 2),
        ("a{1001}", "invalid repetition size: `{1001}`", 1),
        ("a{3,2}", "invalid repetition size: `{3,2}`", 1),
        ("(a{100}){11}", "invalid repetition size: `{11}`", 8),
        ("a\\Z", "invalid escape sequence: `\\Z` (use \\z or $ for the end of the text)", 1),
        ("[\\b]", "invalid escape sequence: `\\b`", 1),
        ("\\8", "invalid escape sequence: `\\8` (RE2 has no backreferences)", 0),
        ("a\\C", "invalid escape sequence: `\\C` (Go's regexp has no single-byte escape)", 1),
        (
            "\\Q\\C\\E\\C",
            "invalid escape sequence: `\\C` (Go's regexp has no single-byte escape)",
            6,
        ),
        ("\\x{110000}", "invalid escape sequence: `\\x{110000`", 0),
        ("[z-a]", "invalid character class range: `z-a`", 1),
        ("[[:word:][:foo:]]", "invalid character class range: `[:foo:]`", 9),
        ("\\p{Klingon}", "invalid character class range: `\\p{Klingon}`", 0),
        ("[a", "missing ]: `[a`", 0),
        ("(a", "missing ): `(a`", 0),
        ("a)", "unexpected ): `a)`", 0),
        ("a\\", "trailing backslash at end of expression", 1),
        ("(?i-)", "invalid perl operator: `(?i-)`", 0),
        ("(?P<1-x>a)", "invalid named capture group: `(?P<1-x>`", 0),
        ("[^a]{1000}" * 30 + "[^b]{1000}" * 30, "pattern too large - compile failed", 0),
    ],
)
def test_regexes_re2_refuses(value: str, message: str, column: int) -> None:
    """What RE2 refuses is refused with its message, pointing into the value."""
    error = refusal('x!~"' + value.replace("\\", "\\\\") + '"')
    assert error.message == f"error parsing regexp: {message}"
    # the value starts at column 4; each backslash before the culprit is written as two
    assert error.offset == 4 + column + value[:column].count("\\")


def test_overlong_regex_is_refused() -> None:
    """A regex value past 32 KiB is refused before RE2 sees it."""
    with pytest.raises(MatcherError, match=r"regex too long: 32769 characters"):
        Matcher("x", RE, "a" * (32 * 1024 + 1))


def test_hostile_label_values_match_in_linear_time() -> None:
    """Regexes that make a backtracking engine run for ages answer at once under RE2."""
    hostile = "a" * 50_000 + "!"
    for value in ("(a+)+b", "(a|aa)*c", "(a*)*$x", "(.*a){20}"):
        assert Matcher("x", RE, value).matches({"x": hostile}) is False
    assert Matcher("x", RE, "(a|b|c)+!").matches({"x": hostile}) is True


def test_deeply_nested_regexes_compile_and_match() -> None:
    matcher = Matcher("x", RE, "(" * 5000 + "a" + ")" * 5000)
    assert matcher.matches({"x": "a"}) is True
    assert matcher.matches({"x": "b"}) is False


def test_a_lone_surrogate_in_a_label_value_matches_as_the_replacement_character() -> None:
    """Go's JSON decoder turns a lone surrogate into U+FFFD; so does the matcher."""
    assert Matcher("x", RE, "a\ufffdb").matches({"x": "a\ud800b"}) is True
    assert Matcher("x", RE, "a.b").matches({"x": "a\udfffb"}) is True
    assert Matcher("x", NRE, "a.b").matches({"x": "a\udfffb"}) is False


def test_building_a_matcher_compiles_its_regex() -> None:
    """Matcher() itself refuses a bad regex, with an offset into the value."""
    with pytest.raises(MatcherError) as caught:
        Matcher("x", RE, "ab(?=c)")
    assert caught.value.offset == 2
    assert Matcher("x", EQ, "ab(?=c)").value == "ab(?=c)"


def test_matchers_compare_and_hash_by_name_type_and_value() -> None:
    """Equal matchers are equal and hash alike; the compiled regex is not part of identity."""
    assert parse_matcher('x=~"a|b"') == Matcher("x", RE, "a|b")
    assert hash(parse_matcher("x=~a|b")) == hash(Matcher("x", RE, "a|b"))
    assert Matcher("x", RE, "a") != Matcher("x", NRE, "a")
    assert "_regex" not in repr(Matcher("x", RE, "a"))


# --------------------------------------------------------------------------------------
# Matching
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    [
        ('severity="critical"', {"severity": "critical"}, True),
        ('severity="critical"', {"severity": "warning"}, False),
        ('severity="critical"', {}, False),
        ('severity=""', {}, True),
        ('severity=""', {"severity": "x"}, False),
        ('severity!="critical"', {}, True),
        ('severity!="critical"', {"severity": "critical"}, False),
        ('severity!=""', {}, False),
        ('severity!=""', {"severity": "x"}, True),
        ('severity=~"warn"', {"severity": "warning"}, False),
        ('severity=~"warn"', {"severity": "warn"}, True),
        ('severity=~"warn.*"', {"severity": "warning"}, True),
        ('severity=~"ing"', {"severity": "warning"}, False),
        ('severity=~"warning|critical"', {"severity": "critical"}, True),
        ('severity=~"warning|critical"', {"severity": "warningcritical"}, False),
        ('severity=~".*"', {}, True),
        ('severity=~".+"', {}, False),
        ('severity=~""', {}, True),
        ('severity=~""', {"severity": "x"}, False),
        ('severity!~""', {}, False),
        ('severity!~""', {"severity": "x"}, True),
        ('severity!~"warn"', {}, True),
        ('severity!~"warn"', {"severity": "warning"}, True),
        ('severity!~"warn.*"', {"severity": "warning"}, False),
        ('namespace!~"kube-.*"', {"namespace": "kube-system"}, False),
        ('namespace!~"kube-.*"', {"namespace": "shop"}, True),
        ('"service.name"="api"', {"service.name": "api"}, True),
    ],
)
def test_matching(text: str, labels: dict[str, str], expected: bool) -> None:
    """Regexes match the whole value; a missing label is the empty string for every operator."""
    assert parse_matcher(text).matches(labels) is expected


@pytest.mark.parametrize(
    ("value", "label", "expected"),
    [
        # anchoring is string concatenation, as in Alertmanager: ^(?:a)|(b)$
        ("a)|(b", "axyz", True),
        ("a)|(b", "xyzb", True),
        ("a)|(b", "xaz", False),
        # $ is the end of the text, never "before a final newline"
        ("foo", "foo\n", False),
        ("foo$\n", "foo\n", False),
        ("(?m)foo$\n", "foo\n", True),
        ("(?m)^b$", "a\nb", False),
        ("(?m:a$\n^b)", "a\nb", True),
        (".*", "a\nb", False),
        ("(?s).*", "a\nb", True),
        ("[^a]", "\n", True),
        # Perl classes and \b are ASCII
        ("\\d", "٣", False),
        ("\\w+", "é", False),
        ("\\s", "\u000b", False),
        ("\\s", "\u00a0", False),
        ("[[:space:]]", "\u000b", True),
        ("a\\b.*", "aé", True),
        ("a\\b.*", "a_", False),
        ("\\B", "", True),
        ("\\b", "", False),
        # braces that are not a valid repetition are literal text
        ("a{,3}", "a{,3}", True),
        ("a{,3}", "aa", False),
        ("a{01}", "a{01}", True),
        ("a{2}", "aa", True),
        ("a{2,}", "aaaa", True),
        ("{", "{", True),
        # case folding: Unicode simple folding, like Go
        ("(?i)error", "ERROR", True),
        ("(?i)k", "\u212a", True),
        ("(?i)s", "\u017f", True),
        ("(?i)i", "\u0131", False),
        ("(?i)i", "\u0130", False),
        ("(?i)\\W", "\u212a", False),
        ("(?i)[^k]", "K", False),
        ("(?i)ß", "ẞ", True),
        ("(?i:a)b", "AB", False),
        ("a(?i)b", "aB", True),
        # other RE2 spellings
        ("\\Qa.b\\E", "a.b", True),
        ("\\Qa.b\\E", "axb", False),
        ("\\x{1F642}", "🙂", True),
        ("\\101\\x42", "AB", True),
        ("(?P<n>x)(?<m>y)", "xy", True),
        ("(?U)a+", "aaa", True),
        ("[]a]+", "]a", True),
        ("[a-]+", "-a", True),
        ("[\\d-z]+", "1-z", True),
        ("[\\d-z]+", "y", False),
        ("[[:^alpha:]]", "1", True),
        # Unicode classes
        ("\\pL+", "héllo", True),
        ("\\p{Greek}+", "αβγ", True),
        ("\\p{Greek}", "a", False),
        ("\\PL", "1", True),
        ("\\pZ|x", "x", True),
    ],
)
def test_regexes_mean_what_go_means(value: str, label: str, expected: bool) -> None:
    """A regex matches as Alertmanager's Go regexp does, where Python's re would not."""
    assert Matcher("x", RE, value).matches({"x": label}) is expected


# --------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------

_REGEX_ALPHABET = "ab.*+?|()[]^$\\{},:-0123dswDSWiQEzAbBx"


def _regex_values() -> st.SearchStrategy[str]:
    return st.text(alphabet=_REGEX_ALPHABET, max_size=10)


def _compiles(value: str) -> bool:
    try:
        Matcher("x", RE, value)
    except MatcherError:
        return False
    return True


_VALID_REGEXES = _regex_values().filter(_compiles)


@st.composite
def matchers(draw: st.DrawFn) -> Matcher:
    name = draw(st.text(max_size=8) | st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,8}", fullmatch=True))
    match_type = draw(st.sampled_from(MatchType))
    if match_type in (RE, NRE):
        return Matcher(name, match_type, draw(_VALID_REGEXES))
    return Matcher(name, match_type, draw(st.text(max_size=12)))


@given(matchers())
def test_canonical_form_parses_back(matcher: Matcher) -> None:
    """parse_matcher(str(m)) == m for every matcher, whatever its name and value hold."""
    assert parse_matcher(str(matcher)) == matcher


_MATCHERISH = st.lists(
    st.sampled_from(
        [
            *"ab =!~\"'`\\{},\n\t.*+?()[]^$|:-0123xuUdpPQEz<>\u00a0\u000b🙂",
            *("foo", "=~", "!=", "!~", "(?", "\\x", "\\u"),
        ]
    ),
    max_size=16,
).map("".join)


@given(st.text() | _MATCHERISH)
def test_random_text_raises_only_matcher_error(text: str) -> None:
    """Any text parses or raises MatcherError, with a column inside the text."""
    try:
        parse_matcher(text)
    except MatcherError as error:
        offset = error.offset
    else:
        return
    assert 0 <= offset <= len(text)


@given(_regex_values())
def test_random_regexes_raise_only_matcher_error(value: str) -> None:
    """Any regex value compiles or raises MatcherError, with an offset inside the value."""
    try:
        Matcher("x", RE, value)
    except MatcherError as error:
        offset = error.offset
    else:
        return
    assert 0 <= offset <= max(len(value) - 1, 0)


_NAMES = st.sampled_from(["a", "b", "severity"])
_VALUES = st.sampled_from(["", "x", "warning", "a b"]) | st.text(max_size=4)


@given(_NAMES, _VALUES, st.dictionaries(_NAMES, _VALUES))
def test_equality_operators_agree_with_plain_comparison(
    name: str, value: str, labels: dict[str, str]
) -> None:
    """= and != compare the label, or "" when it is missing, with the value."""
    actual = labels.get(name, "")
    assert Matcher(name, EQ, value).matches(labels) is (actual == value)
    assert Matcher(name, NE, value).matches(labels) is (actual != value)


@given(_NAMES, _VALID_REGEXES, st.dictionaries(_NAMES, st.text(alphabet="ab\n{}", max_size=5)))
def test_negated_regex_is_the_negation(name: str, value: str, labels: dict[str, str]) -> None:
    """!~ matches exactly when =~ does not."""
    positive = Matcher(name, RE, value).matches(labels)
    assert Matcher(name, NRE, value).matches(labels) is not positive


@given(_NAMES, st.from_regex(r"[a-zA-Z0-9_]*", fullmatch=True), st.dictionaries(_NAMES, _VALUES))
def test_literal_regex_is_equality(name: str, value: str, labels: dict[str, str]) -> None:
    """A regex of letters, digits and underscores matches exactly when = would."""
    assert Matcher(name, RE, value).matches(labels) is Matcher(name, EQ, value).matches(labels)
