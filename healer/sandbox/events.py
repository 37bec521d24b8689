"""Kubernetes Events: the recorder controllers use, and the `events.k8s.io/v1` view.

Events are stored once, in their core/v1 shape; `events.k8s.io/v1` is the same storage seen
through renamed fields (regarding ↔ involvedObject, note ↔ message ...), as on a real
server. The recorder aggregates repeats of the same event into one object with a rising
`count`, like client-go's event recorder, so a crash-looping pod does not flood the store.

Neighbours: `api` converts with `to_events_v1`/`from_events_v1`; `controllers` record.
"""

from __future__ import annotations

import threading
import time

from healer.sandbox.resources import ResourceRegistry
from healer.sandbox.store import Obj, Store, meta, rfc3339

# events.k8s.io/v1 field ← core/v1 field
_RENAMED = (("regarding", "involvedObject"), ("note", "message"),
            ("reportingController", "reportingComponent"), ("deprecatedSource", "source"),
            ("deprecatedFirstTimestamp", "firstTimestamp"),
            ("deprecatedLastTimestamp", "lastTimestamp"), ("deprecatedCount", "count"))
_SHARED = ("metadata", "eventTime", "series", "action", "reason", "related", "type",
           "reportingInstance")


def to_events_v1(event: Obj) -> Obj:
    """A stored (core/v1) event as `events.k8s.io/v1` shows it."""
    shown: Obj = {"kind": "Event", "apiVersion": "events.k8s.io/v1"}
    for name in _SHARED:
        if name in event:
            shown[name] = event[name]
    for new, old in _RENAMED:
        if old in event:
            shown[new] = event[old]
    return shown


def from_events_v1(event: Obj) -> Obj:
    """An `events.k8s.io/v1` event in the stored core/v1 shape."""
    stored: Obj = {"kind": "Event", "apiVersion": "v1"}
    for name in _SHARED:
        if name in event:
            stored[name] = event[name]
    for new, old in _RENAMED:
        if new in event:
            stored[old] = event[new]
    return stored


class EventRecorder:
    """Records events about objects on behalf of a component (e.g. `deployment-controller`)."""

    def __init__(self, store: Store, registry: ResourceRegistry) -> None:
        self._store = store
        self._events = registry.core("events")
        self._lock = threading.Lock()
        self._seen: dict[tuple[str, ...], tuple[str, str]] = {}

    def record(self, subject: Obj, type_: str, reason: str, message: str, *,
               component: str, host: str = "") -> None:
        m = meta(subject)
        namespace = m.get("namespace") or "default"
        reference = {"kind": subject.get("kind"), "namespace": m.get("namespace"),
                     "name": m.get("name"), "uid": m.get("uid"),
                     "apiVersion": subject.get("apiVersion"),
                     "resourceVersion": m.get("resourceVersion")}
        reference = {k: v for k, v in reference.items() if v}
        identity = (str(m.get("uid")), type_, reason, message, component)
        now = rfc3339(self._store.clock())
        with self._lock:
            known = self._seen.get(identity)
            if known is not None and self._store.modify(
                    self._events, known[0], known[1], lambda e: _repeat(e, now)) is not None:
                return
            event: Obj = {
                "metadata": {"name": f"{m.get('name')}.{time.time_ns():x}",
                             "namespace": namespace},
                "involvedObject": reference, "reason": reason, "message": message,
                "source": {"component": component, **({"host": host} if host else {})},
                "firstTimestamp": now, "lastTimestamp": now, "count": 1, "type": type_,
                "eventTime": None, "reportingComponent": component,
                "reportingInstance": host or component,
            }
            try:
                created = self._store.create(self._events, event)
            except Exception:  # noqa: BLE001 - an event must never break a controller
                return
            self._seen[identity] = (namespace, meta(created)["name"])
            if len(self._seen) > 50_000:
                self._seen.clear()


def _repeat(event: Obj, now: str) -> None:
    event["count"] = int(event.get("count") or 1) + 1
    event["lastTimestamp"] = now

