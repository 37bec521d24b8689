"""The real `kubectl` against the cluster under test: it works and has the real effect.

Every test runs the `kubectl` binary in its own namespace and checks what changed through
the Python client, not only kubectl's exit code. The same file runs against a real
cluster (HEALER_TEST_KUBECONFIG); tests that force pod behaviour need the sandbox.

Covers:
- `get`: the pod table's columns, `-o wide` (IP and node), `-o json` (the stored pods),
  `-l` label selectors, `--field-selector` (node name, phase, an unsupported field);
- `get -w`: a deleted pod's DELETED event and its replacement's ADDED event;
- `apply -f -`: created, unchanged, configured (a field dropped from the manifest is
  removed, the last-applied annotation kept); `delete -f -` removes it and its pods;
- `describe`: a pod (node, owner, conditions, Scheduled event), a deployment
  (replicas, conditions, new ReplicaSet, ScalingReplicaSet events, each rolling-update
  step recorded once);
- `scale`: spec.replicas and the number of running pods follow, up and down;
- `rollout restart`: the restartedAt template annotation, a new ReplicaSet, every old
  pod replaced; `rollout status` reports success only once rolled out, and (sandbox)
  keeps waiting while a new pod is not ready; `rollout undo` goes back to the previous
  template by reusing the old ReplicaSet;
- `delete pod`: kubectl waits until the pod is gone; a replacement with a new uid runs;
- `cordon`/`uncordon`: spec.unschedulable, the unschedulable taint, SchedulingDisabled,
  and a pod pinned to the node waits until it is uncordoned;
- `drain --ignore-daemonsets`: pods are evicted and rescheduled on other nodes, the
  DaemonSet pod stays; a PodDisruptionBudget that allows no disruption blocks the drain
  with the 429 "Cannot evict pod as it would violate the pod's disruption budget.";
- (sandbox) a crash-looping pod shows CrashLoopBackOff and rising RESTARTS in `get`, and
  its last termination and BackOff events in `describe`.
"""

from __future__ import annotations

import contextlib
import json
import queue
import re
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from healer.sandbox import Sandbox
from tests.support import eventually

IMAGE = "registry.k8s.io/pause:3.10"
# seconds a kubectl run or an `eventually` may take: generous for a real cluster, the
# sandbox needs a fraction
WAIT = 30.0


@dataclass(frozen=True)
class Kubectl:
    """The real kubectl binary, pointed at the cluster under test and one namespace."""

    binary: str
    kubeconfig: Path
    namespace: str
    cache_dir: Path

    def argv(self, *args: str) -> list[str]:
        return [self.binary, "--kubeconfig", str(self.kubeconfig), "--cache-dir",
                str(self.cache_dir), "--namespace", self.namespace, *args]

    def __call__(self, *args: str, stdin: str | None = None, timeout: float = WAIT,
                 ok: bool = True) -> subprocess.CompletedProcess[str]:
        """Run `kubectl ARGS`; with `ok`, fail the test unless it exits 0."""
        result = subprocess.run(self.argv(*args), input=stdin, capture_output=True, text=True,
                                timeout=timeout, check=False)
        if ok:
            assert result.returncode == 0, (
                f"kubectl {' '.join(args)} exited {result.returncode}:\n{result.stderr}")
        return result

    @contextlib.contextmanager
    def background(self, *args: str) -> Iterator[Background]:
        """Start `kubectl ARGS` (stderr merged into stdout); stopped on leaving the block."""
        with subprocess.Popen(self.argv(*args), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) as process:
            running = Background(process)
            try:
                yield running
            finally:
                running.stop()


@pytest.fixture(scope="module")
def kubectl_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """kubectl's discovery cache, kept out of ~/.kube (each sandbox has a new port)."""
    return tmp_path_factory.mktemp("kubectl-cache")


@pytest.fixture
def cli(kubectl: str, cluster: Any, namespace: str, kubectl_cache: Path) -> Kubectl:
    return Kubectl(kubectl, cluster.kubeconfig, namespace, kubectl_cache)


# helpers ---------------------------------------------------------------------------------


def deployment(name: str, replicas: int, *, labels: dict[str, str] | None = None,
               node_selector: dict[str, str] | None = None) -> dict[str, Any]:
    pod_spec: dict[str, Any] = {"containers": [{"name": "pause", "image": IMAGE}]}
    if node_selector:
        pod_spec["nodeSelector"] = node_selector
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name, **(labels or {})}},
                                  "spec": pod_spec}}}


