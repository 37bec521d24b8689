"""healer's own Prometheus metrics, served at /metrics.

One `Metrics` object per daemon, with its own `CollectorRegistry` (never the library's
global default), so tests and the demo can run several daemons in one process. The engine
counts what it takes in and decides, the executor what it does and how long it takes; the
server only exposes them.

    healer_signals_received_total{source}        signals taken in (one per alert)
    healer_signals_rejected_total{reason}        payloads refused (malformed, too large,
                                                 wrong content type, queue full)
    healer_decisions_total{verdict}              one per (signal, runbook) decision, by its
                                                 final verdict: allowed (acted), dry-run, the
                                                 guard that refused it, failed (a read
                                                 failed), resolved, unmatched
    healer_actions_total{action, outcome}        actions run, by outcome
    healer_action_duration_seconds{action}       the action's write (or dry-run write)
    healer_queue_depth                           signals waiting for the decision loop
    healer_actions_in_flight                     actions running now
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["Metrics"]


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.signals = Counter("healer_signals_received", "Signals taken in, one per alert.",
                               ["source"], registry=self.registry)
        self.rejected = Counter("healer_signals_rejected",
                                "Webhook payloads refused, by reason.", ["reason"],
                                registry=self.registry)
        self.decisions = Counter("healer_decisions",
                                 "Decisions, one per matching runbook and signal, by verdict "
                                 "(allowed, dry-run, or the guard that suppressed it).",
                                 ["verdict"], registry=self.registry)
        self.actions = Counter("healer_actions", "Actions run, by outcome.",
                               ["action", "outcome"], registry=self.registry)
        self.action_seconds = Histogram(
            "healer_action_duration_seconds",
            "Time an action's write to the Kubernetes API took, retries included.",
            ["action"], registry=self.registry,
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
        self.queue_depth = Gauge("healer_queue_depth",
                                 "Signals waiting for the decision loop.",
                                 registry=self.registry)
        self.in_flight = Gauge("healer_actions_in_flight", "Actions running now.",
                               registry=self.registry)

    def exposition(self) -> bytes:
        """The text format Prometheus scrapes."""
        return generate_latest(self.registry)
