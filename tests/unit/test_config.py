"""The daemon's configuration: defaults, the file, HEALER_* variables and flags.

Covers: safe defaults (dry-run, protected system namespaces); precedence flags > variables
> file > defaults; every problem reported at once, positioned in the file or named by
its variable or flag; nothing guessed (unknown keys, bad values, unreadable files).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from healer.config import DEFAULT_PROTECTED, Config, load_config, parse_listen
from healer.errors import ConfigError
from healer.runbook.model import Mode


def test_defaults_are_safe() -> None:
    """With nothing configured, healer decides and records but never acts."""
    config = load_config(None, {}, {})
    assert config == Config()
    assert config.mode is Mode.DRY_RUN
    assert config.protected_namespaces == ("kube-system", "kube-public", "kube-node-lease")
    assert config.listen == ("0.0.0.0", 8080)


def test_flags_beat_variables_beat_the_file(tmp_path: Path) -> None:
    file = tmp_path / "healer.yaml"
    file.write_text(
        "mode: enforce\nlisten: 127.0.0.1:9000\nauditDb: /data/audit.db\nworkers: 2\n"
        "protectedNamespaces: [kube-system, payments-prod]\n"
    )
    config = load_config(
        file,
        {"HEALER_LISTEN": "127.0.0.1:9100", "HEALER_WORKERS": "4", "HEALER_MODE": ""},
        {"listen": "[::1]:9200", "mode": None, "auditDb": "/tmp/a.db"},
    )
    assert config.mode is Mode.ENFORCE  # the file's: the empty variable and flag are unset
    assert config.listen == ("::1", 9200)  # the flag's
    assert config.workers == 4  # the variable's
    assert config.audit_db == Path("/tmp/a.db")
    assert config.protected_namespaces == ("kube-system", "payments-prod")


def test_list_variables_are_comma_separated() -> None:
    config = load_config(None, {"HEALER_PROTECTED_NAMESPACES": "kube-system, ops ,"}, {})
    assert config.protected_namespaces == ("kube-system", "ops")


def test_every_problem_is_reported_where_it_is(tmp_path: Path) -> None:
    file = tmp_path / "healer.yaml"
    file.write_text("mode: Enforce\nworkrs: 3\nprotectedNamespaces: [Kube_System]\n")
    with pytest.raises(ConfigError) as raised:
        load_config(file, {"HEALER_QUEUE_SIZE": "lots"}, {"listen": "8080"})
    assert str(raised.value).splitlines() == [
        "invalid configuration:",
        f"{file}:1:7: mode: expected one of dry-run, enforce, got 'Enforce' "
        "(did you mean 'enforce'?)",
        f"{file}:2:1: unknown key 'workrs' in the document (did you mean 'workers'?)",
        f"{file}:3:23: protectedNamespaces[0]: 'Kube_System' is not a namespace name: "
        "lower case letters, digits and '-'",
        "HEALER_QUEUE_SIZE: queueSize: expected a whole number, got 'lots'",
        "--listen: listen: expected HOST:PORT like 0.0.0.0:8080, got '8080'",
    ]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "cannot read"),
        ("mode: [dry-run\n", "invalid YAML"),
        ("mode: dry-run\n---\nmode: enforce\n", "expected one YAML document, found 2"),
    ],
)
def test_a_broken_file_is_a_clear_error(tmp_path: Path, text: str, problem: str) -> None:
    file = tmp_path / "healer.yaml"
    if text:
        file.write_text(text)
    with pytest.raises(ConfigError, match=problem):
        load_config(file, {}, {})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0.0.0.0:8080", ("0.0.0.0", 8080)),
        ("localhost:1", ("localhost", 1)),
        ("127.0.0.1:0", ("127.0.0.1", 0)),
        ("[::]:8080", ("::", 8080)),
    ],
)
def test_listen_addresses(text: str, expected: tuple[str, int]) -> None:
    assert parse_listen(text) == expected


@pytest.mark.parametrize("text", ["8080", ":8080", "host:65536", "host:http", "h:٨٠"])
def test_bad_listen_addresses(text: str) -> None:
    with pytest.raises(ValueError, match="expected HOST:PORT"):
        parse_listen(text)


def test_default_protected_namespaces_are_the_system_ones() -> None:
    assert set(DEFAULT_PROTECTED) == {"kube-system", "kube-public", "kube-node-lease"}