def live_pods(core: client.CoreV1Api, namespace: str, selector: str = "") -> list[Any]:
    """The namespace's pods that are not being deleted, by name."""
    pods = core.list_namespaced_pod(namespace, label_selector=selector).items
    return sorted((p for p in pods if p.metadata.deletion_timestamp is None),
                  key=lambda p: p.metadata.name)


def running(core: client.CoreV1Api, namespace: str, selector: str, count: int) -> list[Any]:
    """Exactly `count` live pods, all Running and Ready; else an empty list."""
    pods = live_pods(core, namespace, selector)
    ready = [p for p in pods if p.status.phase == "Running" and any(
        c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])]
    return ready if len(pods) == count and len(ready) == count else []


def rolled_out(apps: client.AppsV1Api, namespace: str, name: str) -> Any:
    """The deployment once every replica is updated and available, and nothing else runs."""
    d = apps.read_namespaced_deployment(name, namespace)
    s, want = d.status, d.spec.replicas
    if s is None:  # the sandbox answers a new deployment without status; a real server: {}
        return None
    done = ((s.observed_generation or 0) >= d.metadata.generation
            and s.updated_replicas == want and s.available_replicas == want
            and s.replicas == want)
    return d if done else None


def create_deployment(apps: client.AppsV1Api, core: client.CoreV1Api, namespace: str,
                      manifest: dict[str, Any]) -> list[Any]:
    """Create a deployment and return its pods once they all run."""
    apps.create_namespaced_deployment(namespace, manifest)
    name, replicas = manifest["metadata"]["name"], manifest["spec"]["replicas"]
    eventually(lambda: rolled_out(apps, namespace, name),
               f"deployment {name} to roll out", timeout=WAIT)
    return eventually(lambda: running(core, namespace, f"app={name}", replicas),
                      f"{replicas} running {name} pods", timeout=WAIT)


def replica_sets(apps: client.AppsV1Api, namespace: str, app: str) -> list[Any]:
    return apps.list_namespaced_replica_set(namespace, label_selector=f"app={app}").items


def owner_uid(obj: Any) -> str:
    return str(obj.metadata.owner_references[0].uid)


def schedulable_nodes(core: client.CoreV1Api) -> list[str]:
    """Ready, uncordoned nodes without NoSchedule/NoExecute taints: where pods can go."""
    nodes = []
    for node in core.list_node().items:
        ready = any(c.type == "Ready" and c.status == "True"
                    for c in node.status.conditions or [])
        tainted = any(t.effect in ("NoSchedule", "NoExecute") for t in node.spec.taints or [])
        if ready and not node.spec.unschedulable and not tainted:
            nodes.append(node.metadata.name)
    return sorted(nodes)


def uncordon(core: client.CoreV1Api, node: str) -> None:
    """Leave the shared cluster as we found it, whatever kubectl did."""
    core.patch_node(node, {"spec": {"unschedulable": None}})


class Background:
    """A kubectl running in the background, and its output lines so far."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self._queue: queue.Queue[str] = queue.Queue()
        self._lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put(line.rstrip("\n"))

    @property
    def lines(self) -> list[str]:
        while not self._queue.empty():
            self._lines.append(self._queue.get())
        return list(self._lines)

    def stop(self) -> None:
        """Stop kubectl (as Ctrl-C would) and read the rest of its output."""
        self.process.terminate()
        self.process.wait(timeout=10)
        self._reader.join(timeout=10)


def table(output: str) -> tuple[list[str], list[list[str]]]:
    """Header and rows of kubectl's table output; columns are 2+ spaces apart."""
    lines = [line for line in output.splitlines() if line.strip()]
    split = [re.split(r"\s{2,}", line.strip()) for line in lines]
    return split[0], split[1:]


# get -------------------------------------------------------------------------------------


def test_get_pods_prints_the_pod_table(cli: Kubectl, apps: client.AppsV1Api,
                                       core: client.CoreV1Api, namespace: str) -> None:
    """`kubectl get pods` prints NAME READY STATUS RESTARTS AGE with one row per pod."""
    pods = create_deployment(apps, core, namespace, deployment("web", 2))
    header, rows = table(cli("get", "pods").stdout)
    assert header == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert [row[0] for row in rows] == [p.metadata.name for p in pods]
    for row in rows:
        assert row[1:4] == ["1/1", "Running", "0"]
        assert re.fullmatch(r"\d+(s|m\d*s?)", row[4]), f"AGE {row[4]!r}"


