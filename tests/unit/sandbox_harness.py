"""A small world for unit tests of the sandbox's controllers.

`Harness` wires a real `Store` (with the real admission), a `ControllerManager` running
the controllers under test, and `StandInKubelet`: a tiny kubelet the test steers, so tests
never wait on the real simulated kubelet. The stand-in binds each pod to a node and makes
it Running and Ready, unless the test holds it Pending, keeps it unready, finishes it
(Succeeded/Failed), or lets a deleted pod linger in Terminating.

`Harness.eventually(check)` polls with a short deadline (5 s) instead of sleeping.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Hashable, Iterator
from types import TracebackType
from typing import Any, Protocol, TypeVar

from healer.sandbox.admission import admit
from healer.sandbox.controllers.base import Controller, ControllerManager, object_key
from healer.sandbox.events import EventRecorder
from healer.sandbox.resources import ResourceRegistry
from healer.sandbox.status import ApiError
from healer.sandbox.store import DELETED, Change, Obj, Store, clone, meta, rfc3339
from tests.support import eventually

T = TypeVar("T")
NAMESPACE = "default"
NODE = "node-1"


class ControllerFactory(Protocol):
    def __call__(self, store: Store, registry: ResourceRegistry,
                 recorder: EventRecorder) -> Controller: ...


class StandInKubelet:
    """Runs pods as the test says; everything else is Running and Ready."""

    name = "stand-in-kubelet"

    def __init__(self, store: Store, registry: ResourceRegistry) -> None:
        self.store = store
        self.pods = registry.core("pods")
        self.hold: Callable[[Obj], bool] = lambda pod: False  # stays Pending, untouched
        self.unready: Callable[[Obj], bool] = lambda pod: False  # Running, not Ready
        self.finish: Callable[[Obj], str | None] = lambda pod: None  # a terminal phase
        self.linger: Callable[[Obj], bool] = lambda pod: False  # stays Terminating

    def keys_for(self, change: Change) -> Iterator[Hashable]:
        if change.resource.storage_key == "pods" and change.type != DELETED:
            yield object_key(change)

    def reconcile(self, key: Hashable) -> float | None:
        namespace, name = key  # type: ignore[misc]
        pod = self.store.find(self.pods, namespace, name)
        if pod is None:
            return None
        if meta(pod).get("deletionTimestamp"):
            if not self.linger(pod):
                with contextlib.suppress(ApiError):  # gone or replaced meanwhile
                    self.store.delete(self.pods, namespace, name, grace_period=0,
                                      preconditions={"uid": meta(pod)["uid"]})
            return None
        status = pod.get("status") or {}
        if status.get("phase") in ("Succeeded", "Failed") or self.hold(pod):
            return None
        if not (pod.get("spec") or {}).get("nodeName"):
            # bound pods terminate gracefully, as on a node
            self.store.modify(self.pods, namespace, name,
                              lambda obj: obj["spec"].__setitem__("nodeName", NODE))
            return None
        wanted = clone(status)
        ending = self.finish(pod)
        ready = ending is None and not self.unready(pod)
        wanted["phase"] = ending or "Running"
        now = rfc3339(self.store.clock())
        conditions = [c for c in wanted.get("conditions") or [] if c.get("type") != "Ready"]
        old = next((c for c in wanted.get("conditions") or [] if c.get("type") == "Ready"), {})
        flag = "True" if ready else "False"
        since = old.get("lastTransitionTime") if old.get("status") == flag else now
        wanted["conditions"] = [*conditions, {"type": "Ready", "status": flag,
                                              "lastTransitionTime": since}]
        if wanted != status:
            self.store.modify(self.pods, namespace, name,
                              lambda obj: obj.__setitem__("status", wanted),
                              subresource="status")
        return None


class Harness:
    """A store, the controllers under test and a stand-in kubelet, run by one manager."""

    def __init__(self, *factories: ControllerFactory, namespace: str = NAMESPACE) -> None:
        self.registry = ResourceRegistry()
        self.store = Store(admit)
        self.recorder = EventRecorder(self.store, self.registry)
        self.controllers = [f(self.store, self.registry, self.recorder)
                            for f in factories]
        self.kubelet = StandInKubelet(self.store, self.registry)
        self.manager = ControllerManager(self.store, [*self.controllers, self.kubelet])
        self.namespace = namespace
        self.store.create(self.registry.core("namespaces"), {"metadata": {"name": namespace}})

    def __enter__(self) -> Harness:
        self.manager.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.manager.stop()

    # objects ---------------------------------------------------------------------------

    def create(self, plural: str, manifest: dict[str, Any]) -> Obj:
        resource = self.registry.core(plural)
        body = clone(manifest)
        if resource.namespaced:
            body.setdefault("metadata", {}).setdefault("namespace", self.namespace)
        return self.store.create(resource, body)

    def get(self, plural: str, name: str) -> Obj | None:
        return self.store.find(self.registry.core(plural), self.namespace, name)

    def status(self, plural: str, name: str) -> dict[str, Any]:
        found = self.get(plural, name)
        assert found is not None, f"{plural}/{name} is gone"
        return dict(found.get("status") or {})

    def modify(self, plural: str, name: str, change: Callable[[Obj], object], *,
               subresource: str = "") -> Obj | None:
        resource = self.registry.core(plural)
        namespace = self.namespace if resource.namespaced else ""
        return self.store.modify(resource, namespace, name, change, subresource=subresource)

    def delete(self, plural: str, name: str) -> None:
        resource = self.registry.core(plural)
        self.store.delete(resource, self.namespace if resource.namespaced else "", name)

    def pods(self, owner: str | None = None) -> list[Obj]:
        """The namespace's pods, optionally only those `owner` (a name) controls."""
        pods = self.store.objects(self.registry.core("pods"), self.namespace)
        if owner is None:
            return pods
        return [p for p in pods if any(r.get("name") == owner and r.get("controller")
                                       for r in meta(p).get("ownerReferences") or [])]

    def pod_names(self, owner: str | None = None) -> list[str]:
        return sorted(meta(p)["name"] for p in self.pods(owner))

    def events(self, reason: str | None = None) -> list[Obj]:
        """Events in creation order, optionally of one reason."""
        found = self.store.objects(self.registry.core("events"), self.namespace)
        found = [e for e in found if reason is None or e.get("reason") == reason]
        return sorted(found, key=lambda e: meta(e)["name"].rsplit(".", 1)[-1].rjust(20, "0"))

    def messages(self, reason: str) -> list[str]:
        return [str(e.get("message")) for e in self.events(reason)]

    # running ---------------------------------------------------------------------------

    def settle(self) -> None:
        """Wait until no change or queued work is pending (timers may still be)."""
        assert self.manager.wait_idle(5.0), "the controllers did not settle"

    def kick_pods(self) -> None:
        """Have the stand-in kubelet look at every pod again (after changing its rules)."""
        for pod in self.pods():
            self.manager.enqueue(self.kubelet, (self.namespace, meta(pod)["name"]))

    def eventually(self, check: Callable[[], T], timeout: float = 5.0, what: str = "") -> T:
        """`tests.support.eventually`, polling often: everything here runs in-process."""
        __tracebackhide__ = True
        return eventually(check, what or repr(check), timeout=timeout, interval=0.01)


def condition(obj: Obj | dict[str, Any] | None, type_: str) -> dict[str, Any]:
    """The status condition of a type ({} if absent)."""
    status = (obj or {}).get("status", obj) or {}
    return next((c for c in status.get("conditions") or [] if c.get("type") == type_), {})


def ready(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") == "Running" and condition(
        pod, "Ready").get("status") == "True"
