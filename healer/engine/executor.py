"""The executor: runs the actions the decision loop allowed, on a bounded thread pool.

One job is one step of one runbook on one target:

1. wait for the target's lock: one action per object at a time, whichever runbook;
2. `prepare` the action (reads only) and check `minHealthy` against the ready replicas
   of the workload it would touch; a refusal is recorded `suppressed` and the reservation
   in `History` is cancelled, so it counts against no limit;
3. write the intent (outcome `pending`) and wait until it is committed (write-ahead);
4. `apply` the action; record `executed` (or `failed`, with the reason) with the state
   before and after and the duration; `History.finished`.

A dry-run job runs 2 and 4 with the API's server-side dry run and records `dry-run`; it
writes no intent (nothing changes) and counts against no limit.

Shutdown (`stop`): queued jobs still run while the grace period lasts; after it, a job
that has not started is recorded `suppressed` (guard `shutdown`), and one still running
is recorded `unknown`: healer cannot tell whether its request reached the API.

Neighbours: the decision loop (`loop`) submits `Job`s; the actions (`healer.actions`)
do the work through the kube facade; the audit `Store` records it.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import structlog

from healer.actions.base import ActionRefused, ActionRequest, Plan
from healer.actions.registry import ActionType
from healer.audit.store import AuditError, Outcome, Record, Store
from healer.engine.guards import History, Refusal, Target, check_min_healthy
from healer.engine.match import render_target
from healer.errors import HealerError
from healer.kube import Kube, KubeError, ObjectRef
from healer.metrics import Metrics
from healer.runbook.model import Runbook
from healer.runbook.templates import TemplateContext
from healer.signals import Signal

__all__ = ["Executor", "Job", "decision_record"]

log = structlog.get_logger(__name__)


@dataclass
class _TargetLock:
    lock: threading.Lock = field(default_factory=threading.Lock)
    users: int = 0


@dataclass(frozen=True)
class Job:
    action_id: str
    runbook: Runbook
    signal: Signal
    target: Target  # the runbook's target, as the guards saw it
    action: ActionType
    dry_run: str  # why the action is only dry-run (the mode guard); "" to act


class Executor:
    def __init__(self, kube: Kube, store: Store, metrics: Metrics, history: History,
                 lock: threading.Lock, *, workers: int, protected: frozenset[str],
                 clock: Callable[[], datetime], forget: Callable[[Job], None]) -> None:
        self._kube = kube
        self._forget = forget  # the engine's: this job's incident was not acted on
        self._store = store
        self._metrics = metrics
        self._history = history
        self._lock = lock  # the engine's lock over `history`
        self._protected = protected
        self._clock = clock
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="action")
        self._targets: dict[Target, _TargetLock] = {}  # only targets in use
        self._targets_lock = threading.Lock()
        self._futures: dict[Future[None], Job] = {}
        self._open: dict[str, Record] = {}  # intents written, outcome not yet recorded
        self._abandoned: set[str] = set()  # intents shutdown recorded `unknown`
        self._state = threading.Lock()  # over _futures, _open and _abandoned
        self._abandon = threading.Event()

    def submit(self, job: Job) -> None:
        future = self._pool.submit(self._run, job)
        with self._state:
            self._futures[future] = job
        self._metrics.in_flight.inc()
        future.add_done_callback(self._done)

    def _done(self, future: Future[None]) -> None:
        with self._state:
            self._futures.pop(future, None)
        self._metrics.in_flight.dec()

    def idle(self) -> bool:
        with self._state:
            return not self._futures

    def stop(self, grace: float) -> None:
        """Let jobs finish for `grace` seconds, then abandon the rest (see the module)."""
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and not self.idle():
            time.sleep(0.02)
        self._abandon.set()  # a job still preparing stops before its intent
        with self._state:
            queued = [job for future, job in self._futures.items() if future.cancel()]
            running = list(self._open.values())
            self._open.clear()
            self._abandoned.update(intent.action_id for intent in running)
        self._pool.shutdown(wait=False)
        for job in queued:
            self._refused(job, job.target, Refusal(
                "shutdown", "healer stopped before this action ran; nothing was changed"))
        self._store.append([_abandoned(intent, self._clock()) for intent in running])
        for intent in running:
            self._metrics.actions.labels(intent.action, Outcome.UNKNOWN.value).inc()
            log.warning("action_abandoned", runbook=intent.runbook, action=intent.action,
                        target=intent.target)

    # one job ----------------------------------------------------------------------------

    def _run(self, job: Job) -> None:
        try:
            with self._one_at_a_time(job.target):
                self._execute(job)
        except Exception as error:  # a bug in one action must not kill the worker
            log.exception("action_crashed", runbook=job.runbook.name)
            self._finish(job, job.target, Outcome.FAILED, reason=f"internal error: {error!r}")

    @contextlib.contextmanager
    def _one_at_a_time(self, target: Target) -> Iterator[None]:
        """Hold the target's lock; the lock exists only while some job wants it."""
        with self._targets_lock:
            entry = self._targets.setdefault(target, _TargetLock())
            entry.users += 1
        try:
            with entry.lock:
                yield
        finally:
            with self._targets_lock:
                entry.users -= 1
                if not entry.users:
                    del self._targets[target]

    def _execute(self, job: Job) -> None:
        assert job.action.prepare is not None  # the loop hands over available actions only
        acted_on = job.target
        try:
            step_target = self._step_target(job)
            if isinstance(step_target, Refusal):
                self._refused(job, step_target.target or job.target, step_target)
                return
            acted_on = step_target
            ref = ObjectRef(acted_on.kind, acted_on.name, acted_on.namespace or None)
            plan = job.action.prepare(ActionRequest(self._kube, ref, job.runbook.steps[0].params,
                                                    self._clock()))
            refusal = self._min_healthy(job.runbook, plan)
        except ActionRefused as refused:
            self._refused(job, acted_on, Refusal(refused.guard, refused.reason))
            return
        except KubeError as error:
            self._finish(job, acted_on, Outcome.FAILED, reason=f"could not read: {error}",
                         error=str(error))
            return
        if refusal is not None:
            self._refused(job, acted_on, refusal)
            return
        if job.dry_run:
            self._apply(job, acted_on, plan)
            return
        if self._abandon.is_set():
            self._refused(job, acted_on, Refusal(
                "shutdown", "healer stopped before this action ran; nothing was changed"))
            return
        intent = self._record(job, acted_on, Outcome.PENDING, reason=plan.change,
                              before=plan.before)
        try:
            self._store.append(intent, wait=True)
        except AuditError as error:  # never act without the intent on disk
            self._finish(job, acted_on, Outcome.FAILED, error=str(error),
                         reason=f"not done: the intent could not be recorded ({error})")
            return
        with self._state:
            self._open[job.action_id] = intent
        self._apply(job, acted_on, plan)

    def _step_target(self, job: Job) -> Target | Refusal:
        """The object the first step acts on: the runbook's target, or the step's own
        (which may name the target's controller: `{{ owner.name }}`)."""
        ref = job.runbook.steps[0].target
        if ref is None:
            return job.target
        owner_kind = owner_name = None
        if job.target.kind == "Pod":
            owner = self._kube.owner_of(ObjectRef("Pod", job.target.name, job.target.namespace))
            if owner is not None:
                owner_kind, owner_name = owner.kind, owner.name
        context = TemplateContext(labels=job.signal.labels, annotations=job.signal.annotations,
                                  owner_kind=owner_kind, owner_name=owner_name)
        return render_target(ref, context, job.runbook, self._protected)

    def _min_healthy(self, runbook: Runbook, plan: Plan) -> Refusal | None:
        if runbook.guards.min_healthy is None or plan.workload is None:
            return None
        return check_min_healthy(runbook, plan.workload, self._kube.replicas(plan.workload))

    def _apply(self, job: Job, acted_on: Target, plan: Plan) -> None:
        started = time.monotonic()
        try:
            after = plan.apply(bool(job.dry_run))
        except (KubeError, HealerError) as error:
            self._finish(job, acted_on, Outcome.FAILED, reason=f"{plan.change}: {error}",
                         before=plan.before, error=str(error),
                         duration=time.monotonic() - started)
            return
        if job.dry_run:
            self._finish(job, acted_on, Outcome.DRY_RUN, guard="mode",
                         reason=f"dry run, not done: {plan.change}; {job.dry_run}",
                         before=plan.before,
                         after=after, duration=time.monotonic() - started)
            return
        self._finish(job, acted_on, Outcome.EXECUTED, reason=plan.change, before=plan.before,
                     after=after, duration=time.monotonic() - started)

    def _refused(self, job: Job, acted_on: Target, refusal: Refusal) -> None:
        self._finish(job, acted_on, Outcome.SUPPRESSED, guard=refusal.guard,
                     reason=refusal.reason)

    def _finish(self, job: Job, acted_on: Target, outcome: Outcome, *, reason: str,
                guard: str = "", before: Mapping[str, Any] | None = None,
                after: Mapping[str, Any] | None = None, error: str = "",
                duration: float | None = None) -> None:
        """Record the outcome (unless shutdown already recorded the action `unknown`) and
        release the job's place in `History`: finished if it ran, cancelled if not."""
        with self._state:
            intent = self._open.pop(job.action_id, None)
            abandoned = job.action_id in self._abandoned
        if not abandoned:
            record = self._record(job, acted_on, outcome, reason=reason, guard=guard,
                                  before=before, after=after, error=error,
                                  duration_ms=None if duration is None else duration * 1000)
            try:
                self._store.append(record)
            except AuditError as failure:
                log.error("outcome_not_recorded", error=str(failure))  # noqa: TRY400
        acted = intent is not None or abandoned
        with self._lock:
            if acted:
                self._history.finished(job.action_id)
            else:
                self._history.cancel(job.action_id)
        if not acted and outcome is not Outcome.DRY_RUN:
            self._forget(job)
        verdict = ("allowed" if acted else guard if outcome is Outcome.SUPPRESSED
                   else outcome.value)  # dry-run, or failed (a read failed before acting)
        self._metrics.decisions.labels(verdict).inc()
        self._metrics.actions.labels(job.action.name, outcome.value).inc()
        if duration is not None:
            self._metrics.action_seconds.labels(job.action.name).observe(duration)
        log.info("action_outcome", runbook=job.runbook.name, action=job.action.name,
                 target=str(acted_on), outcome=outcome.value, reason=reason)

    def _record(self, job: Job, acted_on: Target, outcome: Outcome, **fields: Any) -> Record:
        return decision_record(job.runbook, job.signal, acted_on, outcome, self._clock(),
                               action_id=job.action_id, **fields)


def decision_record(runbook: Runbook, signal: Signal, target: Target, outcome: Outcome,
                    moment: datetime, **fields: Any) -> Record:
    """An audit record of a decision about `signal` for `runbook`'s first step."""
    return Record(
        time=moment, runbook=runbook.name, revision=runbook.revision, outcome=outcome,
        source=signal.source, alertname=signal.alertname, fingerprint=signal.fingerprint,
        starts_at=signal.starts_at, labels=signal.labels, step=1,
        action=runbook.steps[0].action, target_kind=target.kind,
        target_namespace=target.namespace, target_name=target.name, **fields)


def _abandoned(intent: Record, now: datetime) -> Record:
    return replace(intent, id=None, time=now, outcome=Outcome.UNKNOWN, reason=(
        "abandoned: healer stopped while this action ran; check the target: the action may "
        "or may not have taken effect"))