def test_get_pods_wide_shows_ip_and_node(cli: Kubectl, apps: client.AppsV1Api,
                                         core: client.CoreV1Api, namespace: str) -> None:
    """`-o wide` adds IP, NODE, NOMINATED NODE and READINESS GATES from the pod."""
    pods = create_deployment(apps, core, namespace, deployment("web", 2))
    header, rows = table(cli("get", "pods", "-o", "wide").stdout)
    assert header == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE",
                      "NOMINATED NODE", "READINESS GATES"]
    assert {row[0]: (row[5], row[6], row[7], row[8]) for row in rows} == {
        p.metadata.name: (p.status.pod_ip, p.spec.node_name, "<none>", "<none>")
        for p in pods}


def test_get_json_prints_the_stored_pods(cli: Kubectl, apps: client.AppsV1Api,
                                         core: client.CoreV1Api, namespace: str) -> None:
    """`-o json` is a List of the very pods the API holds (uids, nodes, phase)."""
    pods = create_deployment(apps, core, namespace, deployment("web", 2))
    listed = json.loads(cli("get", "pods", "-o", "json").stdout)
    assert listed["kind"] == "List"
    assert {(i["kind"], i["apiVersion"]) for i in listed["items"]} == {("Pod", "v1")}
    assert {i["metadata"]["uid"]: (i["spec"]["nodeName"], i["status"]["phase"])
            for i in listed["items"]} == {
        p.metadata.uid: (p.spec.node_name, "Running") for p in pods}


def test_get_with_label_selector_lists_only_matching_pods(
        cli: Kubectl, apps: client.AppsV1Api, core: client.CoreV1Api, namespace: str) -> None:
    """`-l` filters by label, equality-based and set-based."""
    web = create_deployment(apps, core, namespace, deployment("web", 2))
    db = create_deployment(apps, core, namespace, deployment("db", 1))
    assert cli("get", "pods", "-l", "app=web", "-o", "name").stdout.split() == [
        f"pod/{p.metadata.name}" for p in web]
    assert cli("get", "pods", "-l", "app notin (web)", "-o", "name").stdout.split() == [
        f"pod/{p.metadata.name}" for p in db]
    nothing = cli("get", "pods", "-l", "app=nope")
    assert nothing.stdout == ""
    assert f"No resources found in {namespace} namespace." in nothing.stderr


def test_get_with_field_selector_filters_on_the_server(
        cli: Kubectl, apps: client.AppsV1Api, core: client.CoreV1Api, namespace: str) -> None:
    """`--field-selector` by spec.nodeName and status.phase; unknown fields are refused."""
    pods = create_deployment(apps, core, namespace, deployment("web", 3))
    node = pods[0].spec.node_name
    on_node = cli("get", "pods", "--field-selector", f"spec.nodeName={node}", "-o", "name")
    assert on_node.stdout.split() == [
        f"pod/{p.metadata.name}" for p in pods if p.spec.node_name == node]
    assert len(cli("get", "pods", "--field-selector", "status.phase=Running",
                   "-o", "name").stdout.split()) == 3
    assert cli("get", "pods", "--field-selector", "status.phase=Pending",
               "-o", "name").stdout == ""
    refused = cli("get", "pods", "--field-selector", "spec.color=blue", ok=False)
    assert refused.returncode == 1
    assert "field label not supported: spec.color" in refused.stderr


def test_get_watch_shows_a_deleted_pod_and_its_replacement(
        cli: Kubectl, apps: client.AppsV1Api, core: client.CoreV1Api, namespace: str) -> None:
    """`get -w` streams the deletion of a pod and the ADDED replacement, until stopped."""
    pods = create_deployment(apps, core, namespace, deployment("web", 2))
    names = {p.metadata.name for p in pods}
    victim = pods[0].metadata.name
    with cli.background("get", "pods", "--watch", "--output-watch-events") as watch:

        def saw(event: str, name: str) -> bool:
            return any(line.split()[:2] == [event, name] for line in watch.lines)

        for name in names:
            eventually(lambda name=name: saw("ADDED", name),
                       f"an ADDED line for {name}", timeout=WAIT)
        cli("delete", "pod", victim, "--wait=false")
        eventually(lambda: saw("DELETED", victim), f"a DELETED line for {victim}", timeout=WAIT)
        replacement = eventually(
            lambda: [p.metadata.name for p in running(core, namespace, "app=web", 2)
                     if p.metadata.name not in names], "a replacement pod to run", timeout=WAIT)[0]
        eventually(lambda: saw("ADDED", replacement),
                   f"an ADDED line for {replacement}", timeout=WAIT)
        assert watch.process.poll() is None, "kubectl get -w stopped on its own"


