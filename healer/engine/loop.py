"""The decision loop: every signal meets the runbooks here, one at a time.

    server ──submit(signals)──► intake (bounded: when full, submit says no and the
        │                       webhook answers 503, so Alertmanager retries later)
        ▼  the decision thread (exactly one; no network I/O, only audit appends)
    for each signal
      resolved?               never acts; the incident ends
      RunbookIndex.matching   candidate runbooks by alertname, then their matchers
      for each runbook, independently, the first refusal wins:
        scope                 the rendered target: a valid name, not protected, in scope
        repeat                Alertmanager re-sent an alert (same fingerprint and
                              startsAt) this runbook already acted on
        action available      a registered action not implemented yet: `failed`
        mode                  dry-run (the daemon's or the runbook's): the executor
                              dry-runs the action server-side, nothing counts
        maxConcurrent, cooldown, rateLimit   over `History`, rebuilt from the audit
                              store at start-up, so a restart never resets a limit
        allowed               reserved in `History`, handed to the executor
    refusals ──► `Aggregator` (per runbook, target, guard; counts add up to every alert)
             ──► audit store (batched by its writer thread)
        │ allowed / dry-run
        ▼
    `Executor` (a pool; one action per target): prepare (reads) → minHealthy → intent
    (write-ahead, committed) → apply → outcome → `History.finished`

Neighbours: `match` and `guards` (pure), `executor` (the actions), the audit `Store`,
`Metrics`; the server calls `submit`, the daemon `start` and `stop`.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import structlog

from healer.actions.registry import ActionRegistry
from healer.audit.store import AuditError, Outcome, Record, Store, new_action_id
from healer.engine.executor import Executor, Job, decision_record
from healer.engine.guards import (
    History,
    Refusal,
    Target,
    check_concurrency,
    check_cooldown,
    check_rate_limit,
)
from healer.engine.match import RunbookIndex, render_target
from healer.kube import Kube
from healer.metrics import Metrics
from healer.runbook.model import Mode, Runbook
from healer.runbook.templates import TemplateContext
from healer.signals import Signal

__all__ = ["Aggregator", "Engine"]

log = structlog.get_logger(__name__)

AGGREGATE_SECONDS = 1.0  # refusals of one (runbook, target, guard) share a record this long
REMEMBERED_INCIDENTS = 100_000  # (runbook, fingerprint, startsAt) acted on, kept for `repeat`
REPEAT_MEMORY = timedelta(days=7)  # how far back a restart looks for incidents acted on


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class _Aggregate:
    build: Callable[[], Record]  # the first decision's record
    reason: str
    time: datetime
    count: int = 1


class Aggregator:
    """Refusals with one key (runbook, target — or the alert's fingerprint when no target
    could be rendered —, outcome, guard) within a window, as one record whose `count`
    says how many decisions it stands for: the first decision's signal, the latest reason
    and time. A record is built once per key, not once per refusal."""

    def __init__(self) -> None:
        self._open: dict[tuple[object, ...], _Aggregate] = {}
        self.since: float | None = None  # monotonic time of the oldest open record

    def add(self, key: tuple[object, ...], reason: str, moment: datetime,
            build: Callable[[], Record]) -> None:
        found = self._open.get(key)
        if found is None:
            self._open[key] = _Aggregate(build, reason, moment)
            if self.since is None:
                self.since = time.monotonic()
        else:
            found.count += 1
            found.reason = reason
            found.time = moment

    def take(self) -> list[Record]:
        records = [replace(a.build(), reason=a.reason, time=a.time, count=a.count)
                   for a in self._open.values()]
        self._open.clear()
        self.since = None
        return records


class Engine:
    """The decision loop and the executor it feeds; `start`, `submit`, `stop`."""

    def __init__(self, runbooks: Sequence[Runbook], store: Store, kube: Kube,
                 registry: ActionRegistry, metrics: Metrics, *, mode: Mode,
                 protected: Iterable[str], queue_size: int = 10_000, workers: int = 8,
                 clock: Callable[[], datetime] = _now) -> None:
        self.runbooks = tuple(runbooks)
        self._index = RunbookIndex(self.runbooks)
        self._store = store
        self._registry = registry
        self._metrics = metrics
        self._mode = mode
        self._protected = frozenset(protected)
        self._clock = clock
        self._queue_size = queue_size
        self._history = History()
        self._lock = threading.Lock()  # over _history and _acted (loop and executor)
        self._executor = Executor(kube, store, metrics, self._history, self._lock,
                                  workers=workers, protected=self._protected, clock=clock,
                                  forget=self.forget)
        self._window = timedelta(seconds=max(
            [max(r.guards.cooldown_seconds, r.guards.rate_limit.per_seconds)
             for r in self.runbooks] or [0.0]))
        self._intake: deque[Sequence[Signal]] = deque()
        self._waiting = 0  # signals in the intake
        self._deciding = 0  # signals taken from the intake, not yet decided
        self._cond = threading.Condition()
        self._closed = False
        self._aggregator = Aggregator()
        self._acted: OrderedDict[tuple[str, str, str], None] = OrderedDict()
        self._thread = threading.Thread(target=self._run, name="decision-loop", daemon=True)
        self._verdicts = {name: metrics.decisions.labels(name) for name in (
            "resolved", "unmatched")}
        self._received = metrics.signals.labels("alertmanager")

    # lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        """Close dangling intents as `unknown`, rebuild guard state, start deciding."""
        now = self._clock()
        unknown = self._store.recover(now)
        if unknown:
            log.warning("intents_recovered_unknown", count=len(unknown))
        for record in unknown:
            self._metrics.actions.labels(record.action, Outcome.UNKNOWN.value).inc()
        records = self._store.actions_since(now - max(self._window, REPEAT_MEMORY))
        self._history.replay(records)
        for record in records:  # incidents acted on stay repeats across a restart
            if record.outcome in (Outcome.PENDING, Outcome.DRY_RUN) and record.starts_at:
                self._remember((record.runbook, record.fingerprint, record.starts_at))
        self._thread.start()

    def submit(self, signals: Sequence[Signal]) -> bool:
        """Queue signals for a decision; False (nothing queued) when the intake is full
        or closed."""
        with self._cond:
            if self._closed or self._waiting + len(signals) > self._queue_size:
                return False
            self._intake.append(signals)
            self._waiting += len(signals)
            self._metrics.queue_depth.set(self._waiting)
            self._cond.notify()
        self._received.inc(len(signals))
        return True

    @property
    def ready(self) -> bool:
        return self._thread.is_alive() and not self._closed

    def idle(self) -> bool:
        """Nothing waiting, being decided or running (for the demo and tests)."""
        with self._cond:
            quiet = not self._waiting and not self._deciding
        return quiet and self._aggregator.since is None and self._executor.idle()

    def stop(self, grace: float) -> None:
        """Stop intake, decide what is queued, give running actions `grace` seconds to
        end (then record them abandoned), and flush the audit store."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        if self._thread.is_alive():
            self._thread.join()
        self._executor.stop(grace)
        self._store.flush()

    # the loop ---------------------------------------------------------------------------

    def _run(self) -> None:
        last_forget = time.monotonic()
        while True:
            with self._cond:
                while not self._intake and not self._closed:
                    timeout = None
                    if self._aggregator.since is not None:
                        timeout = max(0.0, self._aggregator.since + AGGREGATE_SECONDS
                                      - time.monotonic())
                    if not self._cond.wait(timeout):
                        break
                batches = list(self._intake)
                self._intake.clear()
                self._deciding = self._waiting
                self._waiting = 0
                self._metrics.queue_depth.set(0)
                closed = self._closed
            for signals in batches:
                self._decide_all(signals)
            self._flush(force=not batches or closed)
            with self._cond:
                self._deciding = 0
            if time.monotonic() - last_forget > 60:
                with self._lock:
                    self._history.forget_before(self._clock() - self._window)
                last_forget = time.monotonic()
            if closed and not batches:
                self._flush(force=True)
                return

    def _flush(self, *, force: bool) -> None:
        since = self._aggregator.since
        if since is not None and (force or time.monotonic() - since >= AGGREGATE_SECONDS):
            try:
                self._store.append(self._aggregator.take())
            except AuditError as error:  # /readyz says so; no action runs without a store
                log.error("decisions_not_recorded", error=str(error))  # noqa: TRY400

    def _decide_all(self, signals: Sequence[Signal]) -> None:
        now = self._clock()
        for signal in signals:
            if signal.status == "resolved":  # the next firing has a new startsAt
                self._verdicts["resolved"].inc()
                continue
            try:
                runbooks = self._index.matching(signal.labels)
                if not runbooks:
                    self._verdicts["unmatched"].inc()
                    continue
                context = TemplateContext(labels=signal.labels, annotations=signal.annotations)
                for runbook in runbooks:
                    self._decide(runbook, signal, context, now)
            except Exception:  # a bug deciding one alert must not stop every later one
                log.exception("decision_failed", fingerprint=signal.fingerprint)

    def _decide(self, runbook: Runbook, signal: Signal, context: TemplateContext,
                now: datetime) -> None:
        rendered = render_target(runbook.target, context, runbook, self._protected)
        if isinstance(rendered, Refusal):
            self._refuse(runbook, signal, rendered.target, rendered, now)
            return
        target = rendered
        step = runbook.steps[0]
        action = self._registry.get(step.action)
        dry_run = ""  # why not to touch the cluster, if so
        if self._mode is Mode.DRY_RUN:
            dry_run = "healer runs in dry-run mode (mode: enforce to act)"
        elif runbook.mode is Mode.DRY_RUN:
            dry_run = "this runbook's mode is dry-run"
        with self._lock:
            incident = (runbook.name, signal.fingerprint, signal.starts_at)
            if incident in self._acted:
                self._refuse(runbook, signal, target, Refusal(
                    "repeat", f"Alertmanager re-sent an alert this runbook already acted on "
                    f"(fingerprint {signal.fingerprint}, firing since {signal.starts_at}); "
                    "a re-sent alert is the same incident"), now)
                return
            if action is None or action.prepare is None:
                self._refuse(runbook, signal, target, Refusal(
                    "action", f"action not available: {step.action} arrives in a later "
                    "release; this step did not run"), now, outcome=Outcome.FAILED)
                return
            refusal = None if dry_run else (
                check_concurrency(runbook, target, self._history)
                or check_cooldown(runbook, target, self._history, now)
                or check_rate_limit(runbook, target, self._history, now))
            if refusal is not None:
                self._refuse(runbook, signal, target, refusal, now)
                return
            action_id = new_action_id()
            if not dry_run:
                self._history.started(action_id, runbook.name, target, now)
            self._remember(incident)
        self._executor.submit(Job(action_id=action_id, runbook=runbook, signal=signal,
                                  target=target, action=action, dry_run=dry_run))

    def _refuse(self, runbook: Runbook, signal: Signal, target: Target | None,
                refusal: Refusal, now: datetime, *,
                outcome: Outcome = Outcome.SUPPRESSED) -> None:
        self._metrics.decisions.labels(refusal.guard).inc()
        key = (runbook.name, target or signal.fingerprint, outcome, refusal.guard)
        acted_on = target or Target(runbook.target.kind, "", "")  # (not rendered)
        self._aggregator.add(key, refusal.reason, now, lambda: decision_record(
            runbook, signal, acted_on, outcome, now, guard=refusal.guard))

    def forget(self, job: Job) -> None:
        """The executor refused `job` before acting: a re-sent alert of its incident is
        not a repeat, and decides again."""
        with self._lock:
            self._acted.pop((job.runbook.name, job.signal.fingerprint, job.signal.starts_at),
                            None)

    def _remember(self, incident: tuple[str, str, str]) -> None:
        """Called with the lock held; the oldest incident goes past `REMEMBERED_INCIDENTS`."""
        self._acted[incident] = None
        if len(self._acted) > REMEMBERED_INCIDENTS:
            self._acted.popitem(last=False)
