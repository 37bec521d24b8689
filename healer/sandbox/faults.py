"""Fault injection: make chosen API requests fail, slow down or lose their connection.

Tests use this to prove healer's retries, circuit breaker and error handling against the
failures a real API server produces under load: 500/503, 429 with Retry-After, latency,
dropped connections. A fault matches requests by Kubernetes verb and resource (with
subresource, e.g. `pods/eviction`), and fires for the next `count` matching requests or
for a `fraction` of them.

A connection is lost either before the request is served (`drop`: nothing changed) or
after (`drop_after`: the request is served in full, the store changes, and the connection
closes without the answer). The second is the dangerous one for a client that retries: a
DELETE that happened answers 404 (or, with a uid precondition, 409) when sent again. With
`drop_after`, `latency` passes after serving, before the connection closes: an answer
that is late, then never comes. A watch is not served in full before its answer streams,
so `drop_after` drops a watch before serving it, as `drop` does.

Neighbour: `api` consults `Faults.take` before serving each resource request.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field

VERBS = frozenset({"get", "list", "watch", "create", "update", "patch", "delete",
                   "deletecollection"})


@dataclass
class Fault:
    """One injected failure rule; `remaining` counts down when `count` was given."""

    verb: str | None = None  # None matches every verb
    resource: str | None = None  # "pods", "deployments/scale", "pods/eviction"; None: any
    status: int | None = None  # HTTP status to answer with instead of serving
    retry_after: int | None = None  # seconds, sent as Retry-After (with 429/503)
    latency: float = 0.0  # seconds to wait before answering (or before serving)
    drop: bool = False  # close the connection without any response, serving nothing
    drop_after: bool = False  # serve the request, then close without the response
    remaining: int | None = None  # fire this many more times; None: no limit
    fraction: float = 1.0  # fire for this share of matching requests
    fired: int = 0

    def __post_init__(self) -> None:
        if self.verb is not None and self.verb not in VERBS:
            raise ValueError(f"unknown verb {self.verb!r}; one of {sorted(VERBS)}")
        if not 0.0 <= self.fraction <= 1.0:
            raise ValueError("fraction must be between 0 and 1")
        if self.status is None and not (self.drop or self.drop_after) and self.latency <= 0:
            raise ValueError("a fault needs a status, latency, drop or drop_after")
        if sum((self.status is not None, self.drop, self.drop_after)) > 1:
            raise ValueError("a fault is one of status, drop or drop_after")

    def matches(self, verb: str, resource: str) -> bool:
        return (self.verb in (None, verb)) and (self.resource in (None, resource))


@dataclass
class Faults:
    """The set of active faults of one sandbox; thread-safe."""

    seed: int | None = None
    _rules: list[Fault] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    def inject(self, *, verb: str | None = None, resource: str | None = None,
               status: int | None = None, retry_after: int | None = None,
               latency: float = 0.0, drop: bool = False, drop_after: bool = False,
               count: int | None = None, fraction: float = 1.0) -> Fault:
        """Add a fault; it applies to requests that arrive from now on."""
        fault = Fault(verb, resource, status, retry_after, latency, drop, drop_after,
                      count, fraction)
        with self._lock:
            self._rules.append(fault)
        return fault

    def remove(self, fault: Fault) -> None:
        with self._lock:
            if fault in self._rules:
                self._rules.remove(fault)

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def take(self, verb: str, resource: str) -> Fault | None:
        """The fault that fires for this request, if any (consumes one of its `count`)."""
        with self._lock:
            for fault in self._rules:
                if not fault.matches(verb, resource):
                    continue
                if fault.fraction < 1.0 and self._random.random() >= fault.fraction:
                    continue
                fault.fired += 1
                if fault.remaining is not None:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._rules.remove(fault)
                return fault
        return None
