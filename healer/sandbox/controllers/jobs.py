"""Jobs: run pods to completion, replace failed ones, finish Complete or Failed.

A Job keeps `min(parallelism, completions - succeeded)` pods active (`<job>-<random>`, or
`<job>-<index>-<random>` with their completion index for `Indexed` jobs). A pod counts
once, when it finishes: Succeeded, or failed — phase Failed, or deleted before it
succeeded (the default `podReplacementPolicy: TerminatingOrFailed`). Failed pods are
replaced after a back-off that doubles with each failure since the last success, until
`failed > backoffLimit` (or, for `restartPolicy: OnFailure`, the container restarts
reach it) or `activeDeadlineSeconds` passes. Then, as a 1.31+ server does, the Job first
gets `FailureTarget`, its active pods are deleted, and `Failed` follows once none is
terminating; success likewise sets `SuccessCriteriaMet` then `Complete` with
`completionTime`. `suspend: true` deletes the active pods (not counted as failures) and
sets the Suspended condition; resuming resets `startTime`.

The real controller tracks pods with the `batch.kubernetes.io/job-tracking` finalizer so
no pod is counted twice or missed; the sandbox keeps that bookkeeping in memory (the
store is in memory too), so its pods carry no finalizer and
`uncountedTerminatedPods` is always empty.

Neighbours: `base` (runtime, helpers), `sets` (`pod_from_template`), `events`;
`admission` adds the job labels and selector, and `lifecycle` deletes a deleted Job's
pods.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any, cast

from healer.sandbox.controllers.base import OwnerIndex, controller_ref, object_key
from healer.sandbox.controllers.sets import pod_from_template
from healer.sandbox.disruption import pod_ready
from healer.sandbox.events import EventRecorder
from healer.sandbox.resources import ResourceRegistry
from healer.sandbox.status import ApiError
from healer.sandbox.store import DELETED, Change, Obj, Store, clone, meta, parse_time, rfc3339

COMPLETION_INDEX = "batch.kubernetes.io/job-completion-index"
_TERMINAL = ("Succeeded", "Failed")
_BACKOFF_LIMIT = ("BackoffLimitExceeded", "Job has reached the specified backoff limit")
_DEADLINE = ("DeadlineExceeded", "Job was active longer than specified deadline")
_COMPLETIONS = ("CompletionsReached", "Reached expected number of succeeded pods")


class _Tracking:
    """What the job-tracking finalizer gives the real controller: which pods are counted."""

    def __init__(self) -> None:
        self.counted: set[str] = set()  # pod uids already in succeeded/failed
        self.ignored: set[str] = set()  # pods this controller removed: never failures
        self.vanished: dict[str, bool] = {}  # uid → succeeded, for pods gone uncounted
        self.failures_since_success = 0
        self.last_failure: datetime | None = None


class JobController:
    name = "job-controller"

    def __init__(self, store: Store, registry: ResourceRegistry, recorder: EventRecorder, *,
                 failure_backoff: float = 10.0, max_failure_backoff: float = 600.0) -> None:
        """`failure_backoff`: seconds before replacing the first failed pod, doubling with
        each further failure up to `max_failure_backoff` (the real 10 s and 10 min)."""
        self.store = store
        self.jobs = registry.core("jobs")
        self.pods = registry.core("pods")
        self.recorder = recorder
        self.index = OwnerIndex(store, self.pods)
        self.failure_backoff = failure_backoff
        self.max_failure_backoff = max_failure_backoff
        self._tracking: dict[str, _Tracking] = {}  # job uid → its bookkeeping

    def keys_for(self, change: Change) -> Iterator[Hashable]:
        if change.resource.storage_key == self.jobs.storage_key:
            if change.type == DELETED:
                self._tracking.pop(str(meta(change.object).get("uid")), None)
            yield object_key(change)
        elif change.resource.storage_key == self.pods.storage_key:
            self.index.observe(change)
            for obj in (change.object, change.previous):
                ref = controller_ref(obj) if obj is not None else None
                if obj is None or ref is None or ref.get("kind") != "Job":
                    continue
                tracking = self._tracking.get(str(ref.get("uid")))
                uid = str(meta(change.object).get("uid"))
                if (change.type == DELETED and tracking is not None
                        and uid not in tracking.counted and uid not in tracking.ignored):
                    tracking.vanished[uid] = _phase(change.object) == "Succeeded"
                yield meta(obj).get("namespace", ""), str(ref["name"])

    def reconcile(self, key: Hashable) -> float | None:
        namespace, name = cast(tuple[str, str], key)
        job = self.store.find(self.jobs, namespace, name)
        if job is None or meta(job).get("deletionTimestamp"):
            return None
        status = job.get("status") or {}
        conditions: list[dict[str, Any]] = clone(status.get("conditions") or [])
        if any(c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
               for c in conditions):
            return None
        return _Sync(self, job, conditions).run()

    def tracking(self, job: Obj, pods: list[Obj]) -> _Tracking:
        uid = str(meta(job)["uid"])
        tracking = self._tracking.get(uid)
        if tracking is None:
            tracking = self._tracking[uid] = _Tracking()
            status = job.get("status") or {}
            if status.get("succeeded") or status.get("failed"):
                # first sight of a job counted before: its finished pods are in the counts
                tracking.counted = {str(meta(p)["uid"]) for p in pods
                                    if _phase(p) in _TERMINAL or _terminating(p)}
        return tracking


class _Sync:
    """One reconcile of one Job (syncJob), with its working state."""

    def __init__(self, controller: JobController, job: Obj,
                 conditions: list[dict[str, Any]]) -> None:
        self.ctl = controller
        self.job = job
        self.spec: dict[str, Any] = job.get("spec") or {}
        self.status: dict[str, Any] = job.get("status") or {}
        self.conditions = conditions
        self.moment = controller.store.clock()
        self.now = rfc3339(self.moment)
        self.indexed = self.spec.get("completionMode") == "Indexed"
        self.pods = controller.index.owned(job)
        self.tracking = controller.tracking(job, self.pods)
        self.newly_counted: set[str] = set()
        self.terminating = 0
        self.recheck: list[float] = []

    def run(self) -> float | None:
        succeeded, failed, new_failures, new_success = self._count()
        tracking = self.tracking  # the back-off counts the failures seen just now
        if new_success:
            tracking.failures_since_success = 0
        if new_failures:
            tracking.failures_since_success += new_failures
            tracking.last_failure = self.moment
        active = [p for p in self.pods if _phase(p) not in _TERMINAL and not _terminating(p)]
        self.terminating = sum(1 for p in self.pods
                               if _terminating(p) and _phase(p) not in _TERMINAL)
        suspended = bool(self.spec.get("suspend"))
        start_time: str | None = self.status.get("startTime") or (
            None if suspended else self.now)
        completed_indexes = self._succeeded_indexes() if self.indexed else set()
        if self.indexed:
            succeeded = len(completed_indexes)
        completion_time: str | None = self.status.get("completionTime")
        failing = self._failure(failed, active, start_time, suspended)
        if failing is not None:
            failed += self._fail(active, failing)
            active = []
        else:
            active, start_time = self._manage(active, succeeded, completed_indexes,
                                              start_time, suspended)
            if self._succeed(active, succeeded):
                completion_time = self.now
        self._write({
            "startTime": start_time, "completionTime": completion_time,
            "active": len(active), "succeeded": succeeded, "failed": failed,
            "ready": sum(1 for p in active if pod_ready(p)), "terminating": self.terminating,
            "uncountedTerminatedPods": {}, "conditions": self.conditions,
            "completedIndexes": _format_indexes(completed_indexes),
        })
        # counted for good only once the status holding the counts is stored
        tracking.counted |= self.newly_counted
        tracking.vanished.clear()
        if failing is None and start_time and self.spec.get("activeDeadlineSeconds"):
            deadline = parse_time(start_time) + timedelta(
                seconds=int(self.spec["activeDeadlineSeconds"]))
            self.recheck.append((deadline - self.moment).total_seconds() + 0.5)
        waits = [w for w in self.recheck if w > 0]
        return min(waits) if waits else None

    def _failure(self, failed: int, active: list[Obj], start_time: str | None,
                 suspended: bool) -> tuple[str, str] | None:
        """Why the Job fails (FailureTarget, set now or before), or None."""
        failing = self._condition("FailureTarget")
        if failing is not None or self._condition("SuccessCriteriaMet") is not None:
            return failing
        limit = int(self.spec.get("backoffLimit", 6))
        if failed > limit or self._restarts_exceed(active, limit):
            failing = _BACKOFF_LIMIT
        elif self._past_deadline(start_time, suspended):
            failing = _DEADLINE
        if failing is not None:
            self._add_condition("FailureTarget", *failing)
        return failing

    def _fail(self, active: list[Obj], failing: tuple[str, str]) -> int:
        """The Job failed: delete its active pods, which count as failed; Failed once
        none is terminating. Returns how many more pods failed."""
        for pod in active:
            self._delete(pod)
            self.newly_counted.add(str(meta(pod)["uid"]))
        if self.terminating == 0:
            self._add_condition("Failed", *failing)
            self.ctl.recorder.record(self.job, "Warning", failing[0], failing[1],
                                     component=self.ctl.name)
        return len(active)

    def _succeed(self, active: list[Obj], succeeded: int) -> bool:
        """SuccessCriteriaMet once enough pods succeeded, Complete once none is terminating.
        Returns whether the Job completed now."""
        succeeding = self._condition("SuccessCriteriaMet")
        if succeeding is None:
            completions = self.spec.get("completions")
            done = succeeded > 0 if completions is None else succeeded >= int(completions)
            if not done or active:
                return False
            succeeding = _COMPLETIONS
            self._add_condition("SuccessCriteriaMet", *succeeding)
        if self.terminating:
            return False
        self._add_condition("Complete", *succeeding)
        self.ctl.recorder.record(self.job, "Normal", "Completed", "Job completed",
                                 component=self.ctl.name)
        return True

    def _write(self, new_status: dict[str, Any]) -> None:
        new_status = {k: v for k, v in new_status.items()
                      if v or k in ("ready", "terminating", "uncountedTerminatedPods")}
        if self.status != new_status:
            self.ctl.store.modify(self.ctl.jobs, meta(self.job)["namespace"],
                                  meta(self.job)["name"],
                                  lambda obj: obj.__setitem__("status", new_status),
                                  subresource="status")

    # counting ------------------------------------------------------------------------

    def _count(self) -> tuple[int, int, int, bool]:
        """Counts with the newly finished pods: succeeded, failed, new failures, new success."""
        tracking = self.tracking
        new_succeeded = new_failed = 0
        replace_on_failure_only = (self.spec.get("podReplacementPolicy") == "Failed"
                                   or bool(self.spec.get("podFailurePolicy")))
        for pod in self.pods:
            uid = str(meta(pod)["uid"])
            if uid in tracking.counted or uid in tracking.ignored:
                continue
            if _phase(pod) == "Succeeded":
                new_succeeded += 1
            elif _phase(pod) == "Failed" or (_terminating(pod) and not replace_on_failure_only):
                new_failed += 1
            else:
                continue
            self.newly_counted.add(uid)
        for uid, ok in tracking.vanished.items():
            if uid in self.newly_counted or uid in tracking.counted:
                continue
            self.newly_counted.add(uid)
            if ok:
                new_succeeded += 1
            else:
                new_failed += 1
        succeeded = int(self.status.get("succeeded", 0)) + new_succeeded
        failed = int(self.status.get("failed", 0)) + new_failed
        return succeeded, failed, new_failed, new_succeeded > 0

    def _succeeded_indexes(self) -> set[int]:
        completions = int(self.spec.get("completions") or 1)
        done = _parse_indexes(str(self.status.get("completedIndexes") or ""))
        done |= {i for p in self.pods if _phase(p) == "Succeeded"
                 for i in [_completion_index(p)] if i is not None}
        return {i for i in done if 0 <= i < completions}

    def _restarts_exceed(self, active: list[Obj], limit: int) -> bool:
        """restartPolicy OnFailure: container restarts count against the backoff limit."""
        template_spec = (self.spec.get("template") or {}).get("spec") or {}
        if template_spec.get("restartPolicy") != "OnFailure":
            return False
        restarts = sum(int(s.get("restartCount", 0)) for p in active
                       if _phase(p) in ("Running", "Pending")
                       for group in ("initContainerStatuses", "containerStatuses")
                       for s in (p.get("status") or {}).get(group) or [])
        return restarts > 0 if limit == 0 else restarts >= limit

    def _past_deadline(self, start_time: str | None, suspended: bool) -> bool:
        deadline = self.spec.get("activeDeadlineSeconds")
        if deadline is None or start_time is None or suspended:
            return False
        return self.moment - parse_time(start_time) >= timedelta(seconds=int(deadline))

    # acting --------------------------------------------------------------------------

    def _manage(self, active: list[Obj], succeeded: int, completed_indexes: set[int],
                start_time: str | None, suspended: bool) -> tuple[list[Obj], str | None]:
        """Suspend, resume, or create and delete pods; the active pods afterwards."""
        if suspended:
            for pod in active:
                self._delete(pod, ignore=True)
            if self._ensure_condition("Suspended", "True", "JobSuspended", "Job suspended"):
                self.ctl.recorder.record(self.job, "Normal", "Suspended", "Job suspended",
                                         component=self.ctl.name)
            return [], start_time
        if self._ensure_condition("Suspended", "False", "JobResumed", "Job resumed"):
            self.ctl.recorder.record(self.job, "Normal", "Resumed", "Job resumed",
                                     component=self.ctl.name)
            start_time = self.now  # activeDeadlineSeconds counts from the resume
        parallelism = int(self.spec.get("parallelism", 1))
        completions = self.spec.get("completions")
        if completions is None:
            wanted = len(active) if succeeded > 0 else parallelism
        else:
            wanted = max(min(int(completions) - succeeded, parallelism), 0)
        surplus: list[Obj] = []
        if self.indexed:
            active, surplus = _by_index(active, completed_indexes, int(completions or 1))
        if len(active) > wanted:
            ranked = sorted(active, key=_deletion_rank)
            surplus += ranked[: len(active) - wanted]
            active = ranked[len(active) - wanted:]
        for pod in surplus:
            self._delete(pod, ignore=True)
        missing = wanted - len(active)
        if missing > 0:
            wait = self._backoff_remaining()
            if wait > 0:
                self.recheck.append(wait)
            else:
                active = active + self._create(missing, active, completed_indexes)
        return active, start_time

    def _backoff_remaining(self) -> float:
        tracking = self.tracking
        if not tracking.failures_since_success or tracking.last_failure is None:
            return 0.0
        delay = min(self.ctl.failure_backoff * 2 ** (tracking.failures_since_success - 1),
                    self.ctl.max_failure_backoff)
        ends = tracking.last_failure + timedelta(seconds=delay)
        return max((ends - self.moment).total_seconds(), 0.0)

    def _create(self, count: int, active: list[Obj], completed_indexes: set[int]) -> list[Obj]:
        indexes: list[int | None] = [None] * count
        if self.indexed:
            taken = completed_indexes | {_completion_index(p) for p in active}
            pending = [i for i in range(int(self.spec.get("completions") or 1))
                       if i not in taken]
            indexes = list(pending[:count])
        created = []
        for index in indexes:
            pod = self._new_pod(index)
            made = self.ctl.store.create(self.ctl.pods, pod)
            self.ctl.recorder.record(self.job, "Normal", "SuccessfulCreate",
                                     f"Created pod: {meta(made)['name']}", component=self.ctl.name)
            created.append(made)
        return created

    def _new_pod(self, index: int | None) -> Obj:
        job_name = meta(self.job)["name"]
        pod = pod_from_template(self.spec.get("template") or {}, self.job)
        if index is None:
            pod["metadata"]["generateName"] = f"{job_name}-"
            return pod
        pod["metadata"]["generateName"] = f"{job_name}-{index}-"
        pod["metadata"]["labels"][COMPLETION_INDEX] = str(index)
        pod["metadata"].setdefault("annotations", {})[COMPLETION_INDEX] = str(index)
        spec = pod["spec"]
        spec.setdefault("hostname", f"{job_name}-{index}")
        for group in ("initContainers", "containers"):
            for container in spec.get(group) or []:
                env = container.setdefault("env", [])
                if not any(e.get("name") == "JOB_COMPLETION_INDEX" for e in env):
                    env.append({"name": "JOB_COMPLETION_INDEX", "valueFrom": {"fieldRef": {
                        "fieldPath": f"metadata.labels['{COMPLETION_INDEX}']"}}})
        return pod

    def _delete(self, pod: Obj, *, ignore: bool = False) -> None:
        """Delete a pod; `ignore`: this controller removes it (suspend, surplus), so it
        never counts as failed (the real one drops the tracking finalizer first)."""
        uid = str(meta(pod)["uid"])
        if ignore:
            self.tracking.ignored.add(uid)
        try:
            _, gone = self.ctl.store.delete(self.ctl.pods, meta(pod)["namespace"],
                                            meta(pod)["name"], preconditions={"uid": uid})
        except ApiError as error:
            if error.code not in (404, 409):
                raise
            return
        self.ctl.recorder.record(self.job, "Normal", "SuccessfulDelete",
                                 f"Deleted pod: {meta(pod)['name']}", component=self.ctl.name)
        if not gone:
            self.terminating += 1

    # conditions ----------------------------------------------------------------------

    def _condition(self, type_: str) -> tuple[str, str] | None:
        for condition in self.conditions:
            if condition.get("type") == type_ and condition.get("status") == "True":
                return str(condition.get("reason", "")), str(condition.get("message", ""))
        return None

    def _add_condition(self, type_: str, reason: str, message: str) -> None:
        self.conditions.append(_job_condition(type_, "True", reason, message, self.now))

    def _ensure_condition(self, type_: str, status: str, reason: str, message: str) -> bool:
        """Set a condition (ensureJobConditionStatus); a False one is only ever updated."""
        for i, condition in enumerate(self.conditions):
            if condition.get("type") == type_:
                if (condition.get("status"), condition.get("reason"),
                        condition.get("message")) == (status, reason, message):
                    return False
                self.conditions[i] = _job_condition(type_, status, reason, message, self.now)
                return True
        if status == "False":
            return False
        self.conditions.append(_job_condition(type_, status, reason, message, self.now))
        return True


def _job_condition(type_: str, status: str, reason: str, message: str,
                   now: str) -> dict[str, Any]:
    return {"type": type_, "status": status, "lastProbeTime": now,
            "lastTransitionTime": now, "reason": reason, "message": message}


def _phase(pod: Mapping[str, Any]) -> str:
    return str((pod.get("status") or {}).get("phase", ""))


def _terminating(pod: Mapping[str, Any]) -> bool:
    return bool(meta(pod).get("deletionTimestamp"))


def _completion_index(pod: Mapping[str, Any]) -> int | None:
    m = meta(pod)
    text = (m.get("annotations") or {}).get(COMPLETION_INDEX) or (
        m.get("labels") or {}).get(COMPLETION_INDEX)
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def _by_index(active: list[Obj], completed: set[int],
              completions: int) -> tuple[list[Obj], list[Obj]]:
    """Indexed jobs: one active pod per pending index; the duplicates and strays."""
    kept: dict[int, Obj] = {}
    surplus = []
    for pod in sorted(active, key=lambda p: str(meta(p).get("creationTimestamp", ""))):
        index = _completion_index(pod)
        if index is None or not 0 <= index < completions or index in completed or \
                index in kept:
            surplus.append(pod)
        else:
            kept[index] = pod
    return [kept[i] for i in sorted(kept)], surplus


def _deletion_rank(pod: Obj) -> tuple[int, str]:
    """Surplus pods to delete first: unscheduled, pending, not ready, then the newest."""
    if not (pod.get("spec") or {}).get("nodeName"):
        rank = 0
    elif _phase(pod) == "Pending":
        rank = 1
    elif not pod_ready(pod):
        rank = 2
    else:
        rank = 3
    created = str(meta(pod).get("creationTimestamp", ""))
    return rank, "".join(chr(255 - ord(ch)) for ch in created)


def _parse_indexes(text: str) -> set[int]:
    """`completedIndexes` ("0,2-4") as a set."""
    found: set[int] = set()
    for part in filter(None, text.split(",")):
        low, _, high = part.partition("-")
        try:
            found.update(range(int(low), int(high or low) + 1))
        except ValueError:
            continue
    return found


def _format_indexes(indexes: set[int]) -> str:
    """A set of indexes as `completedIndexes` shows it: "0,2-4"."""
    parts: list[str] = []
    ordered = sorted(indexes)
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        parts.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(parts)
