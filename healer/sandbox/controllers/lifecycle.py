"""Object lifecycle: the garbage collector and namespace deletion.

Garbage collector: when an owner goes, its dependents (found by `ownerReferences.uid`) go
too (background propagation); an owner deleted with `Foreground` keeps its
`foregroundDeletion` finalizer until its dependents are gone; with `Orphan` the dependents
lose their owner reference and stay.

Namespaces: a deleted namespace is Terminating while everything in it is deleted; its
`kubernetes` finalizer is then removed and the namespace disappears.

Neighbours: `base` (runtime); the store's delete sets the finalizers these act on.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from typing import Any

from healer.sandbox.resources import ResourceRegistry, ResourceType
from healer.sandbox.status import ApiError
from healer.sandbox.store import DELETED, Change, Obj, Store, meta

# Resources whose objects are owned by others in the sandbox (dependents the GC tracks).
_DEPENDENT_KINDS = ("pods", "replicasets", "jobs")


class GarbageCollector:
    name = "garbage-collector"

    def __init__(self, store: Store, registry: ResourceRegistry) -> None:
        self.store = store
        self.registry = registry
        self.dependent_types = [registry.core(p) for p in _DEPENDENT_KINDS]
        self._dependents: dict[str, set[tuple[ResourceType, str, str]]] = {}

    def keys_for(self, change: Change) -> Iterator[Hashable]:
        resource = change.resource
        if resource in self.dependent_types:
            self._index(change)
        finalizers = meta(change.object).get("finalizers") or []
        if change.type == DELETED:
            uid = str(meta(change.object).get("uid"))
            if self._dependents.get(uid):
                yield ("orphaned", uid)
        elif meta(change.object).get("deletionTimestamp") and (
                "orphan" in finalizers or "foregroundDeletion" in finalizers):
            m = meta(change.object)
            yield ("finalize", resource, m.get("namespace", ""), m["name"])

    def _index(self, change: Change) -> None:
        m = meta(change.object)
        entry = (change.resource, str(m.get("namespace", "")), str(m["name"]))
        for ref in meta(change.previous or {}).get("ownerReferences") or []:
            self._dependents.get(str(ref.get("uid")), set()).discard(entry)
        if change.type != DELETED:
            for ref in m.get("ownerReferences") or []:
                self._dependents.setdefault(str(ref.get("uid")), set()).add(entry)

    def _live_dependents(self, uid: str) -> list[tuple[ResourceType, Obj]]:
        found = []
        for resource, namespace, name in sorted(self._dependents.get(uid, ()),
                                                key=lambda e: (e[0].plural, e[1], e[2])):
            obj = self.store.find(resource, namespace, name)
            if obj is not None and any(r.get("uid") == uid
                                       for r in meta(obj).get("ownerReferences") or []):
                found.append((resource, obj))
        return found

    def reconcile(self, key: Hashable) -> float | None:
        assert isinstance(key, tuple)
        if key[0] == "orphaned":
            self._collect(str(key[1]))
            self._dependents.pop(str(key[1]), None)
            return None
        _, resource, namespace, name = key
        owner = self.store.find(resource, namespace, name)
        if owner is None:
            return None
        uid = str(meta(owner)["uid"])
        finalizers = list(meta(owner).get("finalizers") or [])
        if "orphan" in finalizers:
            for dep_type, dependent in self._live_dependents(uid):
                def release(obj: Obj, uid: str = uid) -> None:
                    refs = [r for r in obj["metadata"].get("ownerReferences") or []
                            if r.get("uid") != uid]
                    if refs:
                        obj["metadata"]["ownerReferences"] = refs
                    else:
                        obj["metadata"].pop("ownerReferences", None)

                self.store.modify(dep_type, meta(dependent).get("namespace", ""),
                                  meta(dependent)["name"], release)
            self._drop_finalizer(resource, namespace, name, "orphan")
            return None
        if "foregroundDeletion" in finalizers:
            remaining = self._live_dependents(uid)
            if not remaining:
                self._drop_finalizer(resource, namespace, name, "foregroundDeletion")
                return None
            for dep_type, dependent in remaining:
                if not meta(dependent).get("deletionTimestamp"):
                    self._delete(dep_type, dependent, "Foreground")
            return 0.2
        return None

    def _collect(self, uid: str) -> None:
        for dep_type, dependent in self._live_dependents(uid):
            others = [r for r in meta(dependent).get("ownerReferences") or []
                      if r.get("uid") != uid]
            if others:
                continue  # still owned by someone else
            if not meta(dependent).get("deletionTimestamp"):
                self._delete(dep_type, dependent, "Background")

    def _delete(self, resource: ResourceType, obj: Obj, propagation: str) -> None:
        try:
            self.store.delete(resource, meta(obj).get("namespace", ""), meta(obj)["name"],
                              propagation=propagation,
                              preconditions={"uid": meta(obj).get("uid")})
        except ApiError as error:
            if error.code not in (404, 409):
                raise

    def _drop_finalizer(self, resource: ResourceType, namespace: str, name: str,
                        finalizer: str) -> None:
        def drop(obj: Obj) -> None:
            obj["metadata"]["finalizers"] = [f for f in obj["metadata"].get("finalizers") or []
                                             if f != finalizer]
            if not obj["metadata"]["finalizers"]:
                del obj["metadata"]["finalizers"]

        self.store.modify(resource, namespace, name, drop)


class NamespaceController:
    name = "namespace-controller"

    def __init__(self, store: Store, registry: ResourceRegistry) -> None:
        self.store = store
        self.namespaces = registry.core("namespaces")
        self.contents = [r for r in registry.resources if r.namespaced and not r.storage]

    def keys_for(self, change: Change) -> Iterator[Hashable]:
        if change.resource is self.namespaces and change.type != DELETED and meta(
                change.object).get("deletionTimestamp"):
            yield meta(change.object)["name"]

    def reconcile(self, key: Hashable) -> float | None:
        namespace = self.store.find(self.namespaces, "", str(key))
        if namespace is None:
            return None
        remaining = 0
        for resource in self.contents:
            for obj in self.store.objects(resource, str(key)):
                remaining += 1
                if not meta(obj).get("deletionTimestamp"):
                    try:
                        self.store.delete(resource, str(key), meta(obj)["name"])
                    except ApiError as error:
                        if error.code != 404:
                            raise
        if remaining:
            return 0.2

        def finalize(obj: dict[str, Any]) -> None:
            obj.setdefault("spec", {})["finalizers"] = []

        self.store.modify(self.namespaces, "", str(key), finalize)
        return None
