"""Signals: what happened, in the one shape the engine reads (`Signal`).

Alertmanager webhooks are read by `alertmanager.parse_webhook`; other sources (PromQL
polls, Kubernetes watches) produce the same `Signal`, fingerprinted the same way
(`labels_fingerprint`), so a runbook does not care where an alert came from.
"""

from __future__ import annotations

from healer.signals.alertmanager import (
    PayloadError,
    Signal,
    Webhook,
    WebhookAlert,
    labels_fingerprint,
    parse_webhook,
)

__all__ = [
    "PayloadError",
    "Signal",
    "Webhook",
    "WebhookAlert",
    "labels_fingerprint",
    "parse_webhook",
]
