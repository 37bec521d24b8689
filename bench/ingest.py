"""How many alerts healer takes in, how soon it acts on one, and how much memory it holds.

Starts a sandbox in this process, writes 1,000 varied runbooks (250 alertnames, four
runbooks each told apart by matchers, three kinds of action) and a configuration, then
runs `healer run` in enforce mode in a process of its own, so that its CPU and memory are
its own. Clients are threads of this process with keep-alive `http.client` connections.
It prints, in one run:

- alerts per second through the webhook with 1 and with 100 alerts per request, from the
  first POST until healer has decided every alert (its `healer_decisions` counter). Every
  alert matches exactly one runbook; after a warm-up, in which each runbook the storm
  uses acts once on its Deployment, every alert is refused by a guard (cooldown) and
  audited, as in an alert storm. One alert per request goes as fast as the clients go,
  next to the requests per second the same waitress settings (`healer.server.HttpServer`)
  serve with an empty WSGI app in a process of its own, same client, same bodies: the
  ratio is the figure, the machine is noisy. A hundred per request are offered at 11,000
  alerts/s (`--offered`), just over the target: healer answers 200 once alerts are
  queued, so clients that go as fast as they can overrun any intake that decides slower
  than it parses, and its 503s would say nothing about the target (`--offered 0` does
  that, to find the ceiling);
- none dropped: every POST answered 200, and the outcome records of the audit store (not
  the intents) count exactly the alerts accepted (`count` sums aggregated refusals);
- latency: single alerts, spaced out, each for a pod of its own that no guard holds back,
  from just before the POST to the first API request the sandbox logs for that pod;
- healer's peak RSS (`VmHWM`) with 1,000 runbooks loaded, after the throughput runs.

About the latency: the sandbox's request log (`RequestRecord`) holds no timestamp, and a
record is appended after the answer is written, not when the request arrives. So a thread
of this process watches the log and stamps each record when it first sees it. Clocks are
no problem: the POST and the watcher are in this process, and both read `perf_counter`
(CLOCK_MONOTONIC, which Linux shares across processes anyway). The figure is an upper
bound: it includes the sandbox answering that GET and the watcher's delay. The same watch
over GETs this process sends the sandbox itself measures that overhead ("observation
offset"); subtract it for an estimate.

Also printed: healer's CPU per alert (from /proc, from the first POST to the last
decision) and the empty handler's per request, which say where a rate goes.

Run: .venv/bin/python bench/ingest.py [--quick] [--single N] [--batched N]
     [--per-request N] [--offered ALERTS_PER_S] [--latency N] [--clients N] [--runbooks N]
Exit status: 0 when it measured (a missed target is a measurement); 1 when something
broke: a POST not answered 200, alerts missing from the audit store, no API request seen
for a latency sample, healer exiting badly.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from healer.sandbox import Sandbox, Scenario
from healer.sandbox.behaviour import Timing
from healer.sandbox.scenario import NodeSpec
from healer.server import ALERTS_PATH

ALERTNAMES, TEAMS = 250, 4  # 1,000 runbooks: one per (alertname, team)
PER_FILE = 10
STORM_ALERTNAMES = 25  # alertnames the throughput alerts use (every third is a restart)
LATENCY_NAMESPACE, LATENCY_ALERT = "bench-lat", "BenchPodNotReady"
HEADERS = {"Content-Type": "application/json"}
PROBLEMS = ("ReplicasMismatch", "HighErrorRate", "LatencyHigh", "CrashLooping",
            "MemoryPressure", "QueueBacklog", "ProbeFailing", "ConnectionsExhausted",
            "DiskFilling", "CertExpiring")
SERVICES = ("Checkout", "Payments", "Search", "Cart", "Ledger", "Gateway", "Auth",
            "Inventory", "Shipping", "Mailer", "Catalog", "Pricing", "Reports", "Media",
            "Profile", "Billing", "Ads", "Feeds", "Chat", "Export", "Import", "Notify",
            "Quotes", "Orders", "Stock")


# runbooks and configuration ---------------------------------------------------------------

def alertname(index: int) -> str:
    return f"{SERVICES[index % len(SERVICES)]}{PROBLEMS[index // len(SERVICES) % 10]}"


def runbook(index: int) -> str:
    """The runbook for alertname `index // TEAMS` and team `index % TEAMS`: one in three
    alertnames rolls a Deployment out, one restarts a pod, one scales."""
    name_index, team = divmod(index, TEAMS)
    kind = name_index % 3
    matchers = ['severity=~"warning|critical"', f'team="t{team}"']
    if name_index % 4 == 1:
        matchers.append('namespace!~"kube-.*|openshift-.*"')
    if name_index % 5 == 2:
        matchers.append('env!="dev"')
    if name_index % 7 == 3:
        matchers.append('service=~"svc-[a-z0-9-]+"')
    target, steps = {
        0: ('kind: Deployment\n    namespace: "{{ labels.namespace }}"\n'
            '    name: "{{ labels.deployment }}"',
            "    - action: rollout-restart\n"),
        1: ('kind: Pod\n    namespace: "{{ labels.namespace }}"\n    name: "{{ labels.pod }}"',
            "    - action: restart-pod\n      params: {gracePeriodSeconds: 30}\n"
            "    - action: rollout-restart\n      target:\n        kind: Deployment\n"
            '        namespace: "{{ labels.namespace }}"\n        name: "{{ owner.name }}"\n'),
        2: ('kind: Deployment\n    namespace: "{{ labels.namespace }}"\n'
            '    name: "{{ labels.deployment }}"',
            "    - action: scale\n      params: {replicas: +1, max: 10}\n"),
    }[kind]
    guards = ("    rateLimit: {max: 3, per: 1h, by: target}\n    cooldown: 10m\n"
              if kind != 1 else
              "    rateLimit: {max: 5, per: 1h, by: namespace}\n    cooldown: 30m\n"
              '    minHealthy: "50%"\n')
    return f"""apiVersion: healer/v1