# apply and delete -f --------------------------------------------------------------------


def test_apply_creates_configures_and_delete_removes_a_deployment(
        cli: Kubectl, apps: client.AppsV1Api, core: client.CoreV1Api, namespace: str) -> None:
    """`apply -f -` creates, leaves an unchanged manifest alone, merges a change; delete -f."""
    manifest = deployment("web", 2)
    manifest["metadata"]["labels"] = {"tier": "frontend"}
    assert cli("apply", "-f", "-", stdin=json.dumps(manifest)).stdout.strip() == (
        "deployment.apps/web created")
    eventually(lambda: running(core, namespace, "app=web", 2),
               "2 running pods after apply", timeout=WAIT)
    assert cli("apply", "-f", "-", stdin=json.dumps(manifest)).stdout.strip() == (
        "deployment.apps/web unchanged")
    changed = deployment("web", 3)  # the label is gone from the manifest: apply removes it
    assert cli("apply", "-f", "-", stdin=json.dumps(changed)).stdout.strip() == (
        "deployment.apps/web configured")
    live = apps.read_namespaced_deployment("web", namespace)
    assert live.spec.replicas == 3
    assert "tier" not in (live.metadata.labels or {})
    applied = json.loads(live.metadata.annotations[
        "kubectl.kubernetes.io/last-applied-configuration"])
    assert applied["spec"]["replicas"] == 3
    eventually(lambda: running(core, namespace, "app=web", 3),
               "3 running pods after apply", timeout=WAIT)
    assert cli("delete", "-f", "-", stdin=json.dumps(changed)).stdout.startswith(
        'deployment.apps "web" deleted')
    eventually(lambda: not apps.list_namespaced_deployment(namespace).items
               and not live_pods(core, namespace),
               "the deployment and its pods to go", timeout=WAIT)


# describe --------------------------------------------------------------------------------


def test_describe_pod_shows_node_owner_conditions_and_events(
        cli: Kubectl, apps: client.AppsV1Api, core: client.CoreV1Api, namespace: str) -> None:
    """`describe pod` shows where it runs, who owns it, its conditions and Scheduled event."""
    pod = create_deployment(apps, core, namespace, deployment("web", 1))[0]
    name, node = pod.metadata.name, pod.spec.node_name
    rs = pod.metadata.owner_references[0].name

    def described() -> str:
        out = cli("describe", "pod", name).stdout
        return out if "Scheduled" in out else ""

    out = eventually(described, "describe to show the Scheduled event", timeout=WAIT)
    assert re.search(rf"^Name:\s+{name}$", out, re.MULTILINE)
    assert re.search(rf"^Node:\s+{node}/", out, re.MULTILINE)
    assert re.search(r"^Status:\s+Running$", out, re.MULTILINE)
    assert re.search(rf"^Controlled By:\s+ReplicaSet/{rs}$", out, re.MULTILINE)
    conditions = out.split("\nConditions:\n", 1)[1].split("\nVolumes:", 1)[0]
    for condition in ("Initialized", "Ready", "ContainersReady", "PodScheduled"):
        assert re.search(rf"^\s+{condition}\s+True\s*$", conditions, re.MULTILINE), condition
    assert re.search(rf"Normal\s+Scheduled\s+.*Successfully assigned {namespace}/{name} to "
                     rf"{node}$", out, re.MULTILINE)


def test_describe_deployment_shows_replicas_conditions_and_scaling(
        cli: Kubectl, apps: client.AppsV1Api, core: client.CoreV1Api, namespace: str) -> None:
    """`describe deployment`: replica counts, Available/Progressing, ScalingReplicaSet."""
    create_deployment(apps, core, namespace, deployment("web", 2))
    rs = replica_sets(apps, namespace, "web")[0].metadata.name
    out = cli("describe", "deployment", "web").stdout
    assert re.search(r"^Replicas:\s+2 desired \| 2 updated \| 2 total \| 2 available \| "
                     r"0 unavailable$", out, re.MULTILINE)
    assert re.search(r"^\s+Available\s+True\s+MinimumReplicasAvailable$", out, re.MULTILINE)
    assert re.search(r"^\s+Progressing\s+True\s+NewReplicaSetAvailable$", out, re.MULTILINE)
    assert re.search(rf"^NewReplicaSet:\s+{rs} \(2/2 replicas created\)$", out, re.MULTILINE)
    assert re.search(rf"Normal\s+ScalingReplicaSet\s+.*Scaled up replica set {rs} from 0 "
                     "to 2$", out, re.MULTILINE)


