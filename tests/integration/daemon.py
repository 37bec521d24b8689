"""`healer run` as a real process, for the daemon's end-to-end tests (test_daemon_*.py).

- `Healers(kubeconfig, workdir)`: starts daemons (`start`) and runs `healer run` to its
  end (`run`, for start-up errors); every daemon still running is stopped on `close`.
  Each daemon gets its own runbook directory and (unless given one) its own audit db.
- `Healer`: one running daemon: its URL (read from the `healer_started` log line, as
  `--listen 127.0.0.1:0` picks the port), `post`/`send`/`get` over real HTTP, its
  metrics, its JSON log, `stop` (SIGTERM) and `kill` (SIGKILL).
- `alert`, `webhook`: Alertmanager version 4 payloads; `runbook`: a runbook document.
- `records`, `decisions`, `cli_records`: the audit trail, through `Store.query` or the
  `healer audit` process.
- `make_deployment`, `make_statefulset`, `running_pods`, `settled_pods`: the workloads
  the alerts are about.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import urllib3
import yaml
from kubernetes import client
from prometheus_client.parser import text_string_to_metric_families

from healer.audit.store import Outcome, Record, Store
from healer.signals import labels_fingerprint

HEALER = [sys.executable, "-m", "healer.cli"]
START_TIMEOUT = 30.0  # seconds for `healer run` to log healer_started
STOP_TIMEOUT = 30.0  # seconds for a SIGTERM'd daemon to exit (its grace period is 20 s)
GO_ZERO_TIME = "0001-01-01T00:00:00Z"  # Alertmanager's endsAt of a firing alert


# payloads ---------------------------------------------------------------------------------


def alert(alertname: str, *, status: str = "firing", starts_at: str | None = None,
          fingerprint: str | None = None, annotations: Mapping[str, str] | None = None,
          **labels: str) -> dict[str, Any]:
    """One alert as Alertmanager sends it; the fingerprint defaults to Alertmanager's hash
    of the labels, startsAt to a fixed moment (so that sending it again is a re-send)."""
    every = {"alertname": alertname, **labels}
    return {
        "status": status, "labels": every, "annotations": dict(annotations or {}),
        "startsAt": starts_at or "2030-01-02T03:04:05.123456789Z",
        "endsAt": GO_ZERO_TIME if status == "firing" else "2030-01-02T04:00:00Z",
        "generatorURL": "http://prometheus:9090/graph",
        "fingerprint": fingerprint or labels_fingerprint(every),
    }


def webhook(alerts: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """An Alertmanager webhook (version 4) carrying `alerts`."""
    firing = any(a["status"] == "firing" for a in alerts)
    return {"version": "4", "groupKey": "{}:{}", "truncatedAlerts": 0,
            "status": "firing" if firing else "resolved", "receiver": "healer",
            "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
            "externalURL": "http://alertmanager:9093", "alerts": list(alerts)}


def runbook(name: str, *, alertname: str, target: Mapping[str, str], action: str,
            params: Mapping[str, Any] | None = None, guards: Mapping[str, Any] | None = None,
            mode: str | None = None, scope: Sequence[str] | None = None) -> dict[str, Any]:
    """A runbook document answering alerts named `alertname` with one step."""
    spec: dict[str, Any] = {
        "description": f"{action} for {alertname}, written by an integration test.",
        "trigger": {"alert": {"name": alertname}},
        "target": dict(target),
        "steps": [{"action": action, **({"params": dict(params)} if params else {})}],
    }
    if guards is not None:
        spec["guards"] = dict(guards)
    if mode is not None:
        spec["mode"] = mode
    if scope is not None:
        spec["scope"] = {"namespaces": list(scope)}
    return {"apiVersion": "healer/v1", "kind": "Runbook", "metadata": {"name": name},
            "spec": spec}


POD_TARGET = {"kind": "Pod", "namespace": "{{ labels.namespace }}", "name": "{{ labels.pod }}"}
DEPLOYMENT_TARGET = {"kind": "Deployment", "namespace": "{{ labels.namespace }}",
                     "name": "{{ labels.deployment }}"}


# the cluster ------------------------------------------------------------------------------

PAUSE = "registry.k8s.io/pause:3.10"


def make_deployment(apps: client.AppsV1Api, namespace: str, name: str,
                    replicas: int = 2) -> None:
    apps.create_namespaced_deployment(namespace, {
        "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "app", "image": PAUSE}]}}}})


def make_statefulset(apps: client.AppsV1Api, namespace: str, name: str,
                     replicas: int = 1) -> None:
    """A StatefulSet: its pods are `<name>-0` ..., and a deleted one comes back under the
    same name (with a new uid)."""
    apps.create_namespaced_stateful_set(namespace, {
        "metadata": {"name": name},
        "spec": {"replicas": replicas, "serviceName": name,
                 "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "app", "image": PAUSE}]}}}})


def running_pods(core: client.CoreV1Api, namespace: str, app: str | None = None
                 ) -> dict[str, str]:
    """The pods running and not being deleted, name: uid."""
    pods = core.list_namespaced_pod(namespace, label_selector=f"app={app}" if app else None)
    return {p.metadata.name: p.metadata.uid for p in pods.items
            if p.status.phase == "Running" and p.metadata.deletion_timestamp is None}


def settled_pods(core: client.CoreV1Api, namespace: str, count: int, app: str | None = None,
                 gone: Iterable[str] = ()) -> dict[str, str]:
    """The running pods (name: uid) when there are `count` and none is named in `gone`;
    else {}, for `wait`."""
    pods = running_pods(core, namespace, app)
    return pods if len(pods) == count and not set(gone) & set(pods) else {}


# the audit trail --------------------------------------------------------------------------


def records(db: Path, **query: Any) -> list[Record]:
    """The audit records of `db` matching `query` (`Store.query`'s filters), newest first."""
    store = Store(db)
    try:
        return store.query(**query)
    finally:
        store.close()


def decisions(found: Sequence[Record]) -> int:
    """How many decisions `found` stands for: every record but an intent (whose outcome
    is a record of its own), each as many times as its `count`."""
    return sum(r.count for r in found if r.outcome is not Outcome.PENDING)


def cli_records(db: Path, *args: str) -> list[dict[str, Any]]:
    """`healer audit --db DB --output json ARGS` as a process: one object per record."""
    done = subprocess.run([*HEALER, "audit", "--db", str(db), "--output", "json", *args],
                          capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


# one daemon -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any  # the JSON answer, or the text of one that is not JSON
    seconds: float  # from sending the request to reading the answer


@dataclass
class Healer:
    """A `healer run` process and the ways to talk to it."""

    process: subprocess.Popen[bytes]
    url: str
    audit_db: Path
    log_path: Path
    http: urllib3.PoolManager = field(default_factory=lambda: urllib3.PoolManager(
        maxsize=16, retries=False, timeout=urllib3.Timeout(connect=5, read=30)))

    def post(self, body: bytes | Mapping[str, Any], content_type: str = "application/json",
             path: str = "/api/v1/alerts") -> Answer:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        return self._request("POST", path, data, {"Content-Type": content_type})

    def send(self, *alerts: Mapping[str, Any]) -> Answer:
        """POST one webhook with `alerts`; the answer must be 200 (queued)."""
        answer = self.post(webhook(alerts))
        assert answer.status == 200, answer
        return answer

    def get(self, path: str) -> Answer:
        return self._request("GET", path, None, {})

    def _request(self, method: str, path: str, data: bytes | None,
                 headers: Mapping[str, str]) -> Answer:
        started = time.monotonic()
        response = self.http.request(method, self.url + path, body=data, headers=headers)
        text = response.data.decode()
        try:
            body = json.loads(text)
        except json.JSONDecodeError:
            body = text
        return Answer(response.status, body, time.monotonic() - started)

    def metrics(self) -> dict[str, float]:
        """Every sample of /metrics, by name and labels: `name{a="x",b="y"}` (sorted)."""
        answer = self.get("/metrics")
        assert answer.status == 200, answer
        samples = {}
        for family in text_string_to_metric_families(answer.body):
            for sample in family.samples:
                labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
                samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
        return samples

    def log(self) -> list[dict[str, Any]]:
        """The daemon's JSON log lines so far (others, a traceback say, as {"text": ...})."""
        lines = []
        for line in self.log_path.read_text().splitlines():
            try:
                lines.append(json.loads(line))
            except json.JSONDecodeError:
                lines.append({"text": line})
        return lines

    def events(self, name: str) -> list[dict[str, Any]]:
        return [line for line in self.log() if line.get("event") == name]

    def stop(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM, as Kubernetes stops a pod; the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def kill(self) -> int:
        """SIGKILL: a crash, as far as healer can tell; the exit code."""
        if self.process.poll() is None:
            self.process.kill()
        return self.process.wait(STOP_TIMEOUT)


class Healers:
    """Starts `healer run` processes against the cluster under test; `close` stops what
    still runs (SIGTERM, then SIGKILL if it does not exit)."""

    def __init__(self, kubeconfig: Path, workdir: Path) -> None:
        self.kubeconfig = kubeconfig
        self.workdir = workdir
        self._started: list[Healer] = []
        self._numbers = itertools.count(1)

    def __enter__(self) -> Healers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for healer in self._started:
            try:
                healer.stop()
            except subprocess.TimeoutExpired:
                healer.kill()
            healer.http.clear()

    def command(self, runbooks: Sequence[Mapping[str, Any]], *args: str,
                audit_db: Path | None = None) -> tuple[list[str], Path]:
        """`healer run` with runbooks written into a directory of their own and an audit
        db; the command line and the db."""
        number = next(self._numbers)
        directory = self.workdir / f"runbooks-{number}"
        directory.mkdir()
        (directory / "runbooks.yaml").write_text(yaml.safe_dump_all(runbooks, sort_keys=False))
        db = audit_db or self.workdir / f"audit-{number}.db"
        return [*HEALER, "run", "--runbooks", str(directory), "--listen", "127.0.0.1:0",
                "--audit-db", str(db), "--kubeconfig", str(self.kubeconfig), *args], db

    def start(self, *runbooks: Mapping[str, Any], mode: str | None = "enforce",
              audit_db: Path | None = None, env: Mapping[str, str] | None = None
              ) -> Healer:
        """A daemon serving, once it has logged `healer_started`. `mode=None` leaves the
        mode to the default (what a fresh install runs in)."""
        command, db = self.command(runbooks, *(["--mode", mode] if mode else []),
                                   audit_db=audit_db)
        log_path = self.workdir / f"healer-{len(self._started) + 1}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(command, stdin=subprocess.DEVNULL,
                                       stdout=subprocess.DEVNULL, stderr=log,
                                       env=_environment(env))
        healer = Healer(process, "", db, log_path)
        self._started.append(healer)
        deadline = time.monotonic() + START_TIMEOUT
        while not (started := healer.events("healer_started")):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"healer run did not start (exit code {process.poll()}):\n"
                            + log_path.read_text()[-3000:])
            time.sleep(0.05)
        healer.url = "http://" + started[0]["listen"]
        return healer

    def run(self, *args: str, runbooks: Sequence[Mapping[str, Any]] = (),
            env: Mapping[str, str] | None = None, runbook_text: str | None = None,
            timeout: float = 30) -> subprocess.CompletedProcess[str]:
        """`healer run` to its end (for start-up errors): the finished process."""
        command, _ = self.command(runbooks, *args)
        if runbook_text is not None:
            (Path(command[command.index("--runbooks") + 1]) / "runbooks.yaml").write_text(
                runbook_text)
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              env=_environment(env), check=False)


def _environment(extra: Mapping[str, str] | None) -> dict[str, str]:
    """This process's environment without HEALER_* settings, plus `extra`."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HEALER_")}
    return {**clean, **(extra or {})}


def now_rfc3339(offset: int = 0) -> str:
    """A startsAt: now (plus `offset` microseconds, to tell incidents apart), as Go
    writes it."""
    moment = datetime.now(UTC).timestamp() + offset / 1e6
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def chunks(items: Sequence[Any], sizes: Iterator[int]) -> list[Sequence[Any]]:
    """`items` cut into consecutive pieces of the next size from `sizes` each."""
    pieces, start = [], 0
    while start < len(items):
        size = next(sizes)
        pieces.append(items[start:start + size])
        start += size
    return pieces