kind: Runbook
metadata:
  name: {alertname(name_index).lower()}-t{team}
  labels: {{team: t{team}}}
spec:
  description: {alertname(name_index)} for team t{team}'s services (benchmark runbook).
  toilMinutes: {5 + index % 25}
  trigger:
    alert:
      name: {alertname(name_index)}
      matchers: [{", ".join(f"'{m}'" for m in matchers)}]
  scope:
    namespaces: ["team-*"]
  target:
    {target}
  steps:
{steps}    - action: notify
      params: {{message: "{alertname(name_index)} still firing after a remediation"}}
  guards:
{guards}  notify: [oncall]
"""


LATENCY_RUNBOOK = f"""apiVersion: healer/v1
kind: Runbook
metadata:
  name: bench-latency
spec:
  description: Restart a pod that is not ready (benchmark runbook for latency).
  trigger:
    alert:
      name: {LATENCY_ALERT}
      matchers: ['severity="warning"']
  scope:
    namespaces: [{LATENCY_NAMESPACE}]
  target:
    kind: Pod
    namespace: "{{{{ labels.namespace }}}}"
    name: "{{{{ labels.pod }}}}"
  steps:
    - action: restart-pod
  guards:
    rateLimit: {{max: 100000, per: 1h, by: runbook}}
    cooldown: 0s
    maxConcurrent: 64
"""


def write_runbooks(directory: Path, count: int) -> None:
    """`count` runbooks in files of PER_FILE documents; the last is the latency one."""
    documents = [runbook(i) for i in range(count - 1)] + [LATENCY_RUNBOOK]
    for start in range(0, count, PER_FILE):
        (directory / f"runbooks-{start // PER_FILE:03d}.yaml").write_text(
            "---\n".join(documents[start:start + PER_FILE]))


MIN_RUNBOOKS = 3 * STORM_ALERTNAMES * TEAMS + 1  # the storm's runbooks, and the latency one


def storm_runbooks() -> list[tuple[int, int]]:
    """(alertname index, team) of the rollout-restart runbooks the storm's alerts match."""
    return [(a, t) for a in range(0, 3 * STORM_ALERTNAMES, 3) for t in range(TEAMS)]


