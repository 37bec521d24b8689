"""Nodes and what runs on them: the scheduler, a simulated kubelet, node lifecycle.

Scheduler: binds each pod without `spec.nodeName` to a Ready, schedulable node whose taints
it tolerates and whose labels match its nodeSelector (spreading by round robin); a pod
that fits nowhere is marked Unschedulable and retried when nodes change.

Kubelet: moves a bound pod through ContainerCreating → Running/Ready, or into the fault
its `PodBehaviour` says (CrashLoopBackOff with a rising restartCount, OOMKilled, not
ready, completion or failure for run-to-completion pods). Pod status is a pure function
of the pod's start time, its behaviour and the clock, so restarts and timings are
consistent whenever it is computed. A deleted pod terminates after its grace period
(shortened by `Timing.termination`) and is then removed. On a node that is not Ready the
kubelet is down: pods there turn NotReady and terminating pods stay Terminating.

Node lifecycle: fills a node's status (conditions, capacity, node info) and keeps the
`not-ready` / `unreachable` / `unschedulable` taints in step with its state, as the node
lifecycle controller does.

Neighbours: `behaviour` (the rules), `base` (runtime), `events`.
"""

from __future__ import annotations

import hashlib
import itertools
import math
from collections import Counter
from collections.abc import Hashable, Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any

from healer.sandbox.behaviour import Behaviours, NodeState, PodBehaviour, PodFault
from healer.sandbox.controllers.base import object_key, set_condition, split_key
from healer.sandbox.events import EventRecorder
from healer.sandbox.resources import ResourceRegistry
from healer.sandbox.store import DELETED, Change, Obj, Store, clone, meta, parse_time, rfc3339

KUBELET_VERSION = "v1.35.0"
_CONDITION_ORDER = ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady",
                    "PodScheduled")