def test_describe_deployment_lists_each_rolling_update_step_once(
        cli: Kubectl, apps: client.AppsV1Api, core: client.CoreV1Api, namespace: str) -> None:
    """After a rollout the events are the real steps: surge one, retire one, and so on."""
    create_deployment(apps, core, namespace, deployment("web", 2))
    old = replica_sets(apps, namespace, "web")[0].metadata.name
    cli("rollout", "restart", "deployment/web")
    eventually(lambda: rolled_out(apps, namespace, "web")
               and len(replica_sets(apps, namespace, "web")) == 2,
               "the restart to finish", timeout=WAIT)
    new = next(rs.metadata.name for rs in replica_sets(apps, namespace, "web")
               if rs.metadata.name != old)
    out = cli("describe", "deployment", "web").stdout
    steps = sorted(re.findall(r"ScalingReplicaSet\s+\S+\s+deployment-controller\s+(.*)$",
                              out, re.MULTILINE))
    assert steps == sorted([f"Scaled up replica set {old} from 0 to 2",
                            f"Scaled up replica set {new} from 0 to 1",
                            f"Scaled down replica set {old} from 2 to 1",
                            f"Scaled up replica set {new} from 1 to 2",
                            f"Scaled down replica set {old} from 1 to 0"])


# scale and rollouts ----------------------------------------------------------------------


def test_scale_sets_replicas_and_the_pods_follow(cli: Kubectl, apps: client.AppsV1Api,
                                                 core: client.CoreV1Api, namespace: str) -> None:
    """`kubectl scale` changes spec.replicas; pods are added, then removed."""
    create_deployment(apps, core, namespace, deployment("web", 1))
    assert cli("scale", "deployment/web", "--replicas=4").stdout.strip() == (
        "deployment.apps/web scaled")
    assert apps.read_namespaced_deployment("web", namespace).spec.replicas == 4
    eventually(lambda: running(core, namespace, "app=web", 4), "4 running pods", timeout=WAIT)
    cli("scale", "deployment/web", "--replicas=2")
    assert apps.read_namespaced_deployment("web", namespace).spec.replicas == 2
    eventually(lambda: running(core, namespace, "app=web", 2), "2 running pods again", timeout=WAIT)
    eventually(lambda: rolled_out(apps, namespace, "web"),
               "the status to show 2 replicas", timeout=WAIT)


def test_rollout_restart_replaces_every_pod_through_a_new_replicaset(
        cli: Kubectl, apps: client.AppsV1Api, core: client.CoreV1Api, namespace: str) -> None:
    """`rollout restart` stamps restartedAt on the template; a new ReplicaSet takes over."""
    old_pods = create_deployment(apps, core, namespace, deployment("web", 2))
    old_rs = replica_sets(apps, namespace, "web")[0]
    assert cli("rollout", "restart", "deployment/web").stdout.strip() == (
        "deployment.apps/web restarted")
    template = apps.read_namespaced_deployment("web", namespace).spec.template
    stamp = template.metadata.annotations["kubectl.kubernetes.io/restartedAt"]
    restarted_at = datetime.fromisoformat(stamp)
    assert abs(datetime.now(UTC) - restarted_at) < timedelta(minutes=1)
    eventually(lambda: rolled_out(apps, namespace, "web"), "the restart to finish", timeout=WAIT)
    new_rs = next(rs for rs in replica_sets(apps, namespace, "web")
                  if rs.metadata.uid != old_rs.metadata.uid)
    assert new_rs.spec.template.metadata.annotations[
        "kubectl.kubernetes.io/restartedAt"] == stamp
    pods = eventually(lambda: running(core, namespace, "app=web", 2),
                      "the pods to settle", timeout=WAIT)
    assert {owner_uid(p) for p in pods} == {new_rs.metadata.uid}
    old_uids = {p.metadata.uid for p in old_pods}
    eventually(lambda: not old_uids & {p.metadata.uid for p in core.list_namespaced_pod(
        namespace).items}, "the old pods to be removed", timeout=WAIT)
    assert apps.read_namespaced_replica_set(old_rs.metadata.name, namespace).spec.replicas == 0