# the cluster --------------------------------------------------------------------------------

def deployment(namespace: str, name: str, replicas: int) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "app",
                                                           "image": f"example/{name}:1"}]}}}}


def scenario(latency_pods: int) -> Scenario:
    objects: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"team-{t}"}}
        for t in range(TEAMS)]
    objects.append({"apiVersion": "v1", "kind": "Namespace",
                    "metadata": {"name": LATENCY_NAMESPACE}})
    objects += [deployment(f"team-{t}", f"d-{a:03d}", 1) for a, t in storm_runbooks()]
    objects.append(deployment(LATENCY_NAMESPACE, "lat", latency_pods))
    return Scenario(name="bench-ingest", timing=Timing(pod_start=0.02, termination=0.02),
                    nodes=tuple(NodeSpec(f"node-{i}") for i in range(1, 11)),
                    objects=tuple(objects))


# alerts ---------------------------------------------------------------------------------------

STARTS_AT = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f000Z")


def alert(serial: int, name: str, labels: dict[str, str]) -> dict[str, Any]:
    """One firing alert as Alertmanager sends it (fingerprint included)."""
    return {"status": "firing",
            "labels": {"alertname": name, "severity": "warning", **labels},
            "annotations": {"summary": f"{name} on {labels.get('pod', '?')}",
                            "description": "Benchmark alert; see the runbook.",
                            "runbook_url": f"https://runbooks.example/{name}"},
            "startsAt": STARTS_AT, "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": f"http://prometheus:9090/graph?g0.expr={name}",
            "fingerprint": f"{serial:016x}"}


def storm_alert(serial: int, alert_index: int, team: int) -> dict[str, Any]:
    deploy = f"d-{alert_index:03d}"
    return alert(serial, alertname(alert_index), {
        "namespace": f"team-{team}", "team": f"t{team}", "deployment": deploy,
        "pod": f"{deploy}-{serial:x}", "service": f"svc-{deploy}", "env": "prod",
        "job": "kube-state-metrics", "instance": f"10.0.{serial % 250}.{serial % 7}:8080"})


def payload(alerts: list[dict[str, Any]]) -> bytes:
    name = alerts[0]["labels"]["alertname"]
    return json.dumps({
        "version": "4", "groupKey": f'{{}}:{{alertname="{name}"}}', "truncatedAlerts": 0,
        "status": "firing", "receiver": "healer", "groupLabels": {"alertname": name},
        "commonLabels": {"alertname": name}, "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093", "alerts": alerts}).encode()


class Serials:
    """Distinct fingerprints for every alert of a run."""

    def __init__(self) -> None:
        self._next = 1

    def take(self) -> int:
        self._next += 1
        return self._next - 1


def storm_bodies(serials: Serials, requests: int, per_request: int) -> list[bytes]:
    """Bodies of `per_request` alerts, each request one alertname (as Alertmanager groups
    by alertname), cycling through the storm's runbooks."""
    names = sorted({a for a, _ in storm_runbooks()})
    bodies = []
    for r in range(requests):
        alert_index = names[r % len(names)]
        bodies.append(payload([storm_alert(serials.take(), alert_index, (r + k) % TEAMS)
                               for k in range(per_request)]))
    return bodies


# driving load ---------------------------------------------------------------------------------

@dataclass
class Drive:
    started: float
    finished: float
    statuses: Counter[int] = field(default_factory=Counter)

    @property
    def seconds(self) -> float:
        return self.finished - self.started


def drive(address: tuple[str, int], bodies: list[bytes], clients: int,
          per_second: float = 0.0) -> Drive:
    """POST every body from `clients` threads, one keep-alive connection each: as fast as
    they go, or body `i` no sooner than `i / per_second` seconds after the start."""
    counts: list[Counter[int]] = [Counter() for _ in range(clients)]
    start: list[float] = []
    ready = threading.Barrier(clients + 1, action=lambda: start.append(time.perf_counter()))

    def client(index: int) -> None:
        connection = http.client.HTTPConnection(*address, timeout=30)
        ready.wait()
        for number in range(index, len(bodies), clients):
            if per_second:
                ahead = start[0] + number / per_second - time.perf_counter()
                if ahead > 0:
                    time.sleep(ahead)
            connection.request("POST", ALERTS_PATH, bodies[number], HEADERS)
            response = connection.getresponse()
            response.read()
            counts[index][response.status] += 1
        connection.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    ready.wait()
    for thread in threads:
        thread.join()
    return Drive(start[0], time.perf_counter(), sum(counts, Counter()))


