"""`Sandbox`: a whole simulated cluster — store, controllers, HTTP API — in one handle.

Start it as a context manager (tests, `healer demo`) or from `healer sandbox`. It writes a
kubeconfig for the real clients, and gives tests a handle to inspect objects, change pod
and node behaviour, inject API faults and see which requests were made.

Start-up order: controllers first (so they see every object being created), then the
default namespaces, the scenario's nodes and objects, then — once the controllers have
created the initial pods — the scenario's pod behaviours, and last the HTTP server.
"""

from __future__ import annotations

import random
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import yaml

from healer.errors import ConfigError
from healer.sandbox import admission
from healer.sandbox.api import Api, RequestRecord
from healer.sandbox.behaviour import Behaviours, NodeState, PodBehaviour, PodFault, PodSelector
from healer.sandbox.controllers.autoscaling import HorizontalPodAutoscalerController
from healer.sandbox.controllers.base import ControllerManager
from healer.sandbox.controllers.budgets import PodDisruptionBudgetController
from healer.sandbox.controllers.jobs import JobController
from healer.sandbox.controllers.lifecycle import GarbageCollector, NamespaceController
from healer.sandbox.controllers.nodes import Kubelet, NodeLifecycle, Scheduler
from healer.sandbox.controllers.sets import DaemonSetController, StatefulSetController
from healer.sandbox.controllers.workloads import DeploymentController, ReplicaSetController
from healer.sandbox.events import EventRecorder
from healer.sandbox.faults import Faults
from healer.sandbox.resources import ResourceRegistry
from healer.sandbox.scenario import DEFAULT_NODE_COUNT, NodeSpec, Scenario
from healer.sandbox.status import ApiError
from healer.sandbox.store import Obj, Store, meta

T = TypeVar("T")
C = TypeVar("C")

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