def test_rollout_status_reports_success_once_rolled_out(
        cli: Kubectl, apps: client.AppsV1Api, core: client.CoreV1Api, namespace: str) -> None:
    """`rollout status` exits 0 with "successfully rolled out" only when the rollout is done."""
    create_deployment(apps, core, namespace, deployment("web", 3))
    cli("rollout", "restart", "deployment/web")
    result = cli("rollout", "status", "deployment/web", "--timeout=30s")
    assert result.stdout.splitlines()[-1] == 'deployment "web" successfully rolled out'
    # no waiting here: kubectl may only have returned once the rollout was complete
    assert rolled_out(apps, namespace, "web"), "rollout status returned before the rollout"


@pytest.mark.sandbox_only
def test_rollout_status_waits_while_a_new_pod_is_not_ready(
        cli: Kubectl, sandbox: Sandbox, apps: client.AppsV1Api, core: client.CoreV1Api,
        namespace: str) -> None:
    """`rollout status` reports progress and waits on an unready new pod until it is ready."""
    create_deployment(apps, core, namespace, deployment("web", 2))
    sandbox.set_pod_behaviour("not-ready", namespace=namespace, labels={"release": "v2"},
                              persist=True)
    apps.patch_namespaced_deployment("web", namespace, {"spec": {"template": {
        "metadata": {"labels": {"release": "v2"}}}}})
    waiting = ('Waiting for deployment "web" rollout to finish: 1 out of 2 new replicas have '
               "been updated...")
    with cli.background("rollout", "status", "deployment/web", "--timeout=30s") as status:
        eventually(lambda: waiting in status.lines,
                   "rollout status to report progress", timeout=WAIT)
        with pytest.raises(subprocess.TimeoutExpired):
            status.process.wait(timeout=0.5)  # the new pod is not ready: it must keep waiting
        assert not rolled_out(apps, namespace, "web")
        sandbox.heal_pods()
        assert status.process.wait(timeout=WAIT) == 0, status.lines
        assert rolled_out(apps, namespace, "web"), "rollout status returned before the rollout"
    assert status.lines[-1] == 'deployment "web" successfully rolled out'