def get(address: tuple[str, int], path: str) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection(*address, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def decided(address: tuple[str, int]) -> float:
    """healer's decisions so far, every verdict (from /metrics)."""
    _, text = get(address, "/metrics")
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.decode().splitlines()
               if line.startswith("healer_decisions_total{"))


def audited(db: Path) -> int:
    """Alerts the audit store accounts for: outcome records (not intents), by count."""
    connection = sqlite3.connect(db, timeout=10)
    try:
        row = connection.execute(
            "SELECT COALESCE(SUM(count), 0) FROM records WHERE outcome != 'pending'").fetchone()
        return int(row[0])
    finally:
        connection.close()


def verdicts(db: Path) -> Counter[str]:
    """Alerts by outcome (and the refusing guard), from the outcome records."""
    connection = sqlite3.connect(db, timeout=10)
    try:
        rows = connection.execute(
            "SELECT outcome, guard, SUM(count) FROM records WHERE outcome != 'pending' "
            "GROUP BY outcome, guard").fetchall()
    finally:
        connection.close()
    return Counter({f"{outcome} ({guard})" if guard else outcome: int(total)
                    for outcome, guard, total in rows})


def wait_until(condition: Callable[[], bool], timeout: float, interval: float) -> float:
    """`perf_counter()` when `condition()` first held; TimeoutError after `timeout`."""
    deadline = time.perf_counter() + timeout
    while not condition():
        if time.perf_counter() > deadline:
            raise TimeoutError
        time.sleep(interval)
    return time.perf_counter()


# the processes --------------------------------------------------------------------------------

@contextmanager
def healer_process(workdir: Path, kubeconfig: Path) -> Iterator[tuple[subprocess.Popen[bytes],
                                                                      tuple[str, int]]]:
    """`healer run` in enforce mode on a free port; yields the process and its address."""
    config = workdir / "healer.yaml"
    config.write_text(
        f"runbooks: {workdir / 'runbooks'}\nlisten: 127.0.0.1:0\nmode: enforce\n"
        f"auditDb: {workdir / 'audit.db'}\nkubeconfig: {kubeconfig}\n"
        "notifiers: [{name: oncall, type: log}]\n")
    healer = Path(sys.executable).with_name("healer")
    command = [str(healer)] if healer.exists() else [sys.executable, "-m", "healer.cli"]
    log_path = workdir / "healer.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen([*command, "run", "--config", str(config)],
                                   stdout=log_file, stderr=subprocess.STDOUT)
    try:
        address = _started_address(process, log_path)
        yield process, address
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _started_address(process: subprocess.Popen[bytes], log_path: Path) -> tuple[str, int]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"healer run exited {process.returncode}:\n"
                               + log_path.read_text()[-2000:])
        for line in log_path.read_text().splitlines():
            if "healer_started" in line:
                host, port = json.loads(line)["listen"].rsplit(":", 1)
                return host, int(port)
        time.sleep(0.05)
    raise RuntimeError("healer did not start within 120 s:\n" + log_path.read_text()[-2000:])


@contextmanager
def empty_server() -> Iterator[tuple[tuple[str, int], int]]:
    """This script's --empty-server in a process of its own; yields its address and
    process id."""
    process = subprocess.Popen([sys.executable, __file__, "--empty-server"],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline().split()[-1])
        yield ("127.0.0.1", port), process.pid
    finally:
        assert process.stdin is not None
        process.stdin.close()  # it serves until its stdin closes
        process.wait(30)