def node_ready(node: Mapping[str, Any] | None) -> str:
    """The status of a node's Ready condition: "True", "False" or "Unknown"."""
    if node is None:
        return "Unknown"
    for condition in (node.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return str(condition.get("status"))
    return "Unknown"


def tolerates(pod_spec: Mapping[str, Any], taint: Mapping[str, Any]) -> bool:
    for toleration in pod_spec.get("tolerations") or []:
        if toleration.get("effect") not in (None, "", taint.get("effect")):
            continue
        if toleration.get("operator") == "Exists":
            if not toleration.get("key") or toleration.get("key") == taint.get("key"):
                return True
        elif (toleration.get("key") == taint.get("key")
              and toleration.get("value", "") == taint.get("value", "")):
            return True
    return False


def _fake_id(seed: str, length: int = 64) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()[:length]


class Scheduler:
    name = "default-scheduler"

    def __init__(self, store: Store, registry: ResourceRegistry, recorder: EventRecorder) -> None:
        self.store = store
        self.pods = registry.core("pods")
        self.nodes = registry.core("nodes")
        self.recorder = recorder
        self._waiting: set[tuple[str, str]] = set()
        self._turn = itertools.count()

    def keys_for(self, change: Change) -> Iterator[Hashable]:
        if change.resource.storage_key == "pods":
            key = object_key(change)
            if change.type != DELETED and not (change.object.get("spec") or {}).get(
                    "nodeName") and not meta(change.object).get("deletionTimestamp"):
                self._waiting.add(key)
                yield key
            else:
                self._waiting.discard(key)
        elif change.resource.storage_key == "nodes":
            yield from sorted(self._waiting)

    def reconcile(self, key: Hashable) -> float | None:
        namespace, name = split_key(key)
        pod = self.store.find(self.pods, namespace, name)
        if pod is None or (pod.get("spec") or {}).get("nodeName") or meta(pod).get(
                "deletionTimestamp"):
            return None
        spec = pod.get("spec") or {}
        nodes = self.store.objects(self.nodes)
        misfits = [self._misfit(spec, n) for n in nodes]
        fits = [n for n, misfit in zip(nodes, misfits, strict=True) if misfit is None]
        now = rfc3339(self.store.clock())
        if not fits:
            message = unschedulable_message(misfits)

            def unschedulable(obj: Obj) -> None:
                conditions = obj.setdefault("status", {}).setdefault("conditions", [])
                set_condition(conditions, "PodScheduled", "False", now, "Unschedulable",
                              message, probe_times=True)

            before = clone(pod.get("status") or {})
            updated = self.store.modify(self.pods, namespace, name, unschedulable,
                                        subresource="status")
            if updated is not None and (updated.get("status") or {}) != before:
                self.recorder.record(pod, "Warning", "FailedScheduling", message,
                                     component=self.name)
            return None
        node = fits[next(self._turn) % len(fits)]
        node_name = meta(node)["name"]

        def bind(obj: Obj) -> None:
            obj["spec"]["nodeName"] = node_name

        def scheduled(obj: Obj) -> None:
            conditions = obj.setdefault("status", {}).setdefault("conditions", [])
            set_condition(conditions, "PodScheduled", "True", now, probe_times=True)

        if self.store.modify(self.pods, namespace, name, bind) is None:
            return None
        self.store.modify(self.pods, namespace, name, scheduled, subresource="status")
        self.recorder.record(pod, "Normal", "Scheduled",
                             f"Successfully assigned {namespace}/{name} to {node_name}",
                             component=self.name)
        return None

    @staticmethod
    def _misfit(spec: Mapping[str, Any], node: Obj) -> str | None:
        """Why the pod cannot go on this node, in the scheduler's words; None if it can.

        Checked in the order of the scheduler's filter plugins: NodeUnschedulable,
        TaintToleration, NodeAffinity.
        """
        node_spec = node.get("spec") or {}
        cordoned = {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}
        if (meta(node).get("deletionTimestamp")
                or (node_spec.get("unschedulable") and not tolerates(spec, cordoned))):
            return "node(s) were unschedulable"
        taints = list(node_spec.get("taints") or [])
        not_ready = _NODE_TAINTS.get(node_ready(node))
        if not_ready and not any(t.get("key") == not_ready for t in taints):
            taints.append({"key": not_ready, "effect": "NoSchedule"})  # before its taint lands
        for taint in taints:
            if taint.get("effect") in ("NoSchedule", "NoExecute") and not tolerates(spec, taint):
                return (f"node(s) had untolerated taint {{{taint.get('key')}: "
                        f"{taint.get('value', '')}}}")
        labels = meta(node).get("labels") or {}
        if any(labels.get(k) != v for k, v in (spec.get("nodeSelector") or {}).items()):
            return "node(s) didn't match Pod's node affinity/selector"
        return None


def unschedulable_message(reasons: list[str | None]) -> str:
    """The scheduler's FitError text: how many nodes failed for which reason."""
    counts = Counter(r for r in reasons if r)
    histogram = ", ".join(sorted(f"{n} {reason}" for reason, n in counts.items()))
    total = len(reasons)
    if not total:
        return "no nodes available to schedule pods"
    return (f"0/{total} nodes are available: {histogram}. preemption: 0/{total} nodes are "
            f"available: {total} Preemption is not helpful for scheduling.")


class Kubelet:
    name = "kubelet"

    def __init__(self, store: Store, registry: ResourceRegistry, recorder: EventRecorder,
                 behaviours: Behaviours) -> None:
        self.store = store
        self.pods = registry.core("pods")
        self.nodes = registry.core("nodes")
        self.recorder = recorder
        self.behaviours = behaviours
        self._on_node: dict[str, set[tuple[str, str]]] = {}
        self._node_of: dict[tuple[str, str], str] = {}
        self._announced: dict[str, str] = {}  # pod uid → last state announced by event
        # pod uid → when this kubelet started it / stopped its containers; kept precisely
        # because startTime and deletionTimestamp have whole seconds only, which would cut
        # the sub-second phases of fast test timings short at random
        self._started: dict[str, datetime] = {}
        self._stopping: dict[str, datetime] = {}

    def keys_for(self, change: Change) -> Iterator[Hashable]:
        if change.resource.storage_key == "pods":
            key = object_key(change)
            node = (change.object.get("spec") or {}).get("nodeName")
            previous = self._node_of.pop(key, None)
            if previous:
                self._on_node.get(previous, set()).discard(key)
            if change.type == DELETED:
                uid = str(meta(change.object).get("uid"))
                self.behaviours.forget(uid)
                self._announced.pop(uid, None)
                self._started.pop(uid, None)
                self._stopping.pop(uid, None)
                return
            if meta(change.object).get("deletionTimestamp"):
                self.behaviours.release(str(meta(change.object).get("uid")))
            if node:
                self._node_of[key] = node
                self._on_node.setdefault(node, set()).add(key)
                yield key
        elif change.resource.storage_key == "nodes":
            before = node_ready(change.previous) if change.previous else None
            if change.type == DELETED or before != node_ready(change.object):
                yield from sorted(self._on_node.get(meta(change.object)["name"], ()))

    def reconcile(self, key: Hashable) -> float | None:
        namespace, name = split_key(key)
        pod = self.store.find(self.pods, namespace, name)
        if pod is None:
            return None
        spec = pod.get("spec") or {}
        node = self.store.find(self.nodes, "", str(spec.get("nodeName")))
        node_up = node is not None and node_ready(node) == "True"
        now = self.store.clock()
        if meta(pod).get("deletionTimestamp"):
            return self._terminate(pod, now) if node_up else None
        current = pod.get("status") or {}
        if current.get("phase") in ("Succeeded", "Failed"):
            return None
        if node is None or not node_up:
            self._write(pod, _not_ready(current, rfc3339(now)))
            return None
        rule = self.behaviours.fault_for(pod)
        started = self._started.setdefault(
            str(meta(pod).get("uid")),
            parse_time(current["startTime"]) if current.get("startTime") else now)
        desired, again = self._status(pod, node, rule, started, now)
        self._write(pod, desired)
        self._announce(pod, desired, rule)
        return again

    # status computation -------------------------------------------------------------

    def _status(self, pod: Obj, node: Obj, rule: PodBehaviour | None, started: datetime,
                now: datetime) -> tuple[dict[str, Any], float | None]:
        timing = self.behaviours.timing
        spec, current = pod["spec"], pod.get("status") or {}
        containers = spec.get("containers") or []
        run_to_completion = spec.get("restartPolicy") in ("Never", "OnFailure")
        fault = rule.fault if rule else (PodFault.COMPLETE if run_to_completion
                                         else PodFault.HEALTHY)
        faulty = (rule.container if rule and rule.container
                  else containers[0]["name"] if containers else "")
        elapsed = (now - started).total_seconds()
        running_at = started + timedelta(seconds=timing.pod_start)
        base = {k: v for k, v in current.items() if k in ("qosClass",)}
        node_ip = _node_ip(node)
        base.update({"hostIP": node_ip, "hostIPs": [{"ip": node_ip}],
                     "startTime": rfc3339(started)})
        conditions = clone(current.get("conditions") or [])
        stamp = rfc3339(now)
        set_condition(conditions, "PodScheduled", "True", stamp, probe_times=True)
        set_condition(conditions, "Initialized", "True", stamp, probe_times=True)
        if elapsed < timing.pod_start:
            return _creating(base, conditions, pod, stamp), timing.pod_start - elapsed
        base.update(_pod_ips(pod))
        set_condition(conditions, "PodReadyToStartContainers", "True", stamp, probe_times=True)
        fault_at = running_at + timedelta(seconds=rule.after if rule else 0.0)
        again: float | None = None
        statuses = []
        phase = "Running"
        state: dict[str, Any]
        for container in containers:
            if container["name"] != faulty or fault is PodFault.HEALTHY or now < fault_at:
                state = {"running": {"startedAt": rfc3339(running_at)}}
                statuses.append(_container(container, pod, ready=True, state=state))
                if now < fault_at and fault is not PodFault.HEALTHY:
                    again = (fault_at - now).total_seconds()
                continue
            if fault is PodFault.NOT_READY:
                state = {"running": {"startedAt": rfc3339(running_at)}}
                statuses.append(_container(container, pod, ready=False, state=state))
            elif fault in (PodFault.COMPLETE, PodFault.FAIL):
                ends = running_at + timedelta(seconds=timing.job_run)
                if now < ends:
                    state = {"running": {"startedAt": rfc3339(running_at)}}
                    statuses.append(_container(container, pod, ready=True, state=state))
                    again = (ends - now).total_seconds()
                else:
                    ok = fault is PodFault.COMPLETE
                    state = {"terminated": {"exitCode": 0 if ok else 1,
                                            "reason": "Completed" if ok else "Error",
                                            "startedAt": rfc3339(running_at),
                                            "finishedAt": rfc3339(ends)}}
                    statuses.append(_container(container, pod, ready=False, state=state))
                    phase = "Succeeded" if ok else (
                        "Failed" if spec.get("restartPolicy") == "Never" else "Running")
            else:
                crashing, again = _crash_looping(container, pod, fault, fault_at, now,
                                                 timing.restart_interval)
                statuses.append(crashing)
        _keep_history(statuses, current.get("containerStatuses") or [])
        _readiness(conditions, statuses, phase, stamp)
        return _assemble(base, phase, conditions, statuses), again

    def _write(self, pod: Obj, desired: dict[str, Any]) -> None:
        if (pod.get("status") or {}) == desired:
            return
        self.store.modify(self.pods, meta(pod).get("namespace", ""), meta(pod)["name"],
                          lambda obj: obj.__setitem__("status", desired), subresource="status")

    def _announce(self, pod: Obj, desired: dict[str, Any], rule: PodBehaviour | None) -> None:
        """Events on state transitions, as the kubelet emits them."""
        uid = str(meta(pod).get("uid"))
        statuses = desired.get("containerStatuses") or []
        state = desired.get("phase", "")
        crashes = sum(int(s.get("restartCount", 0)) for s in statuses)
        if any("waiting" in s["state"] and s["state"]["waiting"].get("reason")
               == "CrashLoopBackOff" for s in statuses):
            state = f"backoff-{crashes}"
        elif rule is not None and rule.fault is PodFault.NOT_READY and state == "Running":
            state = "unready"
        previous = self._announced.get(uid)
        if previous == state:
            return
        self._announced[uid] = state
        node = (pod.get("spec") or {}).get("nodeName", "")
        record = self.recorder.record
        if previous in (None, "Pending") and state != "Pending":
            for container in (pod.get("spec") or {}).get("containers") or []:
                record(pod, "Normal", "Pulled", f'Container image "{container.get("image")}" '
                       "already present on machine", component=self.name, host=node)
                record(pod, "Normal", "Created", f"Created container: {container['name']}",
                       component=self.name, host=node)
                record(pod, "Normal", "Started", f"Started container {container['name']}",
                       component=self.name, host=node)
        if state.startswith("backoff"):
            for s in statuses:
                if "waiting" in s["state"]:
                    record(pod, "Warning", "BackOff", "Back-off restarting failed container "
                           f"{s['name']} in pod {meta(pod)['name']}_{meta(pod).get('namespace')}"
                           f"({uid})", component=self.name, host=node)
        elif state == "unready":
            record(pod, "Warning", "Unhealthy", "Readiness probe failed: HTTP probe failed "
                   "with statuscode: 503", component=self.name, host=node)

    def _terminate(self, pod: Obj, now: datetime) -> float | None:
        m = meta(pod)
        grace = int(m.get("deletionGracePeriodSeconds") or 0)
        uid = str(m.get("uid"))
        stopping = self._stopping.setdefault(uid, now)
        done_at = stopping + timedelta(seconds=min(grace, self.behaviours.timing.termination))
        if self._announced.get(uid) != "terminating":
            self._announced[uid] = "terminating"
            for container in (pod.get("spec") or {}).get("containers") or []:
                self.recorder.record(pod, "Normal", "Killing",
                                     f"Stopping container {container['name']}",
                                     component=self.name,
                                     host=(pod.get("spec") or {}).get("nodeName", ""))
        if now < done_at:
            return (done_at - now).total_seconds()
        try:
            self.store.delete(self.pods, m.get("namespace", ""), m["name"], grace_period=0,
                              preconditions={"uid": m.get("uid")})
        except Exception:  # noqa: BLE001 - gone or replaced meanwhile: nothing to finish
            return None
        return None


def _keep_history(statuses: list[dict[str, Any]], previous: list[dict[str, Any]]) -> None:
    """A container that stopped crashing keeps its restart count and last termination."""
    before = {s.get("name"): s for s in previous}
    for status in statuses:
        old = before.get(status["name"])
        if old is None or int(old.get("restartCount", 0)) <= status["restartCount"]:
            continue
        status["restartCount"] = int(old["restartCount"])
        status["lastState"] = old.get("lastState") or {}
        status.setdefault("containerID", old.get("containerID"))


def _readiness(conditions: list[dict[str, Any]], statuses: list[dict[str, Any]], phase: str,
               stamp: str) -> None:
    """Set the Ready and ContainersReady conditions from the container statuses."""
    unready = [s["name"] for s in statuses if not s["ready"]]
    for ctype in ("Ready", "ContainersReady"):
        if phase == "Succeeded":
            set_condition(conditions, ctype, "False", stamp, "PodCompleted", probe_times=True)
        elif not unready:
            set_condition(conditions, ctype, "True", stamp, probe_times=True)
        else:
            set_condition(conditions, ctype, "False", stamp, "ContainersNotReady",
                          f"containers with unready status: [{' '.join(unready)}]",
                          probe_times=True)


def _creating(base: dict[str, Any], conditions: list[dict[str, Any]], pod: Obj,
              stamp: str) -> dict[str, Any]:
    """The status of a pod whose containers are still being created."""
    containers = (pod.get("spec") or {}).get("containers") or []
    set_condition(conditions, "PodReadyToStartContainers", "False", stamp, probe_times=True)
    for ctype in ("Ready", "ContainersReady"):
        set_condition(conditions, ctype, "False", stamp, "ContainersNotReady",
                      f"containers with unready status: "
                      f"[{' '.join(c['name'] for c in containers)}]", probe_times=True)
    statuses = [_container(c, pod, ready=False, state={"waiting": {"reason": "ContainerCreating"}})
                for c in containers]
    return _assemble(base, "Pending", conditions, statuses)


def _crash_looping(container: Mapping[str, Any], pod: Obj, fault: PodFault, fault_at: datetime,
                   now: datetime, interval: float) -> tuple[dict[str, Any], float]:
    """A container that crashes (or is OOM-killed) once per `interval` since `fault_at`.

    Returns its status and the seconds until its next crash.
    """
    interval = max(interval, 0.05)
    crashes = math.floor((now - fault_at).total_seconds() / interval) + 1
    last_end = fault_at + timedelta(seconds=(crashes - 1) * interval)
    oom = fault is PodFault.OOM_KILLED
    last = {"terminated": {"exitCode": 137 if oom else 1,
                           "reason": "OOMKilled" if oom else "Error",
                           "startedAt": rfc3339(last_end - timedelta(seconds=min(interval / 2,
                                                                                 1.0))),
                           "finishedAt": rfc3339(last_end),
                           "containerID": _container_id(pod, container, crashes)}}
    backoff = min(10 * 2 ** min(crashes - 1, 5), 300)  # the kubelet's 10s doubling, max 5m
    m = meta(pod)
    waiting = {"waiting": {"reason": "CrashLoopBackOff",
                           "message": f"back-off {backoff}s restarting failed container="
                                      f"{container['name']} pod={m['name']}_"
                                      f"{m.get('namespace')}({m.get('uid')})"}}
    status = _container(container, pod, ready=False, state=waiting, last_state=last,
                        restarts=crashes)
    return status, (last_end + timedelta(seconds=interval) - now).total_seconds()


def _assemble(base: dict[str, Any], phase: str, conditions: list[dict[str, Any]],
              statuses: list[dict[str, Any]]) -> dict[str, Any]:
    order = {name: i for i, name in enumerate(_CONDITION_ORDER)}
    return {**base, "phase": phase,
            "conditions": sorted(conditions, key=lambda c: order.get(c["type"], 99)),
            "containerStatuses": statuses}


def _container(container: Mapping[str, Any], pod: Obj, *, ready: bool, state: dict[str, Any],
               last_state: dict[str, Any] | None = None, restarts: int = 0) -> dict[str, Any]:
    image = str(container.get("image", ""))
    running = "running" in state
    result: dict[str, Any] = {
        "name": container["name"], "image": image,
        "imageID": f"{image.split(':', maxsplit=1)[0]}@sha256:{_fake_id(image)}",
        "ready": ready, "started": running, "restartCount": restarts,
        "state": state, "lastState": last_state or {},
    }
    if running or "terminated" in state or restarts:
        result["containerID"] = _container_id(pod, container, restarts)
    return result


def _container_id(pod: Obj, container: Mapping[str, Any], attempt: int) -> str:
    seed = f"{meta(pod).get('uid')}/{container['name']}/{attempt}"
    return f"containerd://{_fake_id(seed)}"


def _pod_ips(pod: Obj) -> dict[str, Any]:
    if (pod.get("spec") or {}).get("hostNetwork"):
        return {}
    digest = int(_fake_id(str(meta(pod).get("uid")), 8), 16)
    ip = f"10.244.{digest % 250}.{(digest >> 8) % 250 + 2}"
    return {"podIP": ip, "podIPs": [{"ip": ip}]}


def _node_ip(node: Obj) -> str:
    for address in (node.get("status") or {}).get("addresses") or []:
        if address.get("type") == "InternalIP":
            return str(address.get("address"))
    return "10.0.0.1"


def _not_ready(current: dict[str, Any], stamp: str) -> dict[str, Any]:
    result = clone(current)
    conditions = result.setdefault("conditions", [])
    for ctype in ("Ready", "ContainersReady"):
        if any(c.get("type") == ctype for c in conditions):
            set_condition(conditions, ctype, "False", stamp, "NodeNotReady" if ctype == "Ready"
                          else "", "", probe_times=True)
    return result


class NodeLifecycle:
    name = "node-controller"

    def __init__(self, store: Store, registry: ResourceRegistry, recorder: EventRecorder,
                 behaviours: Behaviours) -> None:
        self.store = store
        self.nodes = registry.core("nodes")
        self.recorder = recorder
        self.behaviours = behaviours

    def keys_for(self, change: Change) -> Iterator[Hashable]:
        if change.resource.storage_key == "nodes" and change.type != DELETED:
            yield meta(change.object)["name"]

    def reconcile(self, key: Hashable) -> float | None:
        node = self.store.find(self.nodes, "", str(key))
        if node is None:
            return None
        now = rfc3339(self.store.clock())
        forced = self.behaviours.node_state(str(key))
        desired_status = _node_status(node, forced, now)
        if desired_status != (node.get("status") or {}):
            before = node_ready(node)
            updated = self.store.modify(self.nodes, "", str(key),
                                        lambda obj: obj.__setitem__("status", desired_status),
                                        subresource="status")
            if updated is not None and node_ready(updated) != before:
                ready = node_ready(updated)
                self.recorder.record(updated, "Normal",
                                     "NodeReady" if ready == "True" else "NodeNotReady",
                                     f"Node {key} status is now: "
                                     f"{'NodeReady' if ready == 'True' else 'NodeNotReady'}",
                                     component=self.name)
            node = updated or node
        taints = _taints(node, now)
        if taints != ((node.get("spec") or {}).get("taints") or []):
            def retaint(obj: Obj) -> None:
                if taints:
                    obj.setdefault("spec", {})["taints"] = taints
                else:
                    obj.setdefault("spec", {}).pop("taints", None)

            self.store.modify(self.nodes, "", str(key), retaint)
        return None


_NODE_TAINTS = {"False": "node.kubernetes.io/not-ready",
                "Unknown": "node.kubernetes.io/unreachable"}
_MANAGED_TAINTS = (*_NODE_TAINTS.values(), "node.kubernetes.io/unschedulable")


def _taints(node: Obj, now: str) -> list[dict[str, Any]]:
    current = (node.get("spec") or {}).get("taints") or []
    kept = [t for t in current if t.get("key") not in _MANAGED_TAINTS]
    wanted: list[dict[str, Any]] = []
    if (node.get("spec") or {}).get("unschedulable"):
        wanted.append({"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"})
    ready_key = _NODE_TAINTS.get(node_ready(node))
    if ready_key:
        wanted.append({"key": ready_key, "effect": "NoSchedule"})
        wanted.append({"key": ready_key, "effect": "NoExecute"})
    for taint in wanted:
        existing = next((t for t in current if t.get("key") == taint["key"]
                         and t.get("effect") == taint["effect"]), None)
        if taint["effect"] == "NoExecute":
            taint["timeAdded"] = (existing or {}).get("timeAdded") or now
    return kept + wanted


def _node_status(node: Obj, forced: NodeState | None, now: str) -> dict[str, Any]:
    current = clone(node.get("status") or {})
    name = meta(node)["name"]
    digest = int(_fake_id(name, 8), 16)
    current.setdefault("capacity", {"cpu": "4", "memory": "16Gi", "pods": "110",
                                    "ephemeral-storage": "100Gi"})
    current.setdefault("allocatable", {"cpu": "3800m", "memory": "15Gi", "pods": "110",
                                       "ephemeral-storage": "95Gi"})
    current.setdefault("addresses", [
        {"type": "InternalIP", "address": f"10.0.{digest % 250}.{(digest >> 8) % 250 + 2}"},
        {"type": "Hostname", "address": name}])
    current.setdefault("daemonEndpoints", {"kubeletEndpoint": {"Port": 10250}})
    current.setdefault("nodeInfo", {
        "machineID": _fake_id(name, 32), "systemUUID": _fake_id(name + "uuid", 32),
        "bootID": _fake_id(name + "boot", 32), "kernelVersion": "6.1.0-healer",
        "osImage": "Debian GNU/Linux 12 (bookworm)", "containerRuntimeVersion":
            "containerd://1.7.24", "kubeletVersion": KUBELET_VERSION,
        "kubeProxyVersion": "", "operatingSystem": "linux", "architecture": "amd64"})
    conditions = current.setdefault("conditions", [])
    for ctype, reason, message in (
            ("MemoryPressure", "KubeletHasSufficientMemory", "kubelet has sufficient memory"),
            ("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            ("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available")):
        if not any(c.get("type") == ctype for c in conditions):
            _node_condition(conditions, ctype, "False", now, reason, message)
    declared = node_ready(node) if any(c.get("type") == "Ready" for c in conditions) else "True"
    ready = forced.value if forced is not None else declared
    reason, message = {
        "True": ("KubeletReady", "kubelet is posting ready status"),
        "False": ("KubeletNotReady", "container runtime network not ready: NetworkReady=false"),
        "Unknown": ("NodeStatusUnknown", "Kubelet stopped posting node status."),
    }[ready]
    _node_condition(conditions, "Ready", ready, now, reason, message)
    return current


def _node_condition(conditions: list[dict[str, Any]], type_: str, status: str, now: str,
                    reason: str, message: str) -> None:
    existing = next((c for c in conditions if c.get("type") == type_), None)
    if existing is not None and existing.get("status") == status:
        return
    set_condition(conditions, type_, status, now, reason, message)
    condition = next(c for c in conditions if c.get("type") == type_)
    condition.setdefault("lastHeartbeatTime", now)
