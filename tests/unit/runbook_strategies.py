"""Hypothesis strategies for runbook files, shared by the loader and schema tests.

- `yaml_texts()`: YAML built from random JSON-like values, valid and broken alike, with
  the corner cases sprinkled in: YAML 1.1 specials (`yes`, `~`, `1e3`, `.inf`), anchors
  and aliases, tags like `!!python/object`, nesting 200 deep, huge integers, several
  documents in one file.
- `mutated_documents()`: a library runbook (runbooks/*.yaml) parsed, changed a little (a
  key deleted, renamed to a near miss or added; a value replaced by one of another type;
  a list item duplicated; a duration swapped for garbage; a value respelt, padded or
  nudged; an optional field added with a borderline value; a matcher or template edited
  character by character) and dumped back. These stay close to valid runbooks, so they
  reach the deep checks (actions, params, templates, matchers) that random YAML never gets
  past, and many of them are still valid.
- `mutated_texts()`: a library file's text with characters or lines deleted, inserted or
  duplicated.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import yaml
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = tuple(sorted((ROOT / "runbooks").glob("*.yaml")))
LIBRARY_TEXTS: dict[str, str] = {path.name: path.read_text(encoding="utf-8") for path in LIBRARY}
LIBRARY_DOCUMENTS: dict[str, Any] = {name: yaml.safe_load(text)
                                     for name, text in LIBRARY_TEXTS.items()}

DURATION = re.compile(r"(\d+(y|w|d|h|m|s|ms))+")
KeyPath = tuple[Any, ...]  # keys and list indexes from a document's root to one value


def _keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _keys(v)}
    return set()


FIELD_NAMES = tuple(sorted(set().union(*(_keys(d) for d in LIBRARY_DOCUMENTS.values()))))

# Strings YAML 1.1 resolves to something else, or that mean something to a YAML parser.
YAML_SPECIALS = (
    "yes", "no", "Yes", "NO", "on", "off", "y", "n", "true", "False", "~", "null", "Null",
    "", " ", "\t", "\n", "1e3", "1.5e-3", "0x1F", "0o17", "017", "0b101", "1_000", "1:30",
    "190:20:30", "+.inf", "-.inf", ".inf", ".nan", ".NaN", "2024-01-01",
    "2001-12-14t21:59:43.10-05:00", "<<", "=", "&a", "*a", "!!python/object", "!foo", "{{",
    "}}", "{{ labels.pod }}", "'", '"', "#", "# comment", "- ", "? ", ": ", "---", "...",
    "%YAML 1.1", "|", ">-", "@", "`", "0", "-0", "00", "\\", "\u2028", "\x85", "\ufeff",
)

# Values that are valid somewhere in a runbook: swapped in elsewhere, they make documents
# that are wrong in one plausible way (or, now and then, still valid).
PLAUSIBLE: tuple[Any, ...] = (
    "50%", "0%", "100%", "75.5%", 0, 1, 3, 20, -1, 100, "dry-run", "enforce", "Enforce",
    "target", "runbook", "namespace", "cluster", "Pod", "Node", "Namespace", "Deployment",
    "StatefulSet", "ReplicaSet", "Job", "restart-pod", "rollout-restart", "rollout-undo",
    "scale", "drain", "cordon", "notify", "delete-failed-pods", "patch-resources",
    "{{ labels.pod }}", "{{ labels.namespace }}", "{{ owner.name }}", "{{ value }}",
    "{{ annotations.summary }}", "{{labels.node}}-x", 'severity="critical"',
    'namespace=~"shop|payments"', 'team!=""', 'pod!~"canary-.*"', "oncall", True, False,
    None, "healer/v1", "Runbook", "KubePodCrashLooping", "0s", "500ms", "30s", "5m", "1h",
    "1h30m", "2w", "1y", "+25%", "1Gi", "500m", "shop-*", "up == 0", [], {},
)

# Durations as people mistype them, and a few unusual valid ones.
DURATION_LIKE = (
    "10", "10 m", "1.5h", "-5m", "m", "5M", "1h30", "30s30s", "1m1h", "ten minutes", "",
    "0", "PT5M", "1e3s", "5mins", "\u0663s", "0s", "1ms", "90s", "1h30m", "2w", "1y2w3d4h5m6s7ms",
    "00001m",
)

# Other spellings of a percentage, valid or nearly so.
PERCENT_LIKE = ("0%", "100%", "101%", "50.5%", " 50%", "50% ", "50.%", ".5%", "50", "50 %",
                "+50%", "-5%", "1e2%", "\u0665\u0660%", 50, 0, -1)

# Tags the loader must turn into a "path:line:col: invalid value" error or a plain value.
TAGS = (
    "!!python/object", "!!python/object/apply:os.system", "!!python/name:os.system",
    "!!str", "!!int", "!!float", "!!bool", "!!null", "!!timestamp", "!!binary", "!!set",
    "!!omap", "!!pairs", "!!map", "!!seq", "!!merge", "!!value", "!foo",
    "!<tag:example.com,2000:x>",
)

# Well below Python's 4300-digit limit for printing an int (yaml.safe_dump prints them),
# and short enough for hypothesis to print a failing example; `_HUGE_INTS` goes past it.
_HUGE = 10**600

SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=-_HUGE, max_value=_HUGE),
    st.floats(), st.text(max_size=20), st.sampled_from(YAML_SPECIALS),
    st.sampled_from(PLAUSIBLE),
)
KEYS = st.one_of(st.text(max_size=12), st.sampled_from(FIELD_NAMES),
                 st.sampled_from(YAML_SPECIALS))
JSON_VALUES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children,
                                                                      max_size=4),
    max_leaves=15)


def _dump(draw: st.DrawFn, value: Any) -> str:
    """`value` as YAML, in a drawn style (block, flow, or block with flow collections)."""
    return yaml.safe_dump(value, sort_keys=draw(st.booleans()), allow_unicode=draw(st.booleans()),
                          default_flow_style=draw(st.sampled_from([False, True, None])),
                          width=draw(st.sampled_from([80, 40, 10_000])))


@st.composite
def _dumped(draw: st.DrawFn) -> str:
    return _dump(draw, draw(JSON_VALUES))


@st.composite
def _hand_written(draw: st.DrawFn) -> str:
    """Flow-style YAML written by hand: scalars plain (as they come) or quoted, with
    anchors, aliases (known and unknown) and tags here and there."""
    anchors: list[str] = []

    def emit(value: Any) -> str:
        decoration = draw(st.sampled_from(["", "", "", "", "", "tag", "anchor", "alias"]))
        if decoration == "alias":
            return "*" + draw(st.sampled_from([*anchors, "nowhere"]))
        prefix = ""
        if decoration == "tag":
            prefix = draw(st.sampled_from(TAGS)) + " "
        elif decoration == "anchor":
            anchors.append(f"a{len(anchors)}")
            prefix = f"&{anchors[-1]} "
        if isinstance(value, dict):
            items = ", ".join(f"{emit(k)}: {emit(v)}" for k, v in value.items())
            return prefix + "{" + items + "}"
        if isinstance(value, list):
            return prefix + "[" + ", ".join(emit(v) for v in value) + "]"
        if isinstance(value, str):
            style = draw(st.sampled_from(["plain", "double", "single"]))
            if style == "double":
                return prefix + json.dumps(value)
            if style == "single":
                return prefix + "'" + value.replace("'", "''") + "'"
            return prefix + value
        return prefix + yaml.safe_dump(value, default_flow_style=True).removesuffix(
            "\n...\n").strip()

    return emit(draw(JSON_VALUES))


def _nested(depth: int, style: str) -> str:
    if style == "flow-list":
        return "[" * depth + "]" * depth
    if style == "flow-map":
        return "{a: " * depth + "1" + "}" * depth
    if style == "block-list":
        return "- " * depth + "x\n"
    return "".join(" " * (2 * i) + "a:\n" for i in range(depth)) + " " * (2 * depth) + "1\n"


_DEEP = st.builds(_nested, st.integers(1, 200),
                  st.sampled_from(["flow-list", "flow-map", "block-list", "block-map"]))
_HUGE_INTS = st.builds(
    "{}: {}{}\n".format,
    st.sampled_from(["toilMinutes", "description", "labels", "minHealthy", "cooldown"]),
    st.sampled_from(["", "-", "0x", "-0x", "0b", "0o"]),
    st.integers(1, 6000).map(lambda n: "1" * n),
)
_SEXAGESIMAL = st.integers(1, 3000).map(lambda n: f"toilMinutes: {'1:' * n}0\n")  # YAML 1.1


@st.composite
def _several_documents(draw: st.DrawFn) -> str:
    parts = draw(st.lists(st.one_of(_dumped(), _hand_written()), min_size=2, max_size=3))
    return draw(st.sampled_from(["\n---\n", "\n...\n---\n"])).join(parts)


def yaml_texts() -> st.SearchStrategy[str]:
    """YAML-ish text: random values dumped or written by hand, deep nesting, huge ints."""
    return st.one_of(_dumped(), _hand_written(), _DEEP, _HUGE_INTS, _SEXAGESIMAL,
                     _several_documents())


# Mutations of parsed library runbooks ---------------------------------------------------


def _paths(value: Any, at: KeyPath = ()) -> list[KeyPath]:
    found = [at]
    if isinstance(value, dict):
        for key, child in value.items():
            found.extend(_paths(child, (*at, key)))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found.extend(_paths(child, (*at, index)))
    return found


def _get(value: Any, path: KeyPath) -> Any:
    for key in path:
        value = value[key]
    return value


def _set(document: Any, path: KeyPath, new: Any) -> Any:
    if not path:
        return new
    _get(document, path[:-1])[path[-1]] = new
    return document


def _near_miss(draw: st.DrawFn, word: str) -> str:
    """`word` with one typo: a character dropped, doubled, swapped, re-cased or replaced;
    or camelCase written as snake_case or lower case."""
    if not word:
        return draw(st.text(min_size=1, max_size=3))
    i = draw(st.integers(0, len(word) - 1))
    kind = draw(st.sampled_from(["drop", "double", "swap", "case", "replace", "snake",
                                 "lower", "plural"]))
    if kind == "drop" and len(word) > 1:
        return word[:i] + word[i + 1:]
    if kind == "double":
        return word[:i] + word[i] + word[i:]
    if kind == "swap" and i + 1 < len(word) and word[i] != word[i + 1]:
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    if kind == "case" and word[i].swapcase() != word[i]:
        return word[:i] + word[i].swapcase() + word[i + 1:]
    if kind == "snake" and word != re.sub(r"(?<!^)(?=[A-Z])", "_", word).lower():
        return re.sub(r"(?<!^)(?=[A-Z])", "_", word).lower()
    if kind == "lower" and word.lower() != word:
        return word.lower()
    if kind == "plural":
        return word + "s"
    return word[:i] + draw(st.sampled_from("abcdefghijklmnopqrstuvwxyz")) + word[i + 1:]


# characters that mean something in templates, matchers, durations and YAML
_EDIT_ALPHABET = st.one_of(st.sampled_from(list('{}"\'=~!|.\\*()[] :,#-_%+$^?')),
                           st.characters(codec="utf-8"))


def _edited(draw: st.DrawFn, text: str) -> str:
    """`text` with a few characters inserted or deleted."""
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(text)))
        if text and draw(st.booleans()):
            text = text[:i] + text[i + 1:]
        else:
            text = text[:i] + draw(st.text(_EDIT_ALPHABET, min_size=1, max_size=3)) + text[i:]
    return text


def _respelt(draw: st.DrawFn, value: Any) -> Any:
    """Another spelling of a scalar, or a neighbouring value, often still valid: padded or
    re-cased text, other durations and percentages, numbers as text, nearby numbers."""
    if isinstance(value, bool):
        return draw(st.sampled_from([not value, str(value).lower(), "yes", 1, None]))
    if isinstance(value, int):
        as_float = float(value) if abs(value) < 2**53 else 1e300
        return draw(st.sampled_from([value + 1, value - 1, 0, -value, 2**63, str(value),
                                     as_float, f" {value}", True]))
    if not isinstance(value, str):
        return draw(st.sampled_from(PLAUSIBLE))
    if DURATION.fullmatch(value):
        pool: tuple[Any, ...] = DURATION_LIKE
    elif value.endswith("%"):
        pool = PERCENT_LIKE
    else:
        pool = (value.upper(), value.lower(), value.title(), value + "x", value[:-1], 1, 1.5)
    padded = [f" {value}", f"{value} ", f"\t{value}", f" {value} "]
    return draw(st.sampled_from([*pool, *padded]))


_SMALL_INTS = st.one_of(st.integers(-2, 100), st.sampled_from([2**63, -(2**63) - 1]))
_PADDED_DURATIONS = st.sampled_from(DURATION_LIKE).flatmap(
    lambda d: st.sampled_from([d, f" {d}", f"{d} ", f"\t{d}\t"]))

# Optional fields a runbook may leave out, and values for them, valid or nearly so.
OPTIONAL: dict[KeyPath, st.SearchStrategy[Any]] = {
    ("metadata", "labels"): st.dictionaries(
        st.sampled_from(["team", "tier", "app.kubernetes.io/name", "1", ""]),
        st.one_of(st.text(max_size=8), st.integers(), st.floats(), st.booleans(), st.none(),
                  st.sampled_from(YAML_SPECIALS)), max_size=3),
    ("spec", "mode"): st.sampled_from(["dry-run", "enforce", "Enforce", "dryrun", " enforce"]),
    ("spec", "toilMinutes"): _SMALL_INTS,
    ("spec", "scope", "namespaces"): st.lists(st.sampled_from(["shop", "shop-*", "*", "", "a b"]),
                                              max_size=3),
    ("spec", "notify"): st.lists(st.sampled_from(["oncall", "slack", "", "x" * 300]),
                                 max_size=3),
    ("spec", "guards", "minHealthy"): st.sampled_from(PERCENT_LIKE),
    ("spec", "guards", "cooldown"): _PADDED_DURATIONS,
    ("spec", "guards", "maxConcurrent"): _SMALL_INTS,
    ("spec", "guards", "rateLimit"): st.fixed_dictionaries(
        {"max": _SMALL_INTS, "per": _PADDED_DURATIONS},
        optional={"by": st.sampled_from(["target", "runbook", "namespace", "cluster"])}),
}


def _mutate(draw: st.DrawFn, document: Any) -> Any:
    """One random change to `document` (which it may change in place)."""
    paths = _paths(document)
    mappings = [p for p in paths if isinstance(_get(document, p), dict)]
    nonempty = [p for p in mappings if _get(document, p)]
    lists = [p for p in paths if isinstance(_get(document, p), list) and _get(document, p)]
    strings = [p for p in paths if isinstance(_get(document, p), str)]
    templates_and_matchers = [p for p in strings if "{{" in _get(document, p)
                              or "matchers" in p]
    durations = [p for p in strings if DURATION.fullmatch(_get(document, p))]
    scalars = [p for p in paths if p and not isinstance(_get(document, p), dict | list)]
    kind = draw(st.sampled_from(["delete", "rename", "replace", "plausible", "duplicate",
                                 "unknown", "duration", "edit", "edit-template", "respell",
                                 "respell", "optional", "optional"]))
    if kind == "delete" and nonempty:
        mapping = _get(document, draw(st.sampled_from(nonempty)))
        del mapping[draw(st.sampled_from(sorted(mapping)))]
    elif kind == "rename" and nonempty:
        mapping = _get(document, draw(st.sampled_from(nonempty)))
        key = draw(st.sampled_from(sorted(mapping)))
        mapping[_near_miss(draw, key)] = mapping.pop(key)
    elif kind == "replace":
        document = _set(document, draw(st.sampled_from(paths)), draw(JSON_VALUES))
    elif kind == "plausible":
        document = _set(document, draw(st.sampled_from(paths)),
                        copy.deepcopy(draw(st.sampled_from(PLAUSIBLE))))
    elif kind == "duplicate" and lists:
        items = _get(document, draw(st.sampled_from(lists)))
        item = draw(st.sampled_from(items))
        items.insert(draw(st.integers(0, len(items))), copy.deepcopy(item))
    elif kind == "unknown" and mappings:
        mapping = _get(document, draw(st.sampled_from(mappings)))
        key = draw(st.one_of(st.sampled_from(FIELD_NAMES), KEYS,
                             st.sampled_from(FIELD_NAMES).map(lambda k: k + "s")))
        mapping[key] = draw(st.one_of(st.sampled_from(PLAUSIBLE), JSON_VALUES))
    elif kind == "duration" and durations:
        garbage = draw(st.one_of(st.sampled_from(DURATION_LIKE), st.text(max_size=6)))
        document = _set(document, draw(st.sampled_from(durations)), garbage)
    elif kind == "edit" and strings:
        path = draw(st.sampled_from(strings))
        document = _set(document, path, _edited(draw, _get(document, path)))
    elif kind == "optional" and isinstance(document, dict):
        path = draw(st.sampled_from(sorted(OPTIONAL)))
        parent = document
        for key in path[:-1]:
            if not isinstance(parent.get(key, {}), dict):
                return document
            parent = parent.setdefault(key, {})
        parent[path[-1]] = draw(OPTIONAL[path])
    elif kind == "respell" and scalars:
        path = draw(st.sampled_from(scalars))
        document = _set(document, path, _respelt(draw, _get(document, path)))
    elif kind == "edit-template" and templates_and_matchers:
        path = draw(st.sampled_from(templates_and_matchers))
        document = _set(document, path, _edited(draw, _get(document, path)))
    return document


@st.composite
def mutated_documents(draw: st.DrawFn, max_mutations: int = 4) -> str:
    """A library runbook, mutated, dumped as YAML (one document)."""
    name = draw(st.sampled_from(sorted(LIBRARY_DOCUMENTS)))
    document = copy.deepcopy(LIBRARY_DOCUMENTS[name])
    for _ in range(draw(st.integers(1, max_mutations))):
        document = _mutate(draw, document)
    return _dump(draw, document)


# Mutations of library files' text ---------------------------------------------------------

_TEXT_ALPHABET = st.one_of(st.sampled_from(list("{}[]\"':-#&*!|>%@`, \t\n")),
                           st.characters(codec="utf-8"))


def _text_edit(draw: st.DrawFn, text: str) -> str:
    lines = text.splitlines(keepends=True)
    kind = draw(st.sampled_from(["delete", "insert", "duplicate", "delete-line",
                                 "duplicate-line", "swap-lines", "indent", "dedent"]))
    if kind in ("delete", "insert", "duplicate") or not lines:
        i = draw(st.integers(0, len(text)))
        n = draw(st.integers(1, 8))
        if kind == "delete":
            return text[:i] + text[i + n:]
        if kind == "duplicate":
            return text[:i + n] + text[i:i + n] + text[i + n:]
        return text[:i] + draw(st.text(_TEXT_ALPHABET, min_size=1, max_size=n)) + text[i:]
    i = draw(st.integers(0, len(lines) - 1))
    if kind == "delete-line":
        del lines[i]
    elif kind == "duplicate-line":
        lines.insert(i, lines[i])
    elif kind == "swap-lines":
        j = draw(st.integers(0, len(lines) - 1))
        lines[i], lines[j] = lines[j], lines[i]
    elif kind == "indent":
        lines[i] = draw(st.sampled_from([" ", "  ", "\t"])) + lines[i]
    else:
        lines[i] = lines[i].removeprefix(draw(st.sampled_from([" ", "  "])))
    return "".join(lines)


@st.composite
def mutated_texts(draw: st.DrawFn, max_edits: int = 4) -> str:
    """A library file's text with a few characters or lines changed."""
    text = LIBRARY_TEXTS[draw(st.sampled_from(sorted(LIBRARY_TEXTS)))]
    for _ in range(draw(st.integers(1, max_edits))):
        text = _text_edit(draw, text)
    return text