def serve_empty() -> None:
    """waitress with healer's settings (`HttpServer`, as `Daemon` builds it) and an app
    that answers 200 without looking at the request."""
    from healer.config import Config  # noqa: PLC0415 - only this process needs them
    from healer.server import HttpServer  # noqa: PLC0415

    answer = b'{"status": "accepted", "alerts": 1}\n'

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "application/json"),
                                  ("Content-Length", str(len(answer)))])
        return [answer]

    config = Config()
    server = HttpServer(app, "127.0.0.1", 0,  # type: ignore[arg-type]
                        max_body_bytes=config.max_body_bytes, threads=max(4, config.workers))
    server.start()
    print(f"port {server.address[1]}", flush=True)
    sys.stdin.read()
    server.stop()


def cpu_seconds(pid: int) -> float:
    """User and system CPU time a process has used so far, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory(pid: int) -> dict[str, int]:
    """VmHWM and VmRSS of a process, in kB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            fields[key] = int(value.split()[0])
    return fields


# latency --------------------------------------------------------------------------------------

class RequestWatch:
    """Stamps every request the sandbox logs with the `perf_counter()` at which this
    thread first sees it (the log has no timestamp of its own)."""

    INTERVAL = 0.0002  # seconds between looks

    def __init__(self, sandbox: Sandbox) -> None:
        self._records = sandbox.api.records
        self._seen = len(self._records)
        self.first: dict[tuple[str, str, str | None, str], float] = {}  # verb, resource,
        self.overflowed = False                                         # namespace, name
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="request-watch", daemon=True)

    def __enter__(self) -> RequestWatch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        records = self._records
        while not self._stop.is_set():
            count = len(records)
            if count > self._seen:
                now = time.perf_counter()
                for index in range(self._seen, count):
                    record = records[index]
                    self.first.setdefault(
                        (record.verb, record.resource, record.namespace, record.name), now)
                self._seen = count
            elif count == records.maxlen:
                self.overflowed = True  # a full log no longer grows: appends go unseen
            time.sleep(self.INTERVAL)

    def seen(self, verb: str, pod: str, since: float, timeout: float = 5.0) -> float | None:
        """When a request `verb` for the pod was first seen, waiting up to `timeout` after
        `since`; None if it was not."""
        key = (verb, "pods", LATENCY_NAMESPACE, pod)
        deadline = since + timeout
        while key not in self.first:
            if time.perf_counter() > deadline:
                return None
            time.sleep(0.0005)
        return self.first[key]


@dataclass
class Latency:
    samples: list[float] = field(default_factory=list)  # seconds, POST → first request
    offsets: list[float] = field(default_factory=list)  # seconds, the watch's own delay
    statuses: Counter[int] = field(default_factory=Counter)
    unseen: int = 0  # samples answered 200 for which no API request was seen


def latency(address: tuple[str, int], sandbox: Sandbox, serials: Serials, samples: int
            ) -> Latency:
    """One alert at a time, each for a pod of its own, with the sandbox quiet before each:
    the previous restart's replacement pod started, the controllers idle."""
    pods = sorted(p["metadata"]["name"] for p in sandbox.objects("pods", LATENCY_NAMESPACE))
    if len(pods) < samples:
        raise RuntimeError(f"{len(pods)} latency pods for {samples} samples")
    timing = sandbox.scenario.timing
    host, port = sandbox.url.removeprefix("http://").rsplit(":", 1)
    result = Latency()
    healer_connection = http.client.HTTPConnection(*address, timeout=10)
    sandbox_connection = http.client.HTTPConnection(host, int(port), timeout=10)

    def quiet() -> None:
        sandbox.settle()
        time.sleep(timing.termination + timing.pod_start + 0.01)
        sandbox.settle()

    with RequestWatch(sandbox) as watch:
        for index, pod in enumerate(pods[:samples]):
            quiet()
            # the watch's own delay: a GET this process sends the sandbox (for a pod that
            # does not exist, so that it is a request of its own in the log)
            probe = f"offset-{index}"
            sent = time.perf_counter()
            sandbox_connection.request(
                "GET", f"/api/v1/namespaces/{LATENCY_NAMESPACE}/pods/{probe}")
            sandbox_connection.getresponse().read()
            seen = watch.seen("get", probe, sent)
            if seen is not None:
                result.offsets.append(seen - sent)
            time.sleep(0.002)

            body = payload([alert(serials.take(), LATENCY_ALERT,
                                  {"namespace": LATENCY_NAMESPACE, "pod": pod,
                                   "team": "t0", "job": "kube-state-metrics"})])
            sent = time.perf_counter()
            healer_connection.request("POST", ALERTS_PATH, body, HEADERS)
            response = healer_connection.getresponse()
            response.read()
            result.statuses[response.status] += 1
            if response.status != 200:
                continue
            seen = watch.seen("get", pod, sent)
            if seen is None:
                result.unseen += 1
            else:
                result.samples.append(seen - sent)
            watch.seen("delete", pod, sent)  # the action's last request, then quiet
        if watch.overflowed:
            raise RuntimeError("the sandbox's request log filled up; use fewer samples")
    healer_connection.close()
    sandbox_connection.close()
    return result


