"""The JSON Schema printed by `healer schema` is a faithful editor aid.

Covers:
- it is a valid draft 2020-12 schema, and every library runbook (runbooks/*.yaml) is
  valid under it;
- it is never stricter than the loader: whatever mutated library runbook the loader
  accepts, the schema accepts too, or an editor would underline a valid runbook;
- it rejects, at their place, the mistakes an editor should flag: an unknown key, a
  misspelt action, `mode: Enforce`, missing `steps`, `rateLimit.by: cluster`, scale
  params of the wrong type;
- every default it offers (editors insert them on completion) is a valid value.

Where the two could disagree on a borderline value (a label written as a number, a padded
or fractional minHealthy, a padded duration) the loader refuses it with a hint and the
schema agrees; a test per case keeps them so.
"""

from __future__ import annotations

import copy
import functools
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from jsonschema import Draft202012Validator, ValidationError

from healer.actions.catalog import default_registry
from healer.runbook.loader import load
from tests.unit.runbook_strategies import (
    LIBRARY_DOCUMENTS,
    LIBRARY_TEXTS,
    ROOT,
    mutated_documents,
)

DURATION_PATTERN = r"^([0-9]+(y|w|d|h|m|s|ms))+$"


class _AsTheLoaderReads(yaml.SafeLoader):
    """YAML read as healer's loader reads it: a timestamp, binary or `<<` value stays the text
    written (an editor sees a string there too)."""