def test_rollout_undo_returns_to_the_previous_template_and_replicaset(
        cli: Kubectl, apps: client.AppsV1Api, core: client.CoreV1Api, namespace: str) -> None:
    """`rollout undo` restores the previous template and scales its old ReplicaSet back up."""
    create_deployment(apps, core, namespace, deployment("web", 2))
    first = replica_sets(apps, namespace, "web")[0]
    apps.patch_namespaced_deployment("web", namespace, {"spec": {"template": {"metadata": {
        "annotations": {"example.com/release": "2"}}}}})
    eventually(lambda: rolled_out(apps, namespace, "web")
               and len(replica_sets(apps, namespace, "web")) == 2,
               "release 2 to roll out", timeout=WAIT)
    assert cli("rollout", "undo", "deployment/web").stdout.strip() == (
        "deployment.apps/web rolled back")
    template = apps.read_namespaced_deployment("web", namespace).spec.template
    assert "example.com/release" not in (template.metadata.annotations or {})
    eventually(lambda: rolled_out(apps, namespace, "web"), "the undo to roll out", timeout=WAIT)
    sets = {rs.metadata.uid: rs for rs in replica_sets(apps, namespace, "web")}
    assert len(sets) == 2, "undo created a ReplicaSet instead of reusing the old one"
    reused = sets[first.metadata.uid]
    assert reused.spec.replicas == 2
    assert reused.metadata.annotations["deployment.kubernetes.io/revision"] == "3"
    pods = eventually(lambda: running(core, namespace, "app=web", 2),
                      "the pods to settle", timeout=WAIT)
    assert {owner_uid(p) for p in pods} == {first.metadata.uid}
    history = cli("rollout", "history", "deployment/web").stdout
    assert [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == ["2", "3"]


# pods and nodes --------------------------------------------------------------------------


def test_delete_pod_waits_for_it_and_a_new_pod_replaces_it(
        cli: Kubectl, apps: client.AppsV1Api, core: client.CoreV1Api, namespace: str) -> None:
    """`delete pod` returns once the pod is gone; its ReplicaSet starts one with a new uid."""
    pods = create_deployment(apps, core, namespace, deployment("web", 2))
    victim = pods[0]
    result = cli("delete", "pod", victim.metadata.name)
    assert result.stdout.startswith(f'pod "{victim.metadata.name}" deleted')
    with pytest.raises(ApiException) as gone:
        core.read_namespaced_pod(victim.metadata.name, namespace)
    assert gone.value.status == 404
    now = eventually(lambda: running(core, namespace, "app=web", 2),
                     "a replacement pod to run", timeout=WAIT)
    uids = {p.metadata.uid for p in now}
    assert victim.metadata.uid not in uids
    assert pods[1].metadata.uid in uids


def test_cordon_blocks_scheduling_until_uncordon(cli: Kubectl, apps: client.AppsV1Api,
                                                 core: client.CoreV1Api, namespace: str) -> None:
    """Cordon: unschedulable, tainted, SchedulingDisabled; new pods go elsewhere or wait."""
    nodes = schedulable_nodes(core)
    node = nodes[0]
    hostname = core.read_node(node).metadata.labels["kubernetes.io/hostname"]
    try:
        assert cli("cordon", node).stdout.strip() == f"node/{node} cordoned"
        assert core.read_node(node).spec.unschedulable is True
        eventually(lambda: any(t.key == "node.kubernetes.io/unschedulable"
                               and t.effect == "NoSchedule"
                               for t in core.read_node(node).spec.taints or []),
                   "the unschedulable taint", timeout=WAIT)
        _, rows = table(cli("get", "nodes", node).stdout)
        assert rows[0][:2] == [node, "Ready,SchedulingDisabled"]
        apps.create_namespaced_deployment(namespace, deployment(
            "pinned", 1, node_selector={"kubernetes.io/hostname": hostname}))
        pending = eventually(lambda: [p for p in live_pods(core, namespace, "app=pinned")
                                      if any(c.type == "PodScheduled" and c.status == "False"
                                             and c.reason == "Unschedulable"
                                             for c in p.status.conditions or [])],
                             "the pinned pod to be found unschedulable", timeout=WAIT)[0]
        assert pending.spec.node_name is None
        if len(nodes) > 1:  # pods free to go anywhere: two per node, none on this one
            spread = create_deployment(apps, core, namespace,
                                       deployment("spread", 2 * len(nodes)))
            assert node not in {p.spec.node_name for p in spread}
        assert cli("uncordon", node).stdout.strip() == f"node/{node} uncordoned"
        assert not core.read_node(node).spec.unschedulable
        eventually(lambda: not any(t.key == "node.kubernetes.io/unschedulable"
                                   for t in core.read_node(node).spec.taints or []),
                   "the unschedulable taint to go", timeout=WAIT)
        pod = eventually(lambda: running(core, namespace, "app=pinned", 1),
                         "the pinned pod to run after uncordon", timeout=WAIT)[0]
        assert pod.spec.node_name == node
    finally:
        uncordon(core, node)


def test_drain_evicts_pods_to_other_nodes_and_leaves_daemonset_pods(
        cli: Kubectl, apps: client.AppsV1Api, core: client.CoreV1Api, namespace: str) -> None:
    """`drain --ignore-daemonsets` cordons, evicts and reschedules; DaemonSet pods stay."""
    nodes = schedulable_nodes(core)
    if len(nodes) < 2:
        pytest.skip("draining needs a second schedulable node to move pods to")
    mark = {"drained-by": namespace}
    pods = create_deployment(apps, core, namespace, deployment("web", len(nodes) + 1,
                                                                labels=mark))
    apps.create_namespaced_daemon_set(namespace, {
        "apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent"},
        "spec": {"selector": {"matchLabels": {"app": "agent"}}, "template": {
            "metadata": {"labels": {"app": "agent", **mark}},
            "spec": {"containers": [{"name": "pause", "image": IMAGE}]}}}})
    node = next(p.spec.node_name for p in pods if p.spec.node_name in nodes)
    agent = eventually(lambda: [p for p in running(core, namespace, "app=agent", len(nodes))
                                if p.spec.node_name == node],
                       f"the DaemonSet pod to run on {node}", timeout=WAIT)[0]
    evicted = [p for p in pods if p.spec.node_name == node]
    try:
        result = cli("drain", node, "--ignore-daemonsets", "--pod-selector",
                     f"drained-by={namespace}", "--timeout=30s")
        assert f"node/{node} drained" in result.stdout
        for pod in evicted:
            assert f"evicting pod {namespace}/{pod.metadata.name}" in result.stdout
            assert f"pod/{pod.metadata.name} evicted" in result.stdout
        assert (f"Warning: ignoring DaemonSet-managed Pods: {namespace}/{agent.metadata.name}"
                in result.stderr)
        assert core.read_node(node).spec.unschedulable is True
        now = eventually(lambda: running(core, namespace, "app=web", len(nodes) + 1),
                         "the evicted pods to be replaced", timeout=WAIT)
        assert not {p.metadata.uid for p in evicted} & {p.metadata.uid for p in now}
        assert node not in {p.spec.node_name for p in now}
        still = core.read_namespaced_pod(agent.metadata.name, namespace)
        assert still.metadata.uid == agent.metadata.uid
        assert still.metadata.deletion_timestamp is None
    finally:
        uncordon(core, node)