# a run ------------------------------------------------------------------------------------------

@dataclass
class Throughput:
    alerts: int
    drive: Drive
    decided_at: float  # perf_counter() when healer had decided every alert
    audited_at: float  # ... when the audit store accounted for every alert
    cpu: float  # seconds of CPU healer used from the first POST to the last decision

    @property
    def rate(self) -> float:
        """Alerts per second, first POST to last decision."""
        return self.alerts / (self.decided_at - self.drive.started)


def storm(address: tuple[str, int], pid: int, db: Path, bodies: list[bytes],
          per_request: int, clients: int, audited_before: int, offered: float = 0.0
          ) -> Throughput:
    """Send the bodies (`offered` alerts per second, or as fast as the clients go); wait
    until healer has decided, then audited, every alert it took (a request answered other
    than 200 queued none of its alerts)."""
    before, cpu = decided(address), cpu_seconds(pid)
    done = drive(address, bodies, clients, offered / per_request)
    alerts = done.statuses[200] * per_request
    # every 25 ms: a scrape costs healer about a millisecond of the CPU it is measured on
    decided_at = wait_until(lambda: decided(address) - before >= alerts, 300, 0.025)
    cpu = cpu_seconds(pid) - cpu
    audited_at = wait_until(lambda: audited(db) >= audited_before + alerts, 300, 0.02)
    return Throughput(alerts, done, decided_at, audited_at, cpu)


@dataclass
class Sizes:
    single: int  # requests of one alert
    batched: int  # requests of `per_request` alerts
    per_request: int
    offered: float  # alerts per second the batched requests carry; 0: as fast as possible
    samples: int  # latency samples
    clients: int  # client threads
    runbooks: int


@dataclass
class Results:
    sizes: Sizes
    load: float  # the machine's 1-minute load average before the run
    startup: float = 0.0  # seconds from `healer run` to /readyz 200
    loaded: dict[str, int] = field(default_factory=dict)  # kB, once ready
    after_single: dict[str, int] = field(default_factory=dict)  # kB, after 1 per request
    after_storm: dict[str, int] = field(default_factory=dict)  # kB, after both storms
    warm_up: int = 0  # alerts (one action each) before the storms
    empty: Drive | None = None
    empty_cpu: float = 0.0  # seconds of CPU the empty handler's process used for it
    one: Throughput | None = None
    many: Throughput | None = None
    latency: Latency = field(default_factory=Latency)
    accepted: int = 0  # alerts in POSTs healer answered 200 (every one must be audited)
    statuses: Counter[int] = field(default_factory=Counter)  # of every POST to healer
    in_store: int = 0  # alerts the audit store accounts for, after healer stopped
    verdicts: Counter[str] = field(default_factory=Counter)  # alerts by outcome (guard)
    exit_code: int | None = None  # healer run's

    def broken(self) -> list[str]:
        """What went wrong, as opposed to what was slow."""
        problems = []
        posts = sum(self.statuses.values())
        if self.statuses[200] != posts:
            problems.append(f"POSTs to healer answered {dict(self.statuses)}: not all 200")
        if self.in_store != self.accepted:
            problems.append(f"the audit store accounts for {self.in_store:,} alerts of "
                            f"{self.accepted:,} accepted")
        if self.latency.unseen:
            problems.append(f"{self.latency.unseen} latency samples saw no API request")
        if self.empty is not None and set(self.empty.statuses) != {200}:
            problems.append(f"the empty handler answered {dict(self.empty.statuses)}")
        if self.exit_code != 0:
            problems.append(f"healer run exited {self.exit_code}")
        return problems


