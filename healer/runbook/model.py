"""The runbook model: what a loaded runbook is, as frozen, typed values.

Everything here has been validated by the loader: durations are seconds, matchers and
templates are parsed, step params are the action's own params object. `revision` is a
stable hash of the normalized runbook, recorded with every decision in the audit trail.

Neighbours: `format` builds these from YAML; the engine (a later part) reads them.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from healer.runbook.matchers import Matcher
from healer.runbook.templates import Template

_DURATION = re.compile(r"(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?"
                       r"(?:(\d+)ms)?")
_UNIT_SECONDS = (365 * 86400, 7 * 86400, 86400, 3600, 60, 1, 0.001)


class DurationError(ValueError):
    offset = 0


def parse_duration(text: str) -> float:
    """Seconds in a Prometheus-style duration: `500ms`, `30s`, `5m`, `1h30m`, `1d`, `2w`."""
    match = _DURATION.fullmatch(text.strip()) if text.strip() else None
    if match is None or not any(match.groups()):
        raise DurationError(f"expected a duration like 30s, 5m or 1h30m, got {text!r}")
    return sum(int(part) * unit for part, unit in zip(match.groups(), _UNIT_SECONDS,
                                                      strict=True) if part)


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
