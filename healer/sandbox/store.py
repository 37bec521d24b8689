"""The sandbox's object store: what etcd plus the generic registry are to a real API server.

Objects are plain JSON dicts, partitioned by `ResourceType.storage_key` and keyed by
(namespace, name). The store owns the server-filled metadata (uid, resourceVersion,
generation, creationTimestamp), optimistic concurrency (409 on a stale resourceVersion),
graceful deletion and finalizers, and the watch fan-out with a bounded event history so a
client can resume a watch from a resourceVersion (410 Gone once it has been compacted).

Stored dicts are never mutated in place: every write stores a fresh dict, so readers may
serialize what they got without holding the lock. Writers (controllers, the HTTP layer)
`clone` before changing anything.

Neighbours: `api` (HTTP) and `controllers` call it; `admission` defaults and validates
every write it is handed, whoever the writer is.
"""

from __future__ import annotations

import queue
import random
import threading
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

from healer.sandbox import status
from healer.sandbox.resources import ResourceType
from healer.sandbox.selectors import FieldSelector, LabelSelector

Obj = dict[str, Any]
T = TypeVar("T")
Key = tuple[str, str]  # (namespace, name); namespace is "" for cluster-scoped objects

ADDED, MODIFIED, DELETED = "ADDED", "MODIFIED", "DELETED"
_NAME_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def clone(value: T) -> T:
    """A deep copy of a JSON-like value; several times faster than `copy.deepcopy`."""
    if isinstance(value, dict):
        return {k: clone(v) for k, v in value.items()}  # type: ignore[return-value]
    if isinstance(value, list):
        return [clone(v) for v in value]  # type: ignore[return-value]
    return value


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def meta(obj: Mapping[str, Any]) -> dict[str, Any]:
    m = obj.get("metadata")
    return m if isinstance(m, dict) else {}


def key_of(obj: Mapping[str, Any]) -> Key:
    m = meta(obj)
    return str(m.get("namespace", "")), str(m.get("name", ""))


class Admission(Protocol):
    """Defaults and validates an object about to be written (raises `ApiError` 422)."""

    def __call__(self, resource: ResourceType, new: Obj, old: Obj | None) -> None: ...


@dataclass(frozen=True)
class Change:
    """One committed write, as watchers and controllers see it."""

    type: str
    resource: ResourceType
    object: Obj
    previous: Obj | None
    resource_version: int


@dataclass(eq=False)
class Watch:
    """A live watch: a filtered view of one resource's changes, drained by the HTTP layer."""

    store: Store
    resource: ResourceType
    namespace: str | None
    labels: LabelSelector | None
    fields: FieldSelector | None
    events: queue.SimpleQueue[tuple[str, Obj] | None] = field(default_factory=queue.SimpleQueue)
    closed: bool = False

    def matches(self, obj: Obj | None) -> bool:
        if obj is None:
            return False
        m = meta(obj)
        if self.namespace is not None and m.get("namespace", "") != self.namespace:
            return False
        if self.labels is not None and not self.labels.matches(m.get("labels") or {}):
            return False
        return self.fields is None or self.fields.matches(obj)

    def offer(self, change: Change) -> None:
        """Queue the change as this watcher sees it (called under the store lock).

        With a selector, an object that starts matching is ADDED and one that stops
        matching is DELETED, as the real API server's watch cache reports it.
        """
        now = self.matches(change.object)
        if change.type == DELETED:
            if now or self.matches(change.previous):
                self.events.put((DELETED, change.object))
            return
        before = change.type == MODIFIED and self.matches(change.previous)
        if now and before:
            self.events.put((MODIFIED, change.object))
        elif now:
            self.events.put((ADDED, change.object))
        elif before:
            self.events.put((DELETED, change.object))

    def next(self, timeout: float) -> tuple[str, Obj] | None:
        """The next event, or None after `timeout` seconds or once closed."""
        if self.closed:
            return None
        try:
            return self.events.get(timeout=timeout)
        except queue.Empty:
            return None

    def idle_resource_version(self) -> str | None:
        """The store's resourceVersion if nothing is pending for this watch (for bookmarks)."""
        return self.store.idle_resource_version(self)

    def close(self) -> None:
        self.closed = True
        self.store.unwatch(self)
        self.events.put(None)