def measure(sizes: Sizes) -> Results:
    results = Results(sizes, load=os.getloadavg()[0])
    with tempfile.TemporaryDirectory(prefix="healer-bench-") as directory, \
            Sandbox(scenario(sizes.samples + 5)) as sandbox:
        workdir = Path(directory)
        (workdir / "runbooks").mkdir()
        write_runbooks(workdir / "runbooks", sizes.runbooks)
        db = workdir / "audit.db"
        started = time.perf_counter()
        with healer_process(workdir, sandbox.kubeconfig) as (process, address):
            wait_until(lambda: get(address, "/readyz")[0] == 200, 60, 0.05)
            results.startup = time.perf_counter() - started
            results.loaded = memory(process.pid)
            serials = Serials()

            # warm-up: each runbook the storm uses acts once on its Deployment
            warm = [payload([storm_alert(serials.take(), a, t)]) for a, t in storm_runbooks()]
            results.statuses += drive(address, warm, 1).statuses
            results.accepted = results.warm_up = results.statuses[200]
            wait_until(lambda: audited(db) >= results.accepted, 120, 0.05)

            bodies = storm_bodies(serials, sizes.single, 1)
            with empty_server() as (empty_address, empty_pid):
                drive(empty_address, bodies[:200], sizes.clients)  # connections, caches
                cpu = cpu_seconds(empty_pid)
                results.empty = drive(empty_address, bodies, sizes.clients)
                results.empty_cpu = cpu_seconds(empty_pid) - cpu
            pid = process.pid
            results.one = storm(address, pid, db, bodies, 1, sizes.clients, results.accepted)
            results.accepted += results.one.alerts
            results.after_single = memory(pid)
            bodies = storm_bodies(serials, sizes.batched, sizes.per_request)
            results.many = storm(address, pid, db, bodies, sizes.per_request, sizes.clients,
                                 results.accepted, sizes.offered)
            results.accepted += results.many.alerts
            results.statuses += results.one.drive.statuses + results.many.drive.statuses
            results.after_storm = memory(process.pid)

            results.latency = latency(address, sandbox, serials, sizes.samples)
            results.accepted += results.latency.statuses[200]
            results.statuses += results.latency.statuses
        results.exit_code = process.returncode  # stopped: everything is flushed
        results.in_store = audited(db)
        results.verdicts = verdicts(db)
    return results


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def report(results: Results) -> None:
    """The table of figures, with the targets and PASS/MISS."""
    sizes, one, many, empty = results.sizes, results.one, results.many, results.empty
    assert one is not None
    assert many is not None
    assert empty is not None
    empty_rate = sizes.single / empty.seconds
    ratio = one.rate / empty_rate
    samples = results.latency.samples
    p50, p99 = percentile(samples, 0.50) * 1000, percentile(samples, 0.99) * 1000
    peak = results.after_storm["VmHWM"] / 1024

    offered = f" ({sizes.offered:,.0f} offered)" if sizes.offered else ""

    def verdict(ok: bool) -> str:
        return "PASS" if ok else "MISS"

    print(f"healer ingest: {sizes.runbooks:,} runbooks, enforce mode, {sizes.clients} "
          f"client threads, {os.cpu_count()} CPUs, load average {results.load:.2f} before; "
          f"ready {results.startup:.1f} s after start with "
          f"{results.loaded['VmRSS'] / 1024:.0f} MB RSS")
    rows = [
        (f"alerts/s, {sizes.per_request} per request{offered}", f"{many.rate:,.0f}",
         ">= 10,000", verdict(many.rate >= 10_000 and set(many.drive.statuses) == {200})),
        ("alerts/s, 1 per request", f"{one.rate:,.0f}", "", ""),
        ("empty handler, requests/s", f"{empty_rate:,.0f}", "", ""),
        ("1 per request / empty handler", f"{ratio:.2f}", ">= 0.5", verdict(ratio >= 0.5)),
        (f"latency p50 ({len(samples)} samples)", f"{p50:.1f} ms", "", ""),
        ("latency p99", f"{p99:.1f} ms", "<= 25 ms", verdict(p99 <= 25)),
        ("peak RSS (VmHWM) after the storms", f"{peak:.0f} MB", "<= 150 MB",
         verdict(peak <= 150)),
    ]
    print(f"{'figure':<44} {'value':>9}  {'target':<10} verdict")
    for name, value, target, result in rows:
        print(f"{name:<44} {value:>9}  {target:<10} {result}")
    for label, run in ((f"{sizes.per_request} per request", many), ("1 per request", one)):
        busy = run.cpu / (run.decided_at - run.drive.started)
        print(f"  {label}: {run.alerts:,} alerts, POSTs answered in {run.drive.seconds:.2f} s "
              f"({run.alerts / run.drive.seconds:,.0f}/s accepted); all decided "
              f"{(run.decided_at - run.drive.finished) * 1000:.0f} ms and all audited "
              f"{run.audited_at - run.drive.finished:.2f} s after the last answer; healer "
              f"CPU {run.cpu / run.alerts * 1e6:.0f} us per alert ({busy:.0%} of a core)"
              + ("" if set(run.drive.statuses) == {200} else
                 f"; ANSWERS {dict(run.drive.statuses)}"))
    print(f"  empty handler: CPU {results.empty_cpu / sizes.single * 1e6:.0f} us per request "
          f"({results.empty_cpu / empty.seconds:.0%} of a core); healer's peak RSS after 1 "
          f"per request {results.after_single['VmHWM'] / 1024:.0f} MB")
    print(f"  none dropped: {results.statuses[200]:,} of {sum(results.statuses.values()):,} "
          f"POSTs answered 200; the audit store accounts for {results.in_store:,} of "
          f"{results.accepted:,} alerts accepted: " + ", ".join(
              f"{count:,} {verdict}" for verdict, count in results.verdicts.most_common()))
    offsets = results.latency.offsets
    if offsets:
        print(f"  latency is an upper bound: the watch sees a GET this process sends the "
              f"sandbox after p50 {percentile(offsets, 0.5) * 1000:.2f} ms, "
              f"p99 {percentile(offsets, 0.99) * 1000:.2f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="small runs, for a smoke test (sizes given still apply)")
    parser.add_argument("--single", type=int, help="requests of 1 alert (default 20,000)")
    parser.add_argument("--batched", type=int,
                        help="requests of --per-request alerts (default 1,000)")
    parser.add_argument("--per-request", type=int, default=100)
    parser.add_argument("--offered", type=float, default=11_000,
                        help="alerts per second the batched requests carry (default 11,000, "
                             "just over the target; 0: as fast as the clients go)")
    parser.add_argument("--latency", type=int, help="latency samples (default 300)")
    parser.add_argument("--clients", type=int, default=4, help="client threads (default 4)")
    parser.add_argument("--runbooks", type=int, default=1_000,
                        help=f"runbooks loaded (default 1,000; at least {MIN_RUNBOOKS})")
    parser.add_argument("--empty-server", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.empty_server:
        serve_empty()
        return 0
    if args.runbooks < MIN_RUNBOOKS:
        parser.error(f"--runbooks: at least {MIN_RUNBOOKS} (the storm's and the latency's)")
    quick = args.quick
    sizes = Sizes(single=args.single or (300 if quick else 20_000),
                  batched=args.batched or (20 if quick else 1_000),
                  per_request=args.per_request, offered=args.offered,
                  samples=args.latency or (20 if quick else 300), clients=args.clients,
                  runbooks=args.runbooks)
    results = measure(sizes)
    report(results)
    broken = results.broken()
    for problem in broken:
        print(f"BROKEN: {problem}")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
