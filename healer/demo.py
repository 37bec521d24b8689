"""`healer demo`: the whole of healer, end to end, on one machine, in a few seconds.

    this module, playing Alertmanager ──POST /api/v1/alerts──► the daemon (`Daemon`, the
          │  reads back what happened                          real one, enforce mode,
          │                                                    the packaged runbooks)
          ├──────────────── the audit store (SQLite) ◄──────── decisions and outcomes
          └──────────────── the sandbox (its store)  ◄──────── the kube API, over HTTP

The sandbox runs the built-in demo shop: one checkout pod crash-loops, and the frontend is
the Deployment the demo's saturation alert is about. The steps, one function each:

1. `start_sandbox`, and find the pod that crash-loops (`crash_looping_pod`);
2. `start_healer`: the daemon in enforce mode, with `RUNBOOKS` and a `log` notifier
   `oncall`, its audit store in a temporary directory (or `--audit-db`);
3. `restart_crash_looping_pod`: KubePodCrashLooping for that pod; healer deletes it, its
   Deployment starts a replacement, which comes up Running;
4. `resend_alert`: Alertmanager re-sends the same alert (same fingerprint and startsAt,
   as it does every group_interval): the same incident, suppressed as `repeat`;
5. `scale_saturated_deployment`: DeploymentSaturated for shop/frontend; healer scales it
   up by 2;
6. `fire_again`: the alert resolves and fires again (a new startsAt: a new incident for
   the same Deployment): suppressed by the runbook's cooldown;
7. `print_audit_trail`: the table `healer audit` prints.

Every line printed after an alert is read back from the audit store or the sandbox, never
assumed. When healer did not do what a step expects, `DemoError` says what it recorded
instead and `healer demo` exits 1.

The alerts are Alertmanager's webhook payloads (version 4) with the labels
kube-prometheus-stack gives them, sent over HTTP on loopback; nothing leaves the machine.
The runbooks are copies of the library's files (`runbooks/`) shipped in the package, so an
installed healer finds them; a test keeps them identical.

Neighbours: `daemon` (the real healer), `sandbox`, `audit.view` (the table), `signals`
(Alertmanager's fingerprint); `cli` runs `run`.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from healer.audit.store import Outcome, Record
from healer.audit.view import table
from healer.config import Config, Notifier
from healer.daemon import Daemon
from healer.errors import ConfigError, HealerError
from healer.runbook.model import Mode
from healer.sandbox import Sandbox, default_scenario_path, load_scenario
from healer.server import ALERTS_PATH
from healer.signals import Webhook, WebhookAlert, labels_fingerprint

__all__ = ["RUNBOOKS", "DemoError", "run"]

RUNBOOKS = Path(str(resources.files("healer") / "demo_runbooks"))
NAMESPACE = "shop"
CRASHING_APP = "checkout"  # the scenario's crash-looping pods carry app=checkout
SATURATED = "frontend"  # the Deployment the demo's DeploymentSaturated alert names
PATIENCE = 15.0  # seconds a step waits for healer or the sandbox before giving up
STOP_GRACE = 5.0  # seconds the daemon gets to finish at the end
ALERTMANAGER = "http://alertmanager.monitoring.svc:9093"
PROMETHEUS = "http://prometheus.monitoring.svc:9090"

Say = Callable[[str], None]
T = TypeVar("T")


class DemoError(HealerError):
    """healer (or the sandbox) did not do what a step of the demo expects."""


@dataclass
class Demo:
    """What the steps share: the sandbox, the daemon, and the audit records narrated."""

    sandbox: Sandbox
    daemon: Daemon
    say: Say
    seen: int = 0  # the id of the last audit record read
    sent: list[WebhookAlert] = field(default_factory=list)

    @property
    def webhook_url(self) -> str:
        host, port = self.daemon.address
        return f"http://{host}:{port}{ALERTS_PATH}"


def run(say: Say, *, audit_db: Path | None = None,
        until: Callable[[], None] | None = None) -> float:
    """Run the demo, narrating with `say`; returns the seconds it took (to the audit
    trail with `until`, to the end without).

    `until`, when given, is called once the audit trail is printed, and the sandbox and
    healer run until it returns (`--keep`). Everything is stopped and the temporary
    directory removed before `run` returns or raises. Raises `DemoError` when a step did
    not happen, `ConfigError` for an `audit_db` that exists already.
    """
    started = time.monotonic()
    if audit_db is not None and audit_db.exists():
        raise ConfigError(f"--audit-db {audit_db} already exists: the demo starts from an "
                          "empty audit trail (an existing store's actions count against "
                          "the guards); give a new path")
    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="healer-demo-")))
        sandbox = start_sandbox(say, workdir / "kubeconfig")
        stack.callback(sandbox.stop)
        pod = crash_looping_pod(say, sandbox)
        daemon = start_healer(say, sandbox, audit_db or workdir / "audit.db")
        stack.callback(daemon.stop, STOP_GRACE)
        demo = Demo(sandbox, daemon, say)
        restart_crash_looping_pod(demo, pod)
        resend_alert(demo)
        scale_saturated_deployment(demo)
        fire_again(demo)
        print_audit_trail(demo, kept=audit_db)
        if until is not None:
            elapsed = time.monotonic() - started
            say(f"\n✔ demo finished in {elapsed:.1f} s; healer and the sandbox keep running:")
            say(f"  kubectl --kubeconfig {sandbox.kubeconfig} get pods -n {NAMESPACE}")
            say(f"  healer audit --db {daemon.config.audit_db}")
            say(f"  healer's webhook: {demo.webhook_url}")
            say("stop with Ctrl-C")
            until()
    if until is not None:
        say("healer and the sandbox stopped")
        return elapsed
    elapsed = time.monotonic() - started
    say(f"\n✔ demo finished in {elapsed:.1f} s")
    return elapsed


# 1. the sandbox ---------------------------------------------------------------------------


def start_sandbox(say: Say, kubeconfig: Path) -> Sandbox:
    scenario = load_scenario(default_scenario_path())
    sandbox = Sandbox(scenario, kubeconfig=kubeconfig).start()
    say(f"▶ sandbox: a simulated cluster (scenario {scenario.name!r}: a shop) serving the "
        f"kube API on {sandbox.url}, {len(sandbox.objects('nodes'))} nodes, "
        f"{len(sandbox.objects('pods'))} pods")
    return sandbox


def crash_looping_pod(say: Say, sandbox: Sandbox) -> Mapping[str, Any]:
    """The checkout pod in CrashLoopBackOff, once the sandbox shows it."""
    def crashing() -> Mapping[str, Any] | None:
        return next((pod for pod in sandbox.objects("pods", NAMESPACE, {"app": CRASHING_APP})
                     if _waiting_reason(pod) == "CrashLoopBackOff"), None)

    pod = _wait(crashing, f"no {CRASHING_APP} pod in namespace {NAMESPACE} went into "
                          "CrashLoopBackOff")
    restarts = sum(s.get("restartCount", 0) for s in _container_statuses(pod))
    say(f"✖ pod {_name(pod)} is in CrashLoopBackOff ({restarts} restart"
        f"{'' if restarts == 1 else 's'}): the demo sends KubePodCrashLooping now "
        "(Prometheus would wait 15m)")
    return pod


# 2. healer ----------------------------------------------------------------------------------


def start_healer(say: Say, sandbox: Sandbox, audit_db: Path) -> Daemon:
    config = Config(runbooks=RUNBOOKS, listen=("127.0.0.1", 0), mode=Mode.ENFORCE,
                    audit_db=audit_db, kubeconfig=sandbox.kubeconfig,
                    notifiers=(Notifier("oncall", "log"),), workers=2)
    daemon = Daemon(config)
    daemon.start()
    host, port = daemon.address
    names = ", ".join(r.name for r in daemon.engine.runbooks)
    say(f"▶ healer: enforce mode, webhook http://{host}:{port}{ALERTS_PATH}, "
        f"runbooks {names}")
    for name, parts in daemon.not_in_effect.items():
        say(f"  note: {name}: {'; '.join(parts)}")
    return daemon


# 3. the crash-looping pod -------------------------------------------------------------------


def restart_crash_looping_pod(demo: Demo, pod: Mapping[str, Any]) -> None:
    """KubePodCrashLooping → restart-pod; the replacement comes up Running."""
    name, namespace = pod["metadata"]["name"], pod["metadata"]["namespace"]
    container = pod["spec"]["containers"][0]["name"]
    alert = _alert({
        "alertname": "KubePodCrashLooping", "namespace": namespace, "pod": name,
        "container": container, "reason": "CrashLoopBackOff", "severity": "warning",
        "job": "kube-state-metrics"}, {
        "summary": "Pod is crash looping.",
        "description": f'Pod {namespace}/{name} ({container}) is in waiting state '
                       '(reason: "CrashLoopBackOff").'})
    before = {_name(p) for p in demo.sandbox.objects("pods", namespace)}
    _send(demo, alert, f"{namespace}/{name} (firing)")
    records = _new_records(demo)
    executed = _acted(records, "restart-pod", f"restart pod {namespace}/{name}")
    _say_decision(demo, records, executed)
    owner = (executed.before or {}).get("owner") or "its controller"
    demo.say(f"✔ healer restarted pod {executed.target} ({owner} replaces it) in "
             f"{executed.duration_ms or 0:.0f} ms")
    replicaset = _controller_uid(pod)

    def replaced() -> Mapping[str, Any] | None:
        pods = demo.sandbox.objects("pods", namespace)
        if any(_name(p) == f"{namespace}/{name}" for p in pods):
            return None  # the old pod is still terminating
        return next((p for p in pods if _controller_uid(p) == replicaset
                     and _name(p) not in before and _ready(p)), None)

    new = _wait(replaced, f"no replacement for pod {namespace}/{name} became ready")
    demo.say(f"✔ new pod {_name(new)} is {new['status'].get('phase')} and ready; "
             f"{namespace}/{name} is gone")


# 4. the re-sent alert -----------------------------------------------------------------------


def resend_alert(demo: Demo) -> None:
    """Alertmanager re-sends the firing alert: the same incident, suppressed as repeat."""
    alert = demo.sent[0]
    labels = alert["labels"]
    _send(demo, alert, f"{labels['namespace']}/{labels['pod']} (firing, re-sent every "
                       "group_interval: same fingerprint and startsAt)")
    refused = _suppressed(_new_records(demo), "repeat")
    demo.say(f"⏸ re-sent alert suppressed, guard repeat: {refused.reason}")


# 5. the saturated Deployment ----------------------------------------------------------------


def scale_saturated_deployment(demo: Demo) -> None:
    """DeploymentSaturated → scale +2; the new pods come up ready."""
    alert = _alert({"alertname": "DeploymentSaturated", "namespace": NAMESPACE,
                    "deployment": SATURATED, "severity": "warning"},
                   {"summary": "p99 latency above 500 ms with CPU above 80% of requests"})
    _send(demo, alert, f"{NAMESPACE}/{SATURATED} (firing)")
    records = _new_records(demo)
    executed = _acted(records, "scale", f"scale Deployment {NAMESPACE}/{SATURATED}")
    _say_decision(demo, records, executed)
    was = (executed.before or {}).get("replicas")
    now = (executed.after or {}).get("replicas")
    demo.say(f"✔ scaled Deployment {executed.target} {was} → {now}")

    def ready() -> int | None:
        deployment = demo.sandbox.get("deployments", SATURATED, NAMESPACE) or {}
        count = (deployment.get("status") or {}).get("readyReplicas")
        return count if count == now else None

    _wait(ready, f"Deployment {NAMESPACE}/{SATURATED} never had {now} ready replicas")
    demo.say(f"✔ Deployment {NAMESPACE}/{SATURATED}: {now}/{now} pods ready")


# 6. the same Deployment, a new incident -----------------------------------------------------


def fire_again(demo: Demo) -> None:
    """The alert resolves and fires again (new startsAt): the cooldown refuses it."""
    first = demo.sent[-1]
    alert = _alert(first["labels"], first.get("annotations", {}))
    starts = alert["startsAt"][11:19]
    _send(demo, alert, f"{NAMESPACE}/{SATURATED} (firing again since {starts} UTC: a new "
                       "incident for the same Deployment)")
    refused = _suppressed(_new_records(demo), "cooldown")
    deployment = demo.sandbox.get("deployments", SATURATED, NAMESPACE) or {}
    replicas = (deployment.get("spec") or {}).get("replicas")
    demo.say(f"⏸ new incident suppressed, guard cooldown: {refused.reason}")
    demo.say(f"✔ Deployment {NAMESPACE}/{SATURATED} stays at {replicas} replicas")


# 7. the audit trail -------------------------------------------------------------------------


def print_audit_trail(demo: Demo, *, kept: Path | None) -> None:
    _settle(demo)
    where = (f"healer audit --db {kept}" if kept is not None
             else "as healer audit prints it; the store is removed at the end, keep it "
                  "with --audit-db PATH")
    demo.say(f"\naudit trail, newest first ({where}):")
    for line in table(demo.daemon.store.query()):
        demo.say(line)


# Alertmanager -------------------------------------------------------------------------------


def _alert(labels: Mapping[str, str], annotations: Mapping[str, str]) -> WebhookAlert:
    """A firing alert as Alertmanager sends it, starting now."""
    expression = labels["alertname"]
    return {
        "status": "firing", "labels": dict(labels), "annotations": dict(annotations),
        "startsAt": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": f"{PROMETHEUS}/graph?g0.expr=ALERTS%7Balertname%3D%22{expression}"
                        "%22%7D&g0.tab=1",
        "fingerprint": labels_fingerprint(labels),
    }


def _webhook(alerts: Sequence[WebhookAlert]) -> Webhook:
    """The notification of one alert group (grouped by alertname and namespace)."""
    common = {k: v for k, v in alerts[0]["labels"].items()
              if all(a["labels"].get(k) == v for a in alerts)}
    group: dict[str, str] = {k: common[k] for k in ("alertname", "namespace") if k in common}
    key = ", ".join(f'{k}="{v}"' for k, v in group.items())
    annotations = {k: v for k, v in alerts[0].get("annotations", {}).items()
                   if all(a.get("annotations", {}).get(k) == v for a in alerts)}
    return {
        "version": "4", "groupKey": f"{{}}:{{{key}}}", "truncatedAlerts": 0,
        "status": "firing", "receiver": "healer", "groupLabels": group,
        "commonLabels": common, "commonAnnotations": annotations,
        "externalURL": ALERTMANAGER, "alerts": list(alerts),
    }


def _send(demo: Demo, alert: WebhookAlert, what: str) -> None:
    """POST the alert to healer's webhook, as Alertmanager's webhook receiver does."""
    demo.say(f"\n▶ Alertmanager → healer: {alert['labels']['alertname']} {what}")
    request = urllib.request.Request(  # noqa: S310 - a fixed http:// URL on loopback
        demo.webhook_url, data=json.dumps(_webhook([alert])).encode(), method="POST",
        headers={"Content-Type": "application/json", "User-Agent": "Alertmanager/demo"})
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback only
    try:
        with direct.open(request, timeout=PATIENCE) as answer:
            answer.read()
    except urllib.error.HTTPError as error:
        raise DemoError(f"healer's webhook answered {error.code}: "
                         f"{error.read().decode(errors='replace')}") from None
    except (urllib.error.URLError, OSError) as error:
        raise DemoError(f"healer's webhook at {demo.webhook_url} did not answer: "
                         f"{error}") from None
    demo.sent.append(alert)


# reading back what happened -----------------------------------------------------------------


def _settle(demo: Demo) -> None:
    """Wait until healer has decided and done everything, and recorded it on disk."""
    _wait(demo.daemon.engine.idle, "healer did not finish deciding and acting")
    demo.daemon.store.flush()


def _new_records(demo: Demo) -> list[Record]:
    """The audit records written since the last call, oldest first."""
    _settle(demo)
    records = sorted((r for r in demo.daemon.store.query() if (r.id or 0) > demo.seen),
                     key=lambda r: r.id or 0)
    if records:
        demo.seen = records[-1].id or demo.seen
    return records


def _acted(records: Sequence[Record], action: str, what: str) -> Record:
    executed = next((r for r in records if r.action == action
                     and r.outcome is Outcome.EXECUTED), None)
    if executed is None:
        raise DemoError(f"healer did not {what}; {_recorded(records)}")
    return executed


def _suppressed(records: Sequence[Record], guard: str) -> Record:
    refused = next((r for r in records if r.outcome is Outcome.SUPPRESSED
                    and r.guard == guard), None)
    if refused is None:
        raise DemoError(f"healer did not suppress the alert by {guard}; "
                         f"{_recorded(records)}")
    return refused


def _recorded(records: Sequence[Record]) -> str:
    if not records:
        return "it recorded nothing (no runbook matched the alert?)"
    return "it recorded: " + "; ".join(
        f"{r.runbook} {r.outcome.value}" + (f" by {r.guard}" if r.guard else "")
        + (f": {r.reason}" if r.reason else "") for r in records)


def _say_decision(demo: Demo, records: Sequence[Record], executed: Record) -> None:
    """The decision, from the intent healer wrote before acting (write-ahead)."""
    intent = next((r for r in records if r.outcome is Outcome.PENDING
                   and r.action_id == executed.action_id), None)
    if intent is None:
        raise DemoError(f"healer ran {executed.action} on {executed.target} without "
                         "recording its intent first")
    demo.say(f"✔ decision: runbook {intent.runbook} → {intent.action} on "
             f"{intent.target_kind} {intent.target}; every guard passed, intent recorded "
             "before acting")


def _wait(condition: Callable[[], T | None], failure: str) -> T:
    deadline = time.monotonic() + PATIENCE
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise DemoError(f"{failure} within {PATIENCE:g} s")
        time.sleep(0.05)


# pods -------------------------------------------------------------------------------------


def _name(obj: Mapping[str, Any]) -> str:
    return f"{obj['metadata']['namespace']}/{obj['metadata']['name']}"


def _container_statuses(pod: Mapping[str, Any]) -> list[dict[str, Any]]:
    return list((pod.get("status") or {}).get("containerStatuses") or [])


def _waiting_reason(pod: Mapping[str, Any]) -> str | None:
    return next((s["state"]["waiting"].get("reason") for s in _container_statuses(pod)
                 if "waiting" in (s.get("state") or {})), None)


def _ready(pod: Mapping[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return pod.get("status", {}).get("phase") == "Running" and any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _controller_uid(pod: Mapping[str, Any]) -> str | None:
    return next((o.get("uid") for o in pod["metadata"].get("ownerReferences") or []
                 if o.get("controller")), None)
