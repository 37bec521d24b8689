"""The daemon: `healer run` puts the parts together, starts them in order and stops them
in reverse.

Start-up: load every runbook (one bad runbook stops start-up: healer never runs with
half its runbooks), open the audit store, connect to the Kubernetes API, start the
engine (which closes dangling intents and rebuilds guard state from the store), then
serve HTTP. Anything wrong before serving is a `ConfigError`: `healer run` exits 2.

Shutdown (SIGTERM, as Kubernetes sends it, or SIGINT): stop taking connections, decide
what is queued, give running actions `SHUTDOWN_GRACE` seconds, record the rest abandoned,
close the store. It fits in the pod's default 30 s terminationGracePeriodSeconds.

Neighbours: `config` (what to run with), `engine`, `server`, the audit `Store`, the kube
facade; `cli` and `demo` call it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable

import structlog

from healer.actions.catalog import default_registry
from healer.audit.store import AuditError, Store
from healer.config import Config
from healer.engine.loop import Engine
from healer.errors import ConfigError, RunbookErrors
from healer.kube import Kube, KubeError
from healer.metrics import Metrics
from healer.runbook.loader import load_runbooks
from healer.runbook.model import Runbook
from healer.server import HttpServer, WebApp

__all__ = ["SHUTDOWN_GRACE", "Daemon", "not_in_effect"]

log = structlog.get_logger(__name__)

SHUTDOWN_GRACE = 20.0  # seconds running actions get to finish at shutdown
PROBE_INTERVAL = 5.0  # seconds between checks that the Kubernetes API answers


class Daemon:
    """healer, running: `start()`, then `stop()` (or `serve_until(event)`)."""

    def __init__(self, config: Config) -> None:
        self.config = config
        registry = default_registry()
        try:
            runbooks = load_runbooks([config.runbooks], registry)
        except RunbookErrors as errors:
            raise ConfigError(f"runbooks in {config.runbooks}:\n{errors}") from None
        _check_notifiers(runbooks, config)
        self.not_in_effect = {r.name: found for r in runbooks if (found := not_in_effect(r))}
        try:
            config.audit_db.parent.mkdir(parents=True, exist_ok=True)
            self.store = Store(config.audit_db)
        except (AuditError, OSError) as error:
            raise ConfigError(f"audit store {config.audit_db}: {error}") from None
        try:
            self.kube = Kube.connect(config.kubeconfig, pool_size=config.workers + 2)
        except ConfigError:
            self.store.close()
            raise
        self.metrics = Metrics()
        self.engine = Engine(
            runbooks, self.store, self.kube, registry, self.metrics, mode=config.mode,
            protected=config.protected_namespaces, queue_size=config.queue_size,
            workers=config.workers)
        self._api_problem: str | None = "not checked yet"
        self._stopping = threading.Event()
        app = WebApp(self.engine.submit, self.metrics, max_body_bytes=config.max_body_bytes,
                     checks={"runbooks": self._runbooks_problem,
                             "audit": self._audit_problem,
                             "kubernetes": lambda: self._api_problem})
        host, port = config.listen
        try:
            self.http = HttpServer(app, host, port, max_body_bytes=config.max_body_bytes,
                                   threads=max(4, config.workers))
        except OSError as error:  # in use, not an address of this host, no permission
            self.store.close()
            self.kube.close()
            raise ConfigError(f"cannot listen on {host}:{port}: {error.strerror or error}"
                              ) from None

    @property
    def address(self) -> tuple[str, int]:
        return self.http.address

    def start(self) -> None:
        self.engine.start()
        threading.Thread(target=self._probe, name="kube-probe", daemon=True).start()
        self.http.start()
        host, port = self.address
        log.info("healer_started", listen=f"{host}:{port}", mode=self.config.mode.value,
                 runbooks=len(self.engine.runbooks), audit_db=str(self.config.audit_db))
        for name, parts in self.not_in_effect.items():
            log.warning("runbook_not_fully_in_effect", runbook=name, parts=parts)
        if not self.config.protected_namespaces:
            log.warning("no_protected_namespaces", hint="protectedNamespaces is empty: "
                        "runbooks may act in kube-system unless their scope excludes it")

    def serve_until(self, stop: threading.Event) -> None:
        self.start()
        stop.wait()
        self.stop()

    def stop(self, grace: float = SHUTDOWN_GRACE) -> None:
        log.info("healer_stopping", grace_seconds=grace)
        self._stopping.set()
        self.http.stop()
        self.engine.stop(grace)
        self.store.close()
        self.kube.close()
        log.info("healer_stopped")

    def _runbooks_problem(self) -> str | None:
        if not self.engine.ready:
            return "the decision loop is not running"
        return None

    def _audit_problem(self) -> str | None:
        return self.store.failure

    def _probe(self) -> None:
        while not self._stopping.is_set():
            started = time.monotonic()
            try:
                self.kube.version()
            except KubeError as error:
                if self._api_problem is None:
                    log.warning("kube_unreachable", error=str(error))
                self._api_problem = f"the Kubernetes API does not answer: {error}"
            else:
                self._api_problem = None
            self._stopping.wait(max(0.0, PROBE_INTERVAL - (time.monotonic() - started)))



def _check_notifiers(runbooks: Iterable[Runbook], config: Config) -> None:
    """Every notifier a runbook names is configured: a typo must fail at start-up, not
    stay silent at 3 a.m."""
    known = {n.name for n in config.notifiers}
    problems = [
        (f"{runbook.source.path}:{runbook.source.line}: " if runbook.source else "")
        + f"runbook {runbook.name} notifies {name!r}, which is not configured "
        f"(notifiers: {', '.join(sorted(known)) or 'none'})"
        for runbook in runbooks for name in runbook.notify if name not in known]
    if problems:
        raise ConfigError("\n".join(problems))


def not_in_effect(runbook: Runbook) -> list[str]:
    """What a valid runbook asks for that this healer does not carry out yet, in words
    for the start-up log: never silently ignored. Every guard is in effect."""
    parts = []
    if runbook.trigger.alert is None:
        kind = "PromQL" if runbook.trigger.promql is not None else "Kubernetes-watch"
        parts.append(f"its {kind} trigger is not polled yet: the runbook never fires")
    if len(runbook.steps) > 1:
        later = "step 2" if len(runbook.steps) == 2 else f"steps 2-{len(runbook.steps)}"
        parts.append(f"only step 1 runs; {later} (escalation) waits for verification")
    if runbook.verify is not None:
        parts.append("verify is not carried out yet")
    if runbook.notify:
        parts.append(f"nothing is sent to notify ({', '.join(runbook.notify)}) yet")
    return parts
