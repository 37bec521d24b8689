"""Loading runbooks: files and directories in, validated `Runbook`s or every problem out.

`load(paths, catalog)` reads each YAML file (directories: every *.yaml / *.yml below them,
in name order), checks every document against the format, and reports each problem as
`path:line:col: message` — all problems of all files in one run, never a traceback. Names
must be unique across files; a duplicate names both places and is not loaded, nor is any
document with a problem: nothing is half-loaded. Each runbook gets a
`revision`: a hash of its normalized content (what it means, not how it is written), so
the audit trail can say exactly which version of a runbook decided.

Neighbours: `source` (positions), `format` (the specs), `model`; `cli` (`healer validate`)
and the daemon call `load`.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, fields, is_dataclass, replace
from pathlib import Path
from typing import Any

from healer.errors import RunbookError, RunbookErrors
from healer.runbook.format import ActionCatalog, cross_field_problems, runbook_spec
from healer.runbook.matchers import Matcher
from healer.runbook.model import Mode, Runbook, Source
from healer.runbook.source import Node, Position, load_documents
from healer.runbook.spec import INVALID, Issues, Obj
from healer.runbook.templates import Template

SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class LoadResult:
    runbooks: tuple[Runbook, ...]
    errors: tuple[RunbookError, ...]
    files: tuple[str, ...]  # every file read

    @property
    def ok(self) -> bool:
        return not self.errors


def runbook_files(paths: Iterable[Path]) -> tuple[list[Path], list[RunbookError]]:
    """The files to load: given files, and the YAML files below given directories.

    Below a directory, hidden files and directories are skipped: a ConfigMap mounted as
    a volume holds every file twice, once under a hidden `..2026_12_03_...` directory,
    and editors leave hidden swap and backup files.
    """
    found: list[Path] = []
    errors: list[RunbookError] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(
                p for p in path.rglob("*")
                if p.suffix in SUFFIXES and p.is_file()
                and not any(part.startswith(".") for part in p.relative_to(path).parts)))
        elif path.is_file():
            found.append(path)
        else:
            reason = "not a regular file" if path.exists() else "no such file or directory"
            errors.append(RunbookError(str(path), 1, 1, reason))
    return found, errors


def load(paths: Iterable[Path], catalog: ActionCatalog) -> LoadResult:
    """Load every runbook under `paths`; problems are returned, not raised."""
    files, errors = runbook_files(paths)
    spec = runbook_spec(catalog)
    runbooks: list[tuple[Runbook, Position]] = []  # and where its name is written
    for path in files:
        loaded, problems = _load_file(path, spec, catalog)
        runbooks.extend(loaded)
        errors.extend(problems)
    unique, duplicates = _duplicates(runbooks)
    errors.extend(duplicates)
    return LoadResult(tuple(unique), tuple(errors), tuple(str(f) for f in files))


def load_runbooks(paths: Iterable[Path], catalog: ActionCatalog) -> tuple[Runbook, ...]:
    """Load, or raise `RunbookErrors` with every problem."""
    result = load(paths, catalog)
    if result.errors:
        raise RunbookErrors(list(result.errors))
    return result.runbooks


def revision(runbook: Runbook) -> str:
    """A stable hash of what the runbook means: formatting, comments, key order and
    explicitly written defaults do not change it."""
    canonical = json.dumps(_normal(runbook), sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _load_file(path: Path, spec: Obj, catalog: ActionCatalog) -> tuple[
        list[tuple[Runbook, Position]], list[RunbookError]]:
    name = str(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        return [], [RunbookError(name, 1, 1, f"cannot read: {error.strerror}")]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        return [], [_not_utf8(name, data, error.start)]
    try:
        documents = load_documents(text, name)
    except RunbookError as error:
        return [], [error]
    if not documents:
        return [], [RunbookError(name, 1, 1, "no runbook in this file")]
    runbooks: list[tuple[Runbook, Position]] = []
    issues = Issues()
    for document, yaml_problems, complete in documents:
        issues.errors.extend(yaml_problems)
        if not complete or _foreign(document, spec, issues):
            continue  # checking the rest would only repeat the problem, or be noise
        values = spec.convert(document, "", issues)
        if values is INVALID or yaml_problems:
            continue
        problems = cross_field_problems(values, catalog)
        for path_keys, message, offset in problems:
            issues.add(_find(document, path_keys).text_position(offset),
                       f"{_where(path_keys)}: {message}")
        if problems:
            continue
        runbooks.append((_build(values, document),
                         _find(document, ("metadata", "name")).position))
    return runbooks, issues.errors


def _foreign(document: Node, spec: Obj, issues: Issues) -> bool:
    """Whether the document says it is not a runbook, by a wrong apiVersion or kind (a
    ConfigMap, a future format): that is its one problem, not every key it has."""
    if not document.is_mapping:
        return False
    found = len(issues.errors)
    for key in ("apiVersion", "kind"):
        if key in document.value:
            spec.fields[key].spec.convert(document.value[key][1], key, issues)
    return len(issues.errors) > found


def _not_utf8(name: str, data: bytes, start: int) -> RunbookError:
    """Where the first byte that is not UTF-8 is, so the file can be fixed."""
    line_start = data.rfind(b"\n", 0, start) + 1
    column = len(data[line_start:start].decode("utf-8", "replace")) + 1
    return RunbookError(name, data.count(b"\n", 0, start) + 1, column,
                        f"not UTF-8 text: byte 0x{data[start]:02x} is not valid UTF-8; save "
                        f"the file as UTF-8")


def _where(keys: tuple[str, ...]) -> str:
    """A key path as messages write it: spec.steps[0].action."""
    return "".join(f"[{key}]" if key.isdigit() else f".{key}" for key in keys).lstrip(".")


def _build(values: dict[str, Any], document: Node) -> Runbook:
    metadata, spec = values["metadata"], values["spec"]
    runbook = Runbook(
        name=metadata["name"], labels=metadata["labels"], description=spec["description"],
        mode=Mode(spec["mode"]) if "mode" in spec else None,
        toil_minutes=spec.get("toil_minutes"), trigger=spec["trigger"],
        scope=spec["scope"], target=spec["target"], steps=spec["steps"],
        verify=spec.get("verify"), guards=spec["guards"], notify=spec["notify"],
        source=Source(document.position.path, document.position.line))
    return replace(runbook, revision=revision(runbook))


def _duplicates(runbooks: list[tuple[Runbook, Position]]) -> tuple[list[Runbook],
                                                                  list[RunbookError]]:
    """The runbooks without later ones reusing a name, and an error for each of those."""
    first: dict[str, Position] = {}
    unique: list[Runbook] = []
    errors = []
    for runbook, name in runbooks:
        earlier = first.setdefault(runbook.name, name)
        if earlier is name:
            unique.append(runbook)
            continue
        errors.append(name.error(
            f"metadata.name: duplicate runbook name '{runbook.name}': also the name of the "
            f"runbook at {earlier.path}:{earlier.line}:{earlier.column}"))
    return unique, errors


def _find(node: Node, keys: tuple[str, ...]) -> Node:
    """The deepest node along `keys` (mapping keys or list indexes)."""
    for key in keys:
        if isinstance(node.value, dict) and key in node.value:
            node = node.value[key][1]
        elif isinstance(node.value, list) and key.isdigit() and int(key) < len(node.value):
            node = node.value[int(key)]
        else:
            break
    return node


@functools.cache
def _field_names(kind: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(kind) if f.name not in ("revision", "source"))


def _normal(value: Any) -> Any:
    """A JSON-able, order-independent form of a model value."""
    if isinstance(value, Template):
        return value.source
    if isinstance(value, Matcher):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    if is_dataclass(value) and not isinstance(value, type):
        return {name: _normal(getattr(value, name)) for name in _field_names(type(value))}
    if isinstance(value, dict):
        return {str(k): _normal(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_normal(v) for v in value]
    return value
