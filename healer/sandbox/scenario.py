"""Scenario files: the initial state of a sandbox cluster and how its pods and nodes behave.

```yaml
apiVersion: healer/v1
kind: Scenario
timing: {podStart: 500ms, restartInterval: 2s, termination: 500ms, jobRun: 1s}
nodes:                        # a count, or a list of {name, labels, ready}
  - {name: node-1}
  - {name: node-2, ready: "False"}
objects: [...]                # plain Kubernetes manifests, created in order
pods:                         # behaviour rules (see `behaviour.PodBehaviour`)
  - select: {namespace: shop, labels: {app: checkout}}
    behaviour: crash-loop
    count: 1
    persist: false
```

The format is documented for users in docs/sandbox.md. Errors are `ConfigError`s naming
the file and the field, never a traceback.

Neighbours: `behaviour` (the rule types), `Sandbox` (loads and applies a scenario).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from healer.errors import ConfigError
from healer.sandbox.behaviour import NodeState, PodBehaviour, PodFault, PodSelector, Timing

DEFAULT_NODE_COUNT = 3
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)?$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
_TOP_LEVEL = ("apiVersion", "kind", "description", "timing", "nodes", "objects", "pods")


@dataclass(frozen=True)
class NodeSpec:
    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    ready: NodeState = NodeState.READY


@dataclass(frozen=True)
class Scenario:
    """A parsed scenario: what to create and how it behaves."""

    name: str = "empty"
    description: str = ""
    timing: Timing = field(default_factory=Timing)
    nodes: tuple[NodeSpec, ...] = ()
    objects: tuple[Mapping[str, Any], ...] = ()
    pods: tuple[PodBehaviour, ...] = ()


def parse_duration(value: Any, where: str) -> float:
    """Seconds from `500ms`, `2s`, `1m`, `1h` or a plain number of seconds."""
    if isinstance(value, bool):
        raise ConfigError(f"{where}: expected a duration like 500ms, 2s or 1m, got {value!r}")
    if isinstance(value, int | float):
        if value < 0:
            raise ConfigError(f"{where}: a duration cannot be negative")
        return float(value)
    match = _DURATION.match(str(value).strip())
    if not match:
        raise ConfigError(f"{where}: expected a duration like 500ms, 2s or 1m, got {value!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def default_scenario_path() -> Path:
    """The scenario `healer sandbox` uses when given none: a small shop with one fault."""
    return Path(str(resources.files("healer.sandbox") / "scenarios" / "demo.yaml"))


def load_scenario(path: Path) -> Scenario:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"{path}: cannot read scenario: {error.strerror}") from None
    try:
        document = yaml.safe_load(text)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise ConfigError(f"{where}: invalid YAML: {error.problem}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: invalid YAML: {error}") from None
    return parse_scenario(document, str(path), name=path.stem)


def parse_scenario(document: Any, source: str, *, name: str = "scenario") -> Scenario:
    if document is None:
        return Scenario(name=name)
    if not isinstance(document, dict):
        raise ConfigError(f"{source}: a scenario must be a mapping with objects, nodes, pods")
    problems: list[str] = []
    unknown = sorted(set(document) - set(_TOP_LEVEL))
    if unknown:
        problems.append(f"unknown field(s) {', '.join(map(repr, unknown))}; "
                        f"expected some of {', '.join(_TOP_LEVEL)}")
    if document.get("kind", "Scenario") != "Scenario":
        problems.append(f"kind: expected Scenario, got {document.get('kind')!r}")
    scenario = Scenario(name=name, description=str(document.get("description") or ""))
    try:
        scenario = Scenario(
            name=name, description=scenario.description,
            timing=_timing(document.get("timing") or {}),
            nodes=_nodes(document.get("nodes")),
            objects=_objects(document.get("objects") or []),
            pods=tuple(_rule(r, f"pods[{i}]") for i, r in enumerate(document.get("pods") or [])),
        )
    except ConfigError as error:
        problems.append(str(error))
    if problems:
        raise ConfigError("\n".join(f"{source}: {p}" for p in problems))
    return scenario


def _timing(section: Any) -> Timing:
    if not isinstance(section, dict):
        raise ConfigError("timing: expected a mapping")
    names = {"podStart": "pod_start", "restartInterval": "restart_interval",
             "termination": "termination", "jobRun": "job_run"}
    unknown = sorted(set(section) - set(names))
    if unknown:
        raise ConfigError(f"timing: unknown field(s) {', '.join(map(repr, unknown))}; "
                          f"expected some of {', '.join(names)}")
    return Timing(**{names[k]: parse_duration(v, f"timing.{k}") for k, v in section.items()})


def _nodes(section: Any) -> tuple[NodeSpec, ...]:
    if section is None:
        return ()
    if isinstance(section, int) and not isinstance(section, bool):
        if section < 0:
            raise ConfigError("nodes: a node count cannot be negative")
        return tuple(NodeSpec(f"node-{i}") for i in range(1, section + 1))
    if not isinstance(section, list):
        raise ConfigError("nodes: expected a count or a list of {name, labels, ready}")
    nodes = []
    for i, entry in enumerate(section):
        where = f"nodes[{i}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise ConfigError(f"{where}: expected a mapping with a name")
        unknown = sorted(set(entry) - {"name", "labels", "ready"})
        if unknown:
            raise ConfigError(f"{where}: unknown field(s) {', '.join(map(repr, unknown))}")
        ready = str(entry.get("ready", "True")).capitalize()
        try:
            state = NodeState(ready)
        except ValueError:
            raise ConfigError(f'{where}.ready: expected "True", "False" or "Unknown", got '
                              f"{entry.get('ready')!r}") from None
        labels = entry.get("labels") or {}
        if not isinstance(labels, dict):
            raise ConfigError(f"{where}.labels: expected a mapping")
        nodes.append(NodeSpec(entry["name"], {str(k): str(v) for k, v in labels.items()},
                              state))
    return tuple(nodes)


def _objects(section: Any) -> tuple[Mapping[str, Any], ...]:
    if not isinstance(section, list):
        raise ConfigError("objects: expected a list of Kubernetes manifests")
    for i, obj in enumerate(section):
        if not isinstance(obj, dict) or not obj.get("apiVersion") or not obj.get("kind"):
            raise ConfigError(f"objects[{i}]: expected a Kubernetes manifest with apiVersion "
                              "and kind")
        if not isinstance(obj.get("metadata"), dict) or not (
                obj["metadata"].get("name") or obj["metadata"].get("generateName")):
            raise ConfigError(f"objects[{i}] ({obj['kind']}): metadata.name is required")
    return tuple(section)


def _rule(entry: Any, where: str) -> PodBehaviour:
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: expected a mapping with select and behaviour")
    allowed = {"select", "behaviour", "count", "persist", "container", "after"}
    unknown = sorted(set(entry) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {', '.join(map(repr, unknown))}; "
                          f"expected some of {', '.join(sorted(allowed))}")
    faults = ", ".join(f.value for f in PodFault)
    try:
        fault = PodFault(entry.get("behaviour"))
    except ValueError:
        raise ConfigError(f"{where}.behaviour: expected one of {faults}, got "
                          f"{entry.get('behaviour')!r}") from None
    select = entry.get("select") or {}
    if not isinstance(select, dict) or set(select) - {"namespace", "name", "labels"}:
        raise ConfigError(f"{where}.select: expected a mapping of namespace, name, labels")
    labels = select.get("labels") or {}
    if not isinstance(labels, dict):
        raise ConfigError(f"{where}.select.labels: expected a mapping")
    count = entry.get("count")
    if count is not None and (not isinstance(count, int) or isinstance(count, bool)
                              or count < 1):
        raise ConfigError(f"{where}.count: expected a positive integer")
    persist = entry.get("persist", False)
    if not isinstance(persist, bool):
        raise ConfigError(f"{where}.persist: expected true or false")
    return PodBehaviour(
        selector=PodSelector(namespace=select.get("namespace"), name=select.get("name"),
                             labels={str(k): str(v) for k, v in labels.items()}),
        fault=fault, count=count, persist=persist, container=entry.get("container"),
        after=parse_duration(entry.get("after", 0), f"{where}.after"))