def test_drain_is_blocked_by_a_disruption_budget(cli: Kubectl, apps: client.AppsV1Api,
                                                 core: client.CoreV1Api,
                                                 kube: client.ApiClient, namespace: str) -> None:
    """A budget allowing no disruption makes eviction 429 and the drain fail; pods stay."""
    mark = {"drained-by": namespace}
    pods = create_deployment(apps, core, namespace, deployment("web", 2, labels=mark))
    policy = client.PolicyV1Api(kube)
    policy.create_namespaced_pod_disruption_budget(namespace, {
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "web"},
        "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "web"}}}})

    def budget_settled() -> bool:
        pdb = policy.read_namespaced_pod_disruption_budget("web", namespace)
        if pdb.status is None:  # as for deployments: the sandbox's new PDB has no status yet
            return False
        return ((pdb.status.observed_generation or 0) >= pdb.metadata.generation
                and pdb.status.current_healthy == 2 and pdb.status.disruptions_allowed == 0)

    eventually(budget_settled, "the budget's status to count the pods", timeout=WAIT)
    pod = pods[0]
    node = pod.spec.node_name
    try:
        result = cli("drain", node, "--ignore-daemonsets", "--pod-selector",
                     f"drained-by={namespace}", "--timeout=1s", ok=False)
        assert result.returncode == 1
        # kubectl prints "will retry" only for a 429 TooManyRequests answer
        assert (f'error when evicting pods/"{pod.metadata.name}" -n "{namespace}" (will retry '
                "after 5s): Cannot evict pod as it would violate the pod's disruption budget."
                in result.stderr)
        assert f"unable to drain node \"{node}\"" in result.stderr
        still = core.read_namespaced_pod(pod.metadata.name, namespace)
        assert still.metadata.uid == pod.metadata.uid
        assert still.metadata.deletion_timestamp is None
    finally:
        uncordon(core, node)


# pod faults (sandbox) --------------------------------------------------------------------


@pytest.mark.sandbox_only
def test_get_shows_a_crash_loop_with_rising_restarts(
        cli: Kubectl, sandbox: Sandbox, apps: client.AppsV1Api, core: client.CoreV1Api,
        namespace: str) -> None:
    """A crash-looping pod reads 0/1 CrashLoopBackOff, RESTARTS climbing; describe says why."""
    pod = create_deployment(apps, core, namespace, deployment("web", 1))[0]
    name = pod.metadata.name
    assert sandbox.set_pod_behaviour("crash-loop", namespace=namespace,
                                     labels={"app": "web"}) == [name]

    def row() -> list[str]:
        _, rows = table(cli("get", "pods").stdout)
        return rows[0]

    def restarts_above(count: int) -> int:
        shown = row()
        assert shown[0] == name
        if shown[1:3] != ["0/1", "CrashLoopBackOff"]:
            return 0
        restarts = int(shown[3].split()[0])
        assert re.fullmatch(r"\d+ \(\d+m?\d*s ago\)", shown[3]), shown[3]
        return restarts if restarts > count else 0

    first = eventually(lambda: restarts_above(0), "CrashLoopBackOff with restarts", timeout=WAIT)
    eventually(lambda: restarts_above(first), f"RESTARTS to rise above {first}", timeout=WAIT)
    out = cli("describe", "pod", name).stdout
    assert re.search(r"^\s+State:\s+Waiting\n\s+Reason:\s+CrashLoopBackOff$", out, re.MULTILINE)
    assert re.search(r"^\s+Last State:\s+Terminated\n\s+Reason:\s+Error\n\s+Exit Code:\s+1$",
                     out, re.MULTILINE)
    assert re.search(r"Warning\s+BackOff\s+.*Back-off restarting failed container pause",
                     out, re.MULTILINE)

