"""The daemon's configuration: a YAML file, overridden by HEALER_* variables, then flags.

`load_config(file, environ, flags)` returns a frozen `Config` or raises `ConfigError` with
every problem: a file's as `path:line:col: message` (the runbook loader's positioned
checks, did-you-mean hints included), a variable's or flag's by its name. Nothing is
guessed: an unknown key, a bad mode or a malformed address is an error, and `healer run`
exits 2 before touching the cluster.

Precedence, highest first: command-line flags, ``HEALER_*`` environment variables, the
file, the defaults below. Every key is documented in docs/configuration.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from healer.errors import ConfigError, RunbookError
from healer.runbook.model import Mode
from healer.runbook.source import Node, Position, load_documents
from healer.runbook.spec import (
    INVALID,
    Checked,
    Choice,
    Field,
    Int,
    Issues,
    ListOf,
    Obj,
    Parsed,
    Str,
)

__all__ = ["DEFAULT_PROTECTED", "Config", "Notifier", "load_config", "parse_listen"]

DEFAULT_PROTECTED = ("kube-system", "kube-public", "kube-node-lease")


@dataclass(frozen=True)
class Notifier:
    """Where a runbook's `notify: [name]` sends its messages."""

    name: str
    type: str  # webhook (JSON POST to url) | slack (an incoming-webhook url) | log
    url: str | None = None


@dataclass(frozen=True)
class Config:
    runbooks: Path = Path("/etc/healer/runbooks")
    listen: tuple[str, int] = ("0.0.0.0", 8080)  # noqa: S104 - in-cluster, behind a Service
    mode: Mode = Mode.DRY_RUN
    audit_db: Path = Path("/var/lib/healer/audit.db")
    kubeconfig: Path | None = None  # None: in-cluster service account, else KUBECONFIG
    protected_namespaces: tuple[str, ...] = DEFAULT_PROTECTED
    max_body_bytes: int = 1024 * 1024
    queue_size: int = 10_000
    workers: int = 8
    notifiers: tuple[Notifier, ...] = ()


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:8080`` for IPv6; port 0 picks a free one) as (host, port)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isascii() or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"expected HOST:PORT like 0.0.0.0:8080, got {text!r}")
    host = host.removeprefix("[").removesuffix("]")
    if not host:
        raise ValueError(f"expected HOST:PORT like 0.0.0.0:8080, got {text!r} (no host)")
    return host, int(port)


_PATH = Parsed(Path, (ValueError,), "a file path", "a path")
_LISTEN = Parsed(parse_listen, (ValueError,), "HOST:PORT", "address and port to serve on")
_NAMESPACE = Str(
    "a namespace",
    pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
    pattern_hint="a namespace name: lower case letters, digits and '-'",
    max_length=63,
)

NOTIFIER_TYPES = ("webhook", "slack", "log")


def _notifier_problem(notifier: Notifier) -> str | None:
    if notifier.type == "log" and notifier.url is not None:
        return "a log notifier writes to healer's log and takes no url"
    if notifier.type != "log" and notifier.url is None:
        return f"a {notifier.type} notifier needs a url"
    if notifier.url is not None and not notifier.url.startswith(("https://", "http://")):
        return f"url must start with https:// or http://, got {notifier.url!r}"
    return None


def _duplicate_name(notifiers: tuple[Notifier, ...]) -> str | None:
    names = [n.name for n in notifiers]
    twice = sorted({name for name in names if names.count(name) > 1})
    return f"notifier {twice[0]!r} is defined twice" if twice else None


_NOTIFIER = Checked(Obj({
    "name": Field(Str("what runbooks call it in notify: [...]",
                      pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
                      pattern_hint="lower case letters, digits and '-'", max_length=63),
                  required=True),
    "type": Field(Choice(NOTIFIER_TYPES, "how the message is sent"), required=True),
    "url": Field(Str("where to send it (webhook, slack)")),
}, "a notifier: name, type and url", build=Notifier), _notifier_problem)