def _as_text(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    return loader.construct_scalar(node)  # type: ignore[arg-type]


for _tag in ("timestamp", "binary", "merge"):
    _AsTheLoaderReads.add_constructor(f"tag:yaml.org,2002:{_tag}", _as_text)


def documents(text: str) -> list[Any]:
    return [d for d in yaml.load_all(text, Loader=_AsTheLoaderReads) if d is not None]


@functools.cache
def printed_schema() -> dict[str, Any]:
    """The schema as a user gets it: `healer schema`'s output."""
    printed = subprocess.run([sys.executable, "-m", "healer.cli", "schema"], cwd=ROOT,
                             check=True, capture_output=True, text=True, timeout=60).stdout
    loaded: dict[str, Any] = json.loads(printed)
    return loaded


@functools.cache
def schema_validator() -> Draft202012Validator:
    # not a fixture in the property test: hypothesis would print its (100 kB) repr
    return Draft202012Validator(printed_schema())


@pytest.fixture
def schema() -> dict[str, Any]:
    return printed_schema()


@pytest.fixture
def validator() -> Draft202012Validator:
    return schema_validator()


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("runbooks")


def all_errors(validator: Draft202012Validator, instance: Any) -> Iterator[ValidationError]:
    """Every error, including those under oneOf/anyOf (where editors look too)."""
    pending = list(validator.iter_errors(instance))
    while pending:
        error = pending.pop()
        yield error
        pending.extend(error.context or ())


def loader_accepts(directory: Path, text: str) -> bool:
    path = directory / "runbook.yaml"
    path.write_text(text, encoding="utf-8")
    result = load([path], default_registry())
    return bool(result.runbooks) and not result.errors


# The schema itself ------------------------------------------------------------------------


def test_schema_is_valid_draft_2020_12(schema: dict[str, Any]) -> None:
    """`healer schema` prints a valid draft 2020-12 JSON Schema that says so."""
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize("name", sorted(LIBRARY_TEXTS))
def test_library_runbooks_are_valid(validator: Draft202012Validator, name: str) -> None:
    """Every runbook document of the library is valid under the schema."""
    found = documents(LIBRARY_TEXTS[name])
    assert found
    for document in found:
        assert [e.message for e in validator.iter_errors(document)] == []


# Never stricter than the loader -----------------------------------------------------------


@settings(max_examples=800)
@given(mutated_documents(max_mutations=2))
def test_schema_accepts_whatever_the_loader_accepts(scratch: Path, text: str) -> None:
    """A runbook the loader accepts is never underlined by an editor using the schema.

    The converse need not hold: the schema checks shapes, types and ranges; cross-field
    checks (an action against its target's kind, `owner.*` only in a step's target),
    template and matcher syntax and regex semantics live in the loader only, so a document
    the schema accepts may still fail `healer validate`.
    """
    if not loader_accepts(scratch, text):
        return
    (document,) = documents(text)
    stricter = [f"{'.'.join(map(str, e.absolute_path))}: {e.message}"
                for e in schema_validator().iter_errors(document)]
    assert stricter == []


_BORDERLINE_BASE = LIBRARY_TEXTS["checkout-oom-killed.yaml"].replace(
    "    maxConcurrent: 1", '    maxConcurrent: 1\n    minHealthy: "50%"')


def _borderline(written: str, instead: str) -> str:
    assert written in _BORDERLINE_BASE, written
    return _BORDERLINE_BASE.replace(written, instead)


@pytest.mark.parametrize("text", [
    pytest.param(_borderline("    team: payments", "    team: 1"), id="label-number"),
    pytest.param(_borderline('minHealthy: "50%"', 'minHealthy: " 50%"'),
                 id="min-healthy-space"),
    pytest.param(_borderline('minHealthy: "50%"', 'minHealthy: "50.%"'), id="min-healthy-dot"),
    pytest.param(_borderline('minHealthy: "50%"', 'minHealthy: ".5%"'),
                 id="min-healthy-fraction"),
    pytest.param(_borderline("cooldown: 2h", 'cooldown: " 2h "'), id="duration-spaces"),
    pytest.param(_borderline("team: payments", "team: '1'"), id="label-quoted-number"),
    pytest.param(_borderline('minHealthy: "50%"', 'minHealthy: "50.5%"'),
                 id="min-healthy-decimal"),
    pytest.param(_borderline('minHealthy: "50%"', "minHealthy: 2"), id="min-healthy-count"),
    pytest.param(_borderline("cooldown: 2h", "cooldown: 1h30m"), id="duration-compound"),
    pytest.param(_borderline("cooldown: 2h", "cooldown: 500ms"), id="duration-milliseconds"),
    pytest.param(_borderline("    team: payments", "    team: 1.10"), id="label-float"),
    pytest.param(_borderline('minHealthy: "50%"', 'minHealthy: "050%"'),
                 id="min-healthy-leading-zero"),
    pytest.param(_borderline('minHealthy: "50%"', 'minHealthy: "101%"'),
                 id="min-healthy-over-100"),
    pytest.param(_borderline('minHealthy: "50%"', 'minHealthy: "\u0665\u0660%"'),
                 id="min-healthy-arabic-indic-digits"),
    pytest.param(_borderline("cooldown: 2h", 'cooldown: "\u0663\u0660m"'),
                 id="duration-arabic-indic-digits"),
])
def test_schema_and_loader_agree(validator: Draft202012Validator, scratch: Path,
                                 text: str) -> None:
    """On these borderline values, an editor says what `healer validate` says."""
    (document,) = documents(text)
    assert validator.is_valid(document) == loader_accepts(scratch, text)


# What an editor flags ---------------------------------------------------------------------


def _set(path: tuple[Any, ...], value: Any) -> Callable[[Any], None]:
    def edit(document: Any) -> None:
        for key in path[:-1]:
            document = document[key]
        document[path[-1]] = value
    return edit


def _delete(path: tuple[Any, ...]) -> Callable[[Any], None]:
    def edit(document: Any) -> None:
        for key in path[:-1]:
            document = document[key]
        del document[path[-1]]
    return edit


_CRASH = "pod-crash-looping.yaml"
_SCALE = "p99-latency-scale-up.yaml"  # its one step is `scale` with {replicas: +2, max: 20}
_SCALE_PARAMS = ("spec", "steps", 0, "params")

FLAGGED = [
    pytest.param(_CRASH, _set(("spec", "cooldown"), "30m"), ("spec",),
                 id="unknown key in spec"),
    pytest.param(_CRASH, _set(("spec", "guards", "cooldwn"), "30m"), ("spec", "guards"),
                 id="misspelt guard"),
    pytest.param(_CRASH, _set(("spec", "steps", 0, "action"), "restart-pods"),
                 ("spec", "steps", 0, "action"), id="misspelt action"),
    pytest.param(_CRASH, _set(("spec", "mode"), "Enforce"), ("spec", "mode"),
                 id="mode Enforce"),
    pytest.param(_CRASH, _delete(("spec", "steps")), ("spec",), id="missing steps"),
    pytest.param(_CRASH, _set(("spec", "steps"), []), ("spec", "steps"), id="no steps"),
    pytest.param(_CRASH, _set(("spec", "guards", "rateLimit", "by"), "cluster"),
                 ("spec", "guards", "rateLimit", "by"), id="rateLimit by cluster"),
    pytest.param(_SCALE, _set((*_SCALE_PARAMS, "replicas"), "2"),
                 (*_SCALE_PARAMS, "replicas"), id="scale replicas a quoted count"),
    pytest.param(_SCALE, _set((*_SCALE_PARAMS, "replicas"), True),
                 (*_SCALE_PARAMS, "replicas"), id="scale replicas a boolean"),
    pytest.param(_SCALE, _set((*_SCALE_PARAMS, "replicas"), "+0"),
                 (*_SCALE_PARAMS, "replicas"), id="scale replicas a change of zero"),
    pytest.param(_SCALE, _set((*_SCALE_PARAMS, "replicas"), "+2%"),
                 (*_SCALE_PARAMS, "replicas"), id="scale replicas a percentage"),
    pytest.param(_SCALE, _set((*_SCALE_PARAMS, "by"), 2), _SCALE_PARAMS,
                 id="scale by, the old spelling of a change"),
    pytest.param(_SCALE, _set((*_SCALE_PARAMS, "adjustHpa"), "true"),
                 (*_SCALE_PARAMS, "adjustHpa"), id="scale adjustHpa a string"),
    pytest.param(_SCALE, _set((*_SCALE_PARAMS, "max"), "20"), (*_SCALE_PARAMS, "max"),
                 id="scale max a string"),
    pytest.param(_SCALE, _set((*_SCALE_PARAMS, "max"), 0), (*_SCALE_PARAMS, "max"),
                 id="scale max zero"),
    pytest.param(_SCALE, _set((*_SCALE_PARAMS, "replicas"), [3]),
                 (*_SCALE_PARAMS, "replicas"), id="scale replicas a list"),
    pytest.param(_SCALE, _set((*_SCALE_PARAMS, "replica"), 3), _SCALE_PARAMS,
                 id="scale param misspelt"),
    pytest.param(_CRASH, _set(("spec", "steps", 0, "params"), {"gracePeriodSeconds": "30s"}),
                 ("spec", "steps", 0, "params", "gracePeriodSeconds"),
                 id="restart-pod grace period a duration"),
    pytest.param(_CRASH, _set(("spec", "verify", "after"), "10 minutes"),
                 ("spec", "verify", "after"), id="duration in words"),
    pytest.param(_CRASH, _set(("spec", "guards", "cooldown"), 30),
                 ("spec", "guards", "cooldown"), id="duration a bare number"),
    pytest.param(_CRASH, _set(("spec", "guards", "cooldown"), "0.5h"),
                 ("spec", "guards", "cooldown"), id="duration a fraction"),
    pytest.param(_CRASH, _set(("spec", "guards", "rateLimit", "per"), "0s"),
                 ("spec", "guards", "rateLimit", "per"), id="rate limit per 0s"),
    pytest.param(_CRASH, _set(("spec", "guards", "minHealthy"), -2),
                 ("spec", "guards", "minHealthy"), id="min healthy negative"),
    pytest.param(_CRASH, _set(("spec", "target", "kind"), "Pods"), ("spec", "target", "kind"),
                 id="target kind plural"),
    pytest.param(_CRASH, _set(("spec", "target", "kind"), "Node"), ("spec", "target"),
                 id="node target with a namespace"),
    pytest.param(_CRASH, _set(("spec", "trigger", "promql"), {"query": "up == 0"}),
                 ("spec", "trigger"), id="two trigger kinds"),
    pytest.param(_CRASH, _set(("metadata", "name"), "Pod_Crash"), ("metadata", "name"),
                 id="name not DNS-1123"),
]


@pytest.mark.parametrize(("name", "edit", "at"), FLAGGED)
def test_schema_flags_mistakes_where_they_are(
        validator: Draft202012Validator, scratch: Path, name: str,
        edit: Callable[[Any], None], at: tuple[Any, ...]) -> None:
    """A mistake `healer validate` reports is underlined by an editor too, at its place."""
    document = copy.deepcopy(LIBRARY_DOCUMENTS[name])
    edit(document)
    assert not loader_accepts(scratch, yaml.safe_dump(document, sort_keys=False))
    places = {tuple(e.absolute_path) for e in all_errors(validator, document)}
    assert at in places, places


# Defaults offered on completion -----------------------------------------------------------


def _defaults(node: Any, pointer: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        if "default" in node:
            yield pointer, node
        for key, child in node.items():
            yield from _defaults(child, f"{pointer}/{key}")
    elif isinstance(node, list):
        for index, child in enumerate(node):
            yield from _defaults(child, f"{pointer}/{index}")


def _invalid_defaults(schema: dict[str, Any], durations: bool) -> list[str]:
    found = []
    for pointer, subschema in _defaults(schema):
        if (subschema.get("pattern") == DURATION_PATTERN) != durations:
            continue
        without = {k: v for k, v in subschema.items() if k != "default"}
        if not Draft202012Validator(without).is_valid(subschema["default"]):
            found.append(f"{pointer}: {subschema['default']!r}")
    return found


def test_defaults_offered_are_valid_values(schema: dict[str, Any]) -> None:
    """Every default the schema offers (other than durations) is valid where it is offered."""
    assert _invalid_defaults(schema, durations=False) == []
    assert list(_defaults(schema))


def test_duration_defaults_offered_are_durations(schema: dict[str, Any]) -> None:
    """A duration's default is offered as a duration (`10m`), which the loader accepts."""
    assert _invalid_defaults(schema, durations=True) == []
