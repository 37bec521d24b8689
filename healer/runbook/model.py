"""The runbook model: what a loaded runbook is, as frozen, typed values.

Everything here has been validated by the loader: durations are seconds, matchers and
templates are parsed, step params are the action's own params object. `revision` is a
stable hash of the normalized runbook, recorded with every decision in the audit trail.

Neighbours: `format` builds these from YAML; the engine (a later part) reads them.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from healer.runbook.matchers import Matcher
from healer.runbook.templates import Template

# ASCII digits only: `\d` would also read "\u0663\u0660m" (Arabic-Indic digits) as 30 minutes.
_DURATION = re.compile(r"(?:([0-9]+)y)?(?:([0-9]+)w)?(?:([0-9]+)d)?(?:([0-9]+)h)?"
                       r"(?:([0-9]+)m)?(?:([0-9]+)s)?(?:([0-9]+)ms)?")
DURATION_PATTERN = r"^([0-9]+(y|w|d|h|m|s|ms))+$"  # its shape, for the JSON Schema
_UNIT_MS = (365 * 86400_000, 7 * 86400_000, 86400_000, 3600_000, 60_000, 1000, 1)
_UNITS = ("y", "w", "d", "h", "m", "s", "ms")
_MAX_DIGITS = 9  # 999999999y is already beyond any meaning


class DurationError(ValueError):
    offset = 0


def parse_duration(text: str) -> float:
    """Seconds in a Prometheus-style duration: `500ms`, `30s`, `5m`, `1h30m`, `1d`, `2w`."""
    match = _DURATION.fullmatch(text)
    if match is None or not any(match.groups()):
        raise DurationError(f"expected a duration like 30s, 5m or 1h30m, got {text!r}"
                            + _duration_hint(text))
    if any(len(part) > _MAX_DIGITS for part in match.groups() if part):
        raise DurationError(f"at most {_MAX_DIGITS} digits per number, got {len(text)} "
                            f"characters")
    milliseconds = sum(int(part) * unit for part, unit in zip(match.groups(), _UNIT_MS,
                                                              strict=True) if part)
    return milliseconds / 1000  # a float, however written: 10m and 600000ms are equal


def format_duration(seconds: float) -> str:
    """The shortest duration text for `seconds` (`600.0` → `10m`, `5400.0` → `90m`) that
    `parse_duration` reads back; ValueError if there is none (not a whole number of ms)."""
    if not math.isfinite(seconds) or seconds < 0 or round(seconds * 1000) / 1000 != seconds:
        raise ValueError(f"{seconds!r} seconds is not a whole number of milliseconds")
    text = _shortest(round(seconds * 1000), 0) if seconds else "0s"
    if text is None:
        raise ValueError(f"{seconds!r} seconds is too long for a duration")
    return text


def _shortest(milliseconds: int, first: int) -> str | None:
    """`milliseconds` (> 0) in units `_UNITS[first:]`: the shortest text, the one with the
    larger units of equally short ones; None if none fits `_MAX_DIGITS`. Of each unit, as
    many as fit or none: fewer than fit never makes the text shorter."""
    best: str | None = None
    for index in range(first, len(_UNITS)):
        count, rest = divmod(milliseconds, _UNIT_MS[index])
        if count == 0 or len(str(count)) > _MAX_DIGITS:
            continue
        tail = _shortest(rest, index + 1) if rest else ""
        if tail is None:
            continue  # the rest cannot be written in smaller units
        text = f"{count}{_UNITS[index]}{tail}"
        if best is None or len(text) < len(best):
            best = text
    return best


def _duration_hint(text: str) -> str:
    """What is wrong with a text that is not a duration, for the likely mistakes."""
    compact = "".join(text.split())
    if any(char.isdigit() and char not in "0123456789" for char in compact):
        return " (write the digits as 0-9)"
    if compact != text and _DURATION.fullmatch(compact) and compact:
        return f" (no spaces: write {compact})"
    if compact.startswith("-"):
        return " (a duration cannot be negative)"
    if "." in compact:
        return " (no fractions: write 1h30m, not 1.5h)"
    if compact[-1:].isdigit():
        return " (every number needs a unit: y, w, d, h, m, s or ms)"
    units = re.findall(r"[0-9]+([^0-9]+)", compact)
    if not units:
        return ""
    if any(unit.lower() not in _UNITS for unit in units):
        return " (units are y, w, d, h, m, s and ms)"
    if any(unit not in _UNITS for unit in units):
        return " (units are lower case)"
    if compact != text:
        return " (no spaces: write 1h30m)"
    return " (largest unit first, each unit once: 1h30m)"


class Mode(enum.Enum):
    DRY_RUN = "dry-run"  # decide and audit, never touch the cluster
    ENFORCE = "enforce"


NAMESPACED_KINDS = frozenset({"Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet",
                              "Job"})
CLUSTER_KINDS = frozenset({"Node", "Namespace"})
TARGET_KINDS = tuple(sorted(NAMESPACED_KINDS | CLUSTER_KINDS))


@dataclass(frozen=True)
class AlertTrigger:
    name: str
    matchers: tuple[Matcher, ...] = ()


@dataclass(frozen=True)
class PromQLTrigger:
    query: str
    for_seconds: float = 0.0
    every_seconds: float = 30.0


@dataclass(frozen=True)
class KubernetesTrigger:
    kind: str
    reason: str
    for_seconds: float = 0.0


@dataclass(frozen=True)
class Trigger:
    """Exactly one of the three is set."""

    alert: AlertTrigger | None = None
    promql: PromQLTrigger | None = None
    kubernetes: KubernetesTrigger | None = None


@dataclass(frozen=True)
class TargetRef:
    kind: str
    name: Template
    namespace: Template | None = None  # None for cluster-scoped kinds


@dataclass(frozen=True)
class Step:
    action: str
    params: Any  # the action's frozen params object
    target: TargetRef | None = None  # None: the runbook's target


@dataclass(frozen=True)
class Verify:
    after_seconds: float
    resolved: bool = False
    promql: str | None = None


@dataclass(frozen=True)
class RateLimit:
    max: int = 3
    per_seconds: float = 3600.0
    by: str = "target"  # target | runbook | namespace


@dataclass(frozen=True)
class MinHealthy:
    """Replicas that must be ready before acting on one: a count or a percentage."""

    count: int | None = None
    percent: float | None = None


@dataclass(frozen=True)
class Guards:
    rate_limit: RateLimit = field(default_factory=RateLimit)
    cooldown_seconds: float = 600.0
    max_concurrent: int = 1
    min_healthy: MinHealthy | None = None


@dataclass(frozen=True)
class Scope:
    namespaces: tuple[str, ...] = ()  # globs; empty: every namespace not protected


@dataclass(frozen=True)
class Source:
    path: str
    line: int


@dataclass(frozen=True)
class Runbook:
    name: str
    description: str
    trigger: Trigger
    target: TargetRef
    steps: tuple[Step, ...]
    labels: Mapping[str, str] = field(default_factory=dict)
    mode: Mode | None = None  # None: the daemon's mode
    toil_minutes: int | None = None
    scope: Scope = field(default_factory=Scope)
    verify: Verify | None = None
    guards: Guards = field(default_factory=Guards)
    notify: tuple[str, ...] = ()
    revision: str = ""
    source: Source | None = field(default=None, compare=False)