# Keys as they are written in the file; the environment variable of each is
# HEALER_ + its name in upper snake case (auditDb: HEALER_AUDIT_DB).
_FIELDS: dict[str, Field] = {
    "runbooks": Field(_PATH),
    "listen": Field(_LISTEN),
    "mode": Field(Choice(tuple(m.value for m in Mode), "dry-run decides and records only")),
    "auditDb": Field(_PATH),
    "kubeconfig": Field(_PATH),
    "protectedNamespaces": Field(ListOf(_NAMESPACE)),
    "maxBodyBytes": Field(Int("largest webhook body accepted", minimum=1024)),
    "queueSize": Field(Int("signals waiting for a decision, at most", minimum=1)),
    "workers": Field(Int("actions running at once, at most", minimum=1, maximum=256)),
    "notifiers": Field(Checked(ListOf(_NOTIFIER), _duplicate_name)),
}
_SPEC = Obj(_FIELDS, "healer's configuration")
_LISTS = {"protectedNamespaces"}  # comma-separated in variables and flags
_FILE_ONLY = {"notifiers"}  # structured: no variable or flag


def env_name(key: str) -> str:
    snake = "".join(f"_{c}" if c.isupper() else c for c in key)
    return "HEALER_" + snake.upper()


def load_config(
    file: Path | None,
    environ: Mapping[str, str],
    flags: Mapping[str, str | None],
) -> Config:
    """The configuration from `file` (optional), `environ` and `flags` (by file key)."""
    issues = Issues()
    values: dict[str, Any] = {}
    if file is not None:
        values.update(_from_file(file, issues))
    for key in _FIELDS.keys() - _FILE_ONLY:
        name = env_name(key)
        if environ.get(name):
            values.update(_from_text(key, environ[name], name, issues))
    for key, text in flags.items():
        if text is not None:
            values.update(_from_text(key, text, "--" + _kebab(key), issues))
    if issues.errors:
        raise ConfigError("invalid configuration:\n" + "\n".join(map(_said, issues.errors)))
    return _build(values)


def _from_file(file: Path, issues: Issues) -> dict[str, Any]:
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
        raise ConfigError(f"cannot read the configuration file {file}: {reason}") from None
    try:
        documents = load_documents(text, str(file))
    except RunbookError as error:
        raise ConfigError(str(error)) from None
    if len(documents) != 1:
        raise ConfigError(f"{file}: expected one YAML document, found {len(documents)}")
    document = documents[0]
    issues.errors.extend(document.problems)
    converted = _SPEC.convert(document.node, "", issues)
    if converted is INVALID:
        return {}
    by_key = {_snake(k): k for k in _FIELDS}
    return {by_key[name]: value for name, value in converted.items()}


def _from_text(key: str, text: str, name: str, issues: Issues) -> dict[str, Any]:
    """A variable's or flag's value, checked by the same spec as the file's key."""
    position = Position(name, 1, 1)
    value: Any = text
    spec = _FIELDS[key].spec
    if key in _LISTS:
        value = [Node(item.strip(), position) for item in text.split(",") if item.strip()]
    elif isinstance(spec, Int) and text.isascii() and text.lstrip("-").isdigit():
        value = int(text)
    found = len(issues.errors)
    converted = spec.convert(Node(value, position), key, issues)
    if len(issues.errors) > found:
        return {}
    return {key: converted}


def _said(error: RunbookError) -> str:
    """A problem as the user should read it: positioned in a file, else by its name."""
    if error.path.startswith(("HEALER_", "--")):
        return f"{error.path}: {error.message}"
    return str(error)


def _build(values: Mapping[str, Any]) -> Config:
    defaults = Config()
    return Config(
        runbooks=values.get("runbooks", defaults.runbooks),
        listen=values.get("listen", defaults.listen),
        mode=Mode(values["mode"]) if "mode" in values else defaults.mode,
        audit_db=values.get("auditDb", defaults.audit_db),
        kubeconfig=values.get("kubeconfig", defaults.kubeconfig),
        protected_namespaces=tuple(
            values.get("protectedNamespaces", defaults.protected_namespaces)
        ),
        max_body_bytes=values.get("maxBodyBytes", defaults.max_body_bytes),
        queue_size=values.get("queueSize", defaults.queue_size),
        workers=values.get("workers", defaults.workers),
        notifiers=tuple(values.get("notifiers", defaults.notifiers)),
    )


def _snake(key: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in key)


def _kebab(key: str) -> str:
    return "".join(f"-{c.lower()}" if c.isupper() else c for c in key)