class Store:
    """Thread-safe, versioned object storage with watches."""

    def __init__(self, admission: Admission | None = None, *, history: int = 50_000,
                 clock: Callable[[], datetime] | None = None,
                 rng: random.Random | None = None) -> None:
        self._lock = threading.RLock()
        self._objects: dict[str, dict[Key, Obj]] = {}
        self._rv = 1
        self._history_size = history
        self._history: dict[str, deque[Change]] = {}
        self._compacted: dict[str, int] = {}
        self._watches: dict[str, set[Watch]] = {}
        self._listeners: list[Callable[[Change], None]] = []
        self._admission = admission
        self._random = rng or random.Random()  # generateName suffixes
        self.clock = clock or (lambda: datetime.now(UTC))

    # reading ------------------------------------------------------------------------

    @property
    def resource_version(self) -> int:
        with self._lock:
            return self._rv

    def get(self, resource: ResourceType, namespace: str, name: str) -> Obj:
        found = self.find(resource, namespace, name)
        if found is None:
            raise status.not_found(resource.plural, name, resource.group)
        return found

    def find(self, resource: ResourceType, namespace: str, name: str) -> Obj | None:
        ns = namespace if resource.namespaced else ""
        with self._lock:
            return self._objects.get(resource.storage_key, {}).get((ns, name))

    def select(self, resource: ResourceType, namespace: str | None = None,
             labels: LabelSelector | None = None,
             fields: FieldSelector | None = None, *,
             at: int | None = None) -> tuple[list[Obj], int]:
        """Matching objects sorted by (namespace, name), and the list's resourceVersion.

        `at=N` lists the objects as they were at resourceVersion N (what a `continue`
        token asks for: every page of a list comes from one snapshot); 410 Gone once the
        changes since N have been compacted.
        """
        with self._lock:
            partition = self._objects.get(resource.storage_key, {})
            rv = self._rv
            if at is not None and at < rv:
                partition = self._snapshot(resource, partition, at)
                rv = at
            keys = sorted(k for k in partition if namespace is None or k[0] == namespace)
            objs = [partition[k] for k in keys]
        return [o for o in objs if _selected(o, None, labels, fields)], rv

    def _snapshot(self, resource: ResourceType, partition: dict[Key, Obj],
                  at: int) -> dict[Key, Obj]:
        """`partition` as it was at resourceVersion `at`, undoing the later changes."""
        key = resource.storage_key
        if at < self._compacted.get(key, 0):
            raise status.gone(
                "The provided continue parameter is too old to display a consistent list "
                "result. You can start a new list without the continue parameter.")
        past = dict(partition)
        for change in reversed(self._history.get(key, ())):
            if change.resource_version <= at:
                break
            if change.type == ADDED or change.previous is None:
                past.pop(key_of(change.object), None)
            else:
                past[key_of(change.previous)] = change.previous
        return past

    def objects(self, resource: ResourceType, namespace: str | None = None) -> list[Obj]:
        return self.select(resource, namespace)[0]

    # writing ------------------------------------------------------------------------

    def create(self, resource: ResourceType, obj: Obj, *, dry_run: bool = False) -> Obj:
        new = clone(obj)
        m = new.setdefault("metadata", {})
        if not isinstance(m, dict):
            raise status.bad_request("metadata must be an object")
        new["apiVersion"], new["kind"] = resource.api_version, resource.kind
        if not resource.namespaced:
            m.pop("namespace", None)
        with self._lock:
            if not m.get("name") and m.get("generateName"):
                m["name"] = self._generate_name(resource, str(m.get("namespace", "")),
                                                str(m["generateName"]))
            name, namespace = str(m.get("name") or ""), str(m.get("namespace") or "")
            if resource.namespaced:
                self._check_namespace_accepts(namespace)
            for transient in ("resourceVersion", "deletionTimestamp",
                              "deletionGracePeriodSeconds", "selfLink"):
                m.pop(transient, None)
            m["uid"] = str(uuid.uuid4())
            m["creationTimestamp"] = rfc3339(self.clock())
            if resource.has_generation:
                m["generation"] = 1
            else:
                m.pop("generation", None)
            if self._admission is not None:
                self._admission(resource, new, None)
            name = str(m.get("name") or "")
            partition = self._objects.setdefault(resource.storage_key, {})
            if (namespace, name) in partition:
                raise status.already_exists(resource.plural, name, resource.group)
            if dry_run:
                return new
            self._commit(resource, ADDED, new, None)
            return new

    def update(self, resource: ResourceType, obj: Obj, *, subresource: str = "",
               dry_run: bool = False) -> Obj:
        """Replace an object (PUT). `subresource="status"` changes only its status."""
        with self._lock:
            namespace, name = key_of(obj)
            current = self.get(resource, namespace, name)
            wanted = str(meta(obj).get("resourceVersion") or "")
            if wanted and wanted != meta(current).get("resourceVersion"):
                raise status.conflict(resource.plural, name, resource.group)
            new = self._merge_update(resource, current, clone(obj), subresource)
            if self._admission is not None:
                self._admission(resource, new, current)
            if new == current:
                return current
            if dry_run:
                return new
            if meta(new).get("deletionTimestamp") and not _blocking_finalizers(resource, new):
                return self._remove(resource, current, new)
            self._commit(resource, MODIFIED, new, current)
            return new

    def modify(self, resource: ResourceType, namespace: str, name: str,
               change: Callable[[Obj], object], *, subresource: str = "") -> Obj | None:
        """Read-modify-write for controllers: `change` edits a private copy in place.

        Retries on conflict; returns the stored object, or None when it no longer exists.
        """
        for _ in range(10):
            current = self.find(resource, namespace, name)
            if current is None:
                return None
            draft = clone(current)
            change(draft)
            try:
                return self.update(resource, draft, subresource=subresource)
            except status.ApiError as error:
                if error.code == 404:
                    return None
                if error.code != 409:
                    raise
        raise status.conflict(resource.plural, name, resource.group, "too many conflicts")

    def delete(self, resource: ResourceType, namespace: str, name: str, *,
               grace_period: int | None = None, propagation: str | None = None,
               preconditions: Mapping[str, Any] | None = None,
               dry_run: bool = False) -> tuple[Obj, bool]:
        """Delete an object; returns it and whether it is gone (False: graceful/finalizers)."""
        with self._lock:
            current = self.get(resource, namespace, name)
            m = meta(current)
            for field_name, label in (("uid", "UID"), ("resourceVersion", "ResourceVersion")):
                expected = (preconditions or {}).get(field_name)
                if expected and expected != m.get(field_name):
                    raise status.conflict(
                        resource.plural, name, resource.group,
                        f"Precondition failed: {label} in precondition: {expected}, "
                        f"{label} in object meta: {m.get(field_name)}")
            new = clone(current)
            nm = new["metadata"]
            finalizers: list[str] = list(nm.get("finalizers") or [])
            policy = propagation or _default_propagation(resource)
            if policy == "Orphan" and "orphan" not in finalizers:
                finalizers.append("orphan")
            elif policy == "Foreground" and "foregroundDeletion" not in finalizers:
                finalizers.append("foregroundDeletion")
            grace = self._grace_period(resource, current, grace_period)
            now = self.clock()
            if grace > 0:
                deadline = now + timedelta(seconds=grace)
                if nm.get("deletionTimestamp"):
                    deadline = min(deadline, parse_time(nm["deletionTimestamp"]))
                nm["deletionTimestamp"] = rfc3339(deadline)
                nm["deletionGracePeriodSeconds"] = grace
            elif finalizers:
                nm.setdefault("deletionTimestamp", rfc3339(now))
                nm["deletionGracePeriodSeconds"] = 0
            if finalizers:
                nm["finalizers"] = finalizers
            if resource.storage_key == "namespaces":
                finalizers += _blocking_finalizers(resource, new)
                if finalizers:
                    nm.setdefault("deletionTimestamp", rfc3339(now))
                    new.setdefault("status", {})["phase"] = "Terminating"
            if dry_run:
                return new, not (grace > 0 or finalizers)
            if grace > 0 or finalizers:
                if new != current:
                    self._commit(resource, MODIFIED, new, current)
                return new, False
            return self._remove(resource, current, new), True

    # watching -----------------------------------------------------------------------

    def watch(self, resource: ResourceType, *, namespace: str | None = None,
              labels: LabelSelector | None = None, fields: FieldSelector | None = None,
              since: int | None = None) -> Watch:
        """Start a watch. `since=None` first replays the current state as ADDED events;
        `since=N` replays the changes after resourceVersion N (410 if compacted)."""
        key = resource.storage_key
        watch = Watch(self, resource, namespace, labels, fields)
        with self._lock:
            if since is None:
                partition = self._objects.get(key, {})
                for k in sorted(partition):
                    obj = partition[k]
                    if watch.matches(obj):
                        watch.events.put((ADDED, obj))
            else:
                if since < self._compacted.get(key, 0):
                    raise status.gone(
                        f"too old resource version: {since} ({self._compacted[key]})")
                for change in self._history.get(key, ()):
                    if change.resource_version > since:
                        watch.offer(change)
            self._watches.setdefault(key, set()).add(watch)
        return watch

    def unwatch(self, watch: Watch) -> None:
        with self._lock:
            self._watches.get(watch.resource.storage_key, set()).discard(watch)

    def idle_resource_version(self, watch: Watch) -> str | None:
        with self._lock:
            return None if not watch.events.empty() else str(self._rv)

    def subscribe(self, listener: Callable[[Change], None]) -> None:
        """Call `listener` with every committed change, under the store lock: keep it cheap."""
        with self._lock:
            self._listeners.append(listener)

    # internals ----------------------------------------------------------------------

    def _merge_update(self, resource: ResourceType, current: Obj, new: Obj,
                      subresource: str) -> Obj:
        new["apiVersion"], new["kind"] = resource.api_version, resource.kind
        if subresource == "status":
            merged = clone(current)
            if "status" in new:
                merged["status"] = new["status"]
            else:
                merged.pop("status", None)
            return merged
        if resource.has_status:
            if "status" in current:
                new["status"] = clone(current["status"])
            else:
                new.pop("status", None)
        nm = new.setdefault("metadata", {})
        cm = meta(current)
        for fixed in ("uid", "creationTimestamp", "name", "namespace", "deletionTimestamp",
                      "deletionGracePeriodSeconds", "generation", "resourceVersion"):
            if fixed in cm:
                nm[fixed] = cm[fixed]
            else:
                nm.pop(fixed, None)
        if resource.has_generation and _spec_of(new) != _spec_of(current):
            nm["generation"] = int(cm.get("generation", 1)) + 1
        return new

    def _grace_period(self, resource: ResourceType, obj: Obj, asked: int | None) -> int:
        """Seconds of graceful termination: only for pods running on a node."""
        if resource.storage_key != "pods":
            return 0
        spec, pod_status = obj.get("spec") or {}, obj.get("status") or {}
        if not spec.get("nodeName") or pod_status.get("phase") in ("Succeeded", "Failed"):
            return 0
        if asked is None:
            asked = int(spec.get("terminationGracePeriodSeconds", 30))
        return max(asked, 0)

    def _check_namespace_accepts(self, namespace: str) -> None:
        if not namespace:
            raise status.bad_request("the namespace of the object must be set")
        ns = self._objects.get("namespaces", {}).get(("", namespace))
        if ns is None:
            raise status.not_found("namespaces", namespace)
        if meta(ns).get("deletionTimestamp"):
            raise status.forbidden(
                f"unable to create new content in namespace {namespace} because it is "
                "being terminated")

    def _generate_name(self, resource: ResourceType, namespace: str, prefix: str) -> str:
        partition = self._objects.get(resource.storage_key, {})
        ns = namespace if resource.namespaced else ""
        for _ in range(100):
            suffix = "".join(self._random.choice(_NAME_SUFFIX_ALPHABET) for _ in range(5))
            candidate = f"{prefix[:58]}{suffix}"
            if (ns, candidate) not in partition:
                return candidate
        raise status.already_exists(resource.plural, prefix, resource.group)

    def _remove(self, resource: ResourceType, current: Obj, final: Obj) -> Obj:
        self._objects[resource.storage_key].pop(key_of(current), None)
        self._commit(resource, DELETED, final, current)
        return final

    def _commit(self, resource: ResourceType, kind: str, obj: Obj, previous: Obj | None) -> None:
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        key = resource.storage_key
        if kind != DELETED:
            self._objects.setdefault(key, {})[key_of(obj)] = obj
        change = Change(kind, resource, obj, previous, self._rv)
        history = self._history.setdefault(key, deque())
        history.append(change)
        if len(history) > self._history_size:
            self._compacted[key] = history.popleft().resource_version
        for watch in self._watches.get(key, ()):
            watch.offer(change)
        for listener in self._listeners:
            listener(change)

    def close_watches(self) -> None:
        with self._lock:
            watches = [w for group in self._watches.values() for w in group]
        for watch in watches:
            watch.close()


def _blocking_finalizers(resource: ResourceType, obj: Obj) -> list[str]:
    """Finalizers that keep a deleted object stored: metadata's, and a namespace's spec's."""
    pending = list(meta(obj).get("finalizers") or [])
    if resource.storage_key == "namespaces":
        pending += list((obj.get("spec") or {}).get("finalizers") or [])
    return pending


def _spec_of(obj: Obj) -> Any:
    """What counts as the 'spec' for generation: everything but metadata and status."""
    return {k: v for k, v in obj.items()
            if k not in ("metadata", "status", "apiVersion", "kind")}


def _default_propagation(resource: ResourceType) -> str:
    # batch/v1 Jobs orphan their pods unless asked otherwise, like the real API server.
    return "Orphan" if resource.storage_key == "jobs.batch" else "Background"


def _selected(obj: Obj, namespace: str | None, labels: LabelSelector | None,
              fields: FieldSelector | None) -> bool:
    m = meta(obj)
    if namespace is not None and m.get("namespace", "") != namespace:
        return False
    if labels is not None and not labels.matches(m.get("labels") or {}):
        return False
    return fields is None or fields.matches(obj)
