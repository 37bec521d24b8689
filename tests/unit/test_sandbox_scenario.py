"""Loading scenario files: what is accepted, and how mistakes are reported.

Covers: the built-in demo scenario; durations in ms/s/m/h; node counts and node lists;
pod behaviour rules; every mistake reported as `file: field: problem` (unknown fields,
bad behaviours, bad durations, manifests without apiVersion/kind/name, bad node states),
all problems of a file at once, and invalid YAML as file:line:col.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from healer.errors import ConfigError
from healer.sandbox.behaviour import NodeState, PodFault
from healer.sandbox.scenario import (
    default_scenario_path,
    load_scenario,
    parse_duration,
    parse_scenario,
)


def test_demo_scenario_loads() -> None:
    """The scenario `healer sandbox` starts with by default is valid."""
    scenario = load_scenario(default_scenario_path())
    assert scenario.name == "demo"
    assert [n.name for n in scenario.nodes] == ["node-1", "node-2", "node-3"]
    assert scenario.pods[0].fault is PodFault.CRASH_LOOP
    assert scenario.pods[0].count == 1


@pytest.mark.parametrize(("text", "seconds"), [
    ("500ms", 0.5), ("2s", 2.0), ("1.5s", 1.5), ("3m", 180.0), ("1h", 3600.0), (7, 7.0),
    ("10", 10.0),
])
def test_durations(text: str | int, seconds: float) -> None:
    """Durations accept ms, s, m, h or plain seconds."""
    assert parse_duration(text, "x") == seconds


@pytest.mark.parametrize("text", ["fast", "-1s", "1d", True, "", "1 s"])
def test_bad_durations_name_the_field(text: object) -> None:
    """A duration that is not one says where and what was expected."""
    with pytest.raises(ConfigError, match=r"^timing\.podStart: "):
        parse_duration(text, "timing.podStart")


def test_full_scenario_parses() -> None:
    """Timing, nodes, objects and rules all land in the model."""
    scenario = parse_scenario({
        "apiVersion": "healer/v1", "kind": "Scenario",
        "timing": {"podStart": "100ms", "restartInterval": "1s"},
        "nodes": [{"name": "a", "labels": {"zone": "z1"}}, {"name": "b", "ready": "Unknown"}],
        "objects": [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}],
        "pods": [{"select": {"namespace": "shop", "labels": {"app": "x"}, "name": "x-*"},
                  "behaviour": "oom-killed", "persist": True, "after": "2s",
                  "container": "main"}],
    }, "s.yaml")
    assert scenario.timing.pod_start == 0.1
    assert scenario.timing.restart_interval == 1.0
    assert scenario.nodes[1].ready is NodeState.UNKNOWN
    assert scenario.nodes[0].labels == {"zone": "z1"}
    rule = scenario.pods[0]
    assert (rule.fault, rule.persist, rule.after, rule.container) == (
        PodFault.OOM_KILLED, True, 2.0, "main")
    assert rule.selector.matches({"metadata": {"name": "x-1", "namespace": "shop",
                                               "labels": {"app": "x"}}})
    assert not rule.selector.matches({"metadata": {"name": "y-1", "namespace": "shop",
                                                   "labels": {"app": "x"}}})


def test_node_count_names_nodes() -> None:
    """`nodes: 2` means node-1 and node-2."""
    assert [n.name for n in parse_scenario({"nodes": 2}, "s").nodes] == ["node-1", "node-2"]


@pytest.mark.parametrize(("document", "message"), [
    ({"objects": [], "extra": 1}, "s.yaml: unknown field(s) 'extra'"),
    ({"kind": "Deployment"}, "s.yaml: kind: expected Scenario, got 'Deployment'"),
    ({"timing": {"podstart": "1s"}}, "s.yaml: timing: unknown field(s) 'podstart'"),
    ({"nodes": [{"name": "a", "ready": "maybe"}]},
     's.yaml: nodes[0].ready: expected "True", "False" or "Unknown"'),
    ({"objects": [{"kind": "Pod", "metadata": {"name": "p"}}]},
     "s.yaml: objects[0]: expected a Kubernetes manifest with apiVersion and kind"),
    ({"objects": [{"apiVersion": "v1", "kind": "Pod", "metadata": {}}]},
     "s.yaml: objects[0] (Pod): metadata.name is required"),
    ({"pods": [{"select": {}, "behaviour": "explode"}]},
     "s.yaml: pods[0].behaviour: expected one of healthy, crash-loop, oom-killed"),
    ({"pods": [{"select": {}, "behaviour": "fail", "count": 0}]},
     "s.yaml: pods[0].count: expected a positive integer"),
    ({"pods": [{"select": {"app": "x"}, "behaviour": "fail"}]},
     "s.yaml: pods[0].select: expected a mapping of namespace, name, labels"),
    ("just text", "s.yaml: a scenario must be a mapping"),
])
def test_mistakes_are_reported_with_their_place(document: object, message: str) -> None:
    """Every mistake names the file and the field."""
    with pytest.raises(ConfigError) as raised:
        parse_scenario(document, "s.yaml")
    assert str(raised.value).startswith(message)


def test_all_problems_of_a_file_are_reported_together() -> None:
    """An unknown top-level field and a bad rule are both reported in one error."""
    with pytest.raises(ConfigError) as raised:
        parse_scenario({"extra": 1, "pods": [{"behaviour": "nope"}]}, "s.yaml")
    lines = str(raised.value).splitlines()
    assert len(lines) == 2
    assert all(line.startswith("s.yaml: ") for line in lines)


def test_invalid_yaml_names_line_and_column(tmp_path: Path) -> None:
    """YAML syntax errors point at the place."""
    path = tmp_path / "bad.yaml"
    path.write_text("nodes:\n  - name: a\n   bad: indent\n")
    with pytest.raises(ConfigError, match=rf"^{path}:3:\d+: invalid YAML"):
        load_scenario(path)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    """A scenario path that does not exist is reported, not raised as OSError."""
    with pytest.raises(ConfigError, match="cannot read scenario"):
        load_scenario(tmp_path / "absent.yaml")