class Sandbox:
    """A simulated Kubernetes cluster served over HTTP on loopback."""

    def __init__(self, scenario: Scenario | None = None, *, host: str = "127.0.0.1",
                 port: int = 0, kubeconfig: Path | None = None, seed: int | None = None) -> None:
        self.scenario = scenario or Scenario()
        self.registry = ResourceRegistry()
        self.store = Store(admission.admit, rng=random.Random(seed))
        self.faults = Faults(seed=seed)
        self.behaviours = Behaviours(self.scenario.timing)
        recorder = EventRecorder(self.store, self.registry)
        controller_args = (self.store, self.registry, recorder)
        self.manager = ControllerManager(self.store, [
            NamespaceController(self.store, self.registry),
            GarbageCollector(self.store, self.registry),
            NodeLifecycle(self.store, self.registry, recorder, self.behaviours),
            Scheduler(*controller_args),
            Kubelet(self.store, self.registry, recorder, self.behaviours),
            ReplicaSetController(*controller_args),
            DeploymentController(*controller_args),
            StatefulSetController(*controller_args),
            DaemonSetController(*controller_args),
            JobController(*controller_args),
            PodDisruptionBudgetController(*controller_args),
            HorizontalPodAutoscalerController(*controller_args),
        ])
        self.api = Api(self.store, self.registry, self.faults)
        self._host, self._port = host, port
        self._kubeconfig_path = kubeconfig
        self._tempdir: tempfile.TemporaryDirectory[str] | None = None
        self.url = ""

    # lifecycle ----------------------------------------------------------------------

    def start(self) -> Sandbox:
        """Claim the address, bring the cluster up, then serve; a failure leaves nothing
        running."""
        try:
            host, port = self.api.bind(self._host, self._port)
        except OSError as error:
            raise ConfigError(f"cannot listen on {self._host}:{self._port}: "
                              f"{error.strerror or error}") from None
        self.url = f"http://{host}:{port}"
        try:
            self.manager.start()
            for name in SYSTEM_NAMESPACES:
                self.store.create(self.registry.core("namespaces"),
                                  {"metadata": {"name": name}})
            self._load(self.scenario)
            self.api.serve()
            self._write_kubeconfig()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        self.store.close_watches()
        self.api.stop()
        self.manager.stop()
        if self._tempdir is not None:
            self._tempdir.cleanup()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()

    @property
    def kubeconfig(self) -> Path:
        assert self._kubeconfig_path is not None, "start the sandbox first"
        return self._kubeconfig_path

    # inspecting ---------------------------------------------------------------------

    def get(self, plural: str, name: str, namespace: str = "") -> Obj | None:
        """The stored object, e.g. `get("deployments", "checkout", "shop")`, or None."""
        return self.store.find(self.registry.core(plural), namespace, name)

    def objects(self, plural: str, namespace: str | None = None,
             labels: Mapping[str, str] | None = None) -> list[Obj]:
        items = self.store.objects(self.registry.core(plural), namespace)
        wanted = labels or {}
        return [o for o in items
                if all((meta(o).get("labels") or {}).get(k) == v for k, v in wanted.items())]

    @property
    def requests(self) -> list[RequestRecord]:
        """The API requests served so far (oldest first), for asserting what a client did."""
        return list(self.api.records)

    def wait_for(self, condition: Callable[[], T], timeout: float = 10.0,
                 interval: float = 0.05, message: str = "") -> T:
        """Poll until `condition()` is truthy and return it; TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            value = condition()
            if value:
                return value
            if time.monotonic() >= deadline:
                raise TimeoutError(message or f"condition not met within {timeout}s")
            time.sleep(interval)

    def settle(self, timeout: float = 10.0) -> bool:
        """Wait until the controllers have no queued work (timed work may remain)."""
        return self.manager.wait_idle(timeout)

    # changing behaviour ---------------------------------------------------------------

    def apply(self, manifest: Mapping[str, Any]) -> Obj:
        """Create an object from a manifest, as `kubectl create` would."""
        resource = self.registry.for_object(manifest)
        if resource is None:
            raise ConfigError(f"the sandbox does not serve {manifest.get('apiVersion')} "
                              f"{manifest.get('kind')}")
        return self.store.create(resource, dict(manifest))

    def set_pod_behaviour(self, behaviour: str | PodFault, *, namespace: str | None = None,
                          labels: Mapping[str, str] | None = None, name: str | None = None,
                          count: int | None = None, persist: bool = False,
                          container: str | None = None, after: float = 0.0) -> list[str]:
        """Give matching pods a fault from now on; returns the pods that took it.

        Without `persist`, only pods that exist now are affected and their replacements
        are healthy; with it, every matching pod (up to `count` at a time) is.
        """
        rule = PodBehaviour(PodSelector(namespace, name, dict(labels or {})),
                            PodFault(behaviour), count, persist, container, after)
        return self._add_rule(rule)

    def heal_pods(self) -> None:
        """Clear every pod fault: failing pods turn healthy (their restart history stays)."""
        self.behaviours.clear()
        kubelet = self._controller(Kubelet)
        for pod in self.store.objects(self.registry.core("pods")):
            self.manager.enqueue(kubelet, (pod["metadata"]["namespace"], pod["metadata"]["name"]))

    def set_node_ready(self, name: str, state: str | NodeState) -> None:
        """Make a node Ready ("True"), NotReady ("False") or unreachable ("Unknown")."""
        self.behaviours.set_node(name, NodeState(state))
        self.manager.enqueue(self._controller(NodeLifecycle), name)

    # internals ----------------------------------------------------------------------

    def _controller(self, kind: type[C]) -> C:
        return next(c for c in self.manager.controllers if isinstance(c, kind))

    def _add_rule(self, rule: PodBehaviour) -> list[str]:
        taken = self.behaviours.add(rule, self.store.objects(self.registry.core("pods")))
        kubelet = self._controller(Kubelet)
        for pod in self.store.objects(self.registry.core("pods")):
            if meta(pod).get("name") in taken or rule.selector.matches(pod):
                self.manager.enqueue(kubelet, (meta(pod)["namespace"], meta(pod)["name"]))
        return taken

    def _load(self, scenario: Scenario) -> None:
        namespaces = self.registry.core("namespaces")
        nodes = list(scenario.nodes)
        declared_nodes = [o for o in scenario.objects if o.get("kind") == "Node"]
        if not nodes and not declared_nodes:
            nodes = [NodeSpec(f"node-{i}") for i in range(1, DEFAULT_NODE_COUNT + 1)]
        for spec in nodes:
            if spec.ready is not NodeState.READY:
                self.behaviours.set_node(spec.name, spec.ready)
            self.store.create(self.registry.core("nodes"), {
                "metadata": {"name": spec.name, "labels": {
                    "kubernetes.io/hostname": spec.name, "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64", **spec.labels}},
                "spec": {}})
        ordered = sorted(scenario.objects, key=lambda o: {"Namespace": 0, "Node": 1}.get(
            str(o.get("kind")), 2))
        for index, manifest in enumerate(ordered):
            resource = self.registry.for_object(manifest)
            where = f"objects: {manifest.get('kind')} {meta(manifest).get('name')!r}"
            if resource is None:
                raise ConfigError(f"{where}: the sandbox does not serve "
                                  f"{manifest.get('apiVersion')} {manifest.get('kind')}")
            namespace = meta(manifest).get("namespace") or ("default" if resource.namespaced
                                                             else "")
            if resource.namespaced and self.store.find(namespaces, "", namespace) is None:
                self.store.create(namespaces, {"metadata": {"name": namespace}})
            obj = yaml.safe_load(yaml.safe_dump(dict(manifest)))  # a private deep copy
            if resource.namespaced:
                obj["metadata"]["namespace"] = namespace
            try:
                self.store.create(resource, obj)
            except ApiError as error:
                raise ConfigError(f"{where} (#{index + 1}): {error.message}") from None
        self.manager.wait_idle()
        for rule in scenario.pods:
            self._add_rule(rule)

    def _write_kubeconfig(self) -> None:
        if self._kubeconfig_path is None:
            self._tempdir = tempfile.TemporaryDirectory(prefix="healer-sandbox-")
            self._kubeconfig_path = Path(self._tempdir.name) / "kubeconfig"
        config = {
            "apiVersion": "v1", "kind": "Config", "preferences": {},
            "clusters": [{"name": "healer-sandbox", "cluster": {"server": self.url}}],
            "users": [{"name": "healer-sandbox", "user": {}}],
            "contexts": [{"name": "healer-sandbox",
                          "context": {"cluster": "healer-sandbox", "user": "healer-sandbox",
                                      "namespace": "default"}}],
            "current-context": "healer-sandbox",
        }
        self._kubeconfig_path.parent.mkdir(parents=True, exist_ok=True)
        self._kubeconfig_path.write_text(yaml.safe_dump(config, sort_keys=False))
