"""Fixtures shared by every test: external binaries and the cluster under test.

- `require_tool(name)`: the path of a binary the test needs (kubectl, helm, prometheus ...).
  A missing binary skips the test with the reason, or fails it when
  HEALER_REQUIRE_TOOLS=1 (CI sets it: there a missing binary is a broken set-up).
- `cluster`: the Kubernetes cluster integration tests run against. By default a sandbox
  started once per session with fast timings; with HEALER_TEST_KUBECONFIG set, that real
  cluster instead, and tests marked `sandbox_only` (fault injection, forced pod
  behaviour) are skipped.
- `namespace`: a fresh namespace per test, deleted afterwards, so tests never see each
  other's objects and can run against a shared real cluster.
- `kube`, `core`, `apps`: a `kubernetes` API client for the cluster, and the CoreV1 and
  AppsV1 APIs on it.
- `facade`: healer's kube facade (`healer.kube.Kube`) on the cluster, with the `FAST`
  retry policy: what is retried is under test, not how long the backoff sleeps.
- `wait`: `tests.support.eventually` with the patience the cluster needs: 10 s on the
  sandbox, 50 s on a real cluster.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import settings
from kubernetes import client, config

from healer.kube import Kube, RetryPolicy
from healer.sandbox import Sandbox
from healer.sandbox.behaviour import Timing
from healer.sandbox.scenario import NodeSpec, Scenario
from tests.support import Wait

# seconds `wait` polls for: the sandbox answers in a fraction of that, a real cluster may not
SANDBOX_PATIENCE = 10.0
REAL_CLUSTER_PATIENCE = 50.0

VENV_BIN = Path(__file__).resolve().parent.parent / ".venv" / "bin"

# Property tests check what holds for every input, not how fast one example runs: a per-
# example deadline would only make them flaky on a busy CI machine.
settings.register_profile("healer", deadline=None, print_blob=True)
settings.load_profile("healer")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """On a real cluster, skip the tests marked `sandbox_only` before they start."""
    if not os.environ.get("HEALER_TEST_KUBECONFIG"):
        return
    skip = pytest.mark.skip(reason="needs the sandbox (fault injection or forced behaviour); "
                                   "HEALER_TEST_KUBECONFIG points at a real cluster")
    for item in items:
        if item.get_closest_marker("sandbox_only") is not None:
            item.add_marker(skip)

# Fast but still ordered: pods start, crash and terminate within a fraction of a second.
TEST_TIMING = Timing(pod_start=0.2, restart_interval=0.5, termination=0.2, job_run=0.3)
# Retries without the waits: what is retried is under test, not how long the backoff
# sleeps (Retry-After waits stay real: honouring them is the behaviour).
FAST = RetryPolicy(attempts=5, budget=10.0, backoff=0.0, backoff_max=0.0)


def require_tool(name: str) -> str:
    """The path of binary `name`; skip (or fail under HEALER_REQUIRE_TOOLS=1) if missing."""
    # the version tests/run pinned first: PATH may hold another (gcloud's kubectl is 1.32)
    found = shutil.which(name, path=str(VENV_BIN)) or shutil.which(name)
    if found:
        return found
    reason = (f"{name} is not installed: run tests/run, which installs it "
              "(or put it on PATH)")
    if os.environ.get("HEALER_REQUIRE_TOOLS") == "1":
        pytest.fail(f"{reason}; HEALER_REQUIRE_TOOLS=1 turns this skip into a failure")
    pytest.skip(reason)


@dataclass(frozen=True)
class Cluster:
    """The cluster under test: its kubeconfig, and the sandbox handle when simulated."""

    kubeconfig: Path
    sandbox: Sandbox | None

    def simulated(self) -> Sandbox:
        """The sandbox handle; skips the test on a real cluster."""
        if self.sandbox is None:
            pytest.skip("needs the sandbox (fault injection or forced behaviour); "
                        "HEALER_TEST_KUBECONFIG points at a real cluster")
        return self.sandbox


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    real = os.environ.get("HEALER_TEST_KUBECONFIG")
    if real:
        yield Cluster(Path(real), None)
        return
    scenario = Scenario(name="tests", timing=TEST_TIMING,
                        nodes=tuple(NodeSpec(f"node-{i}") for i in (1, 2, 3)))
    kubeconfig = tmp_path_factory.mktemp("sandbox") / "kubeconfig"
    with Sandbox(scenario, kubeconfig=kubeconfig) as sandbox:
        yield Cluster(kubeconfig, sandbox)


@pytest.fixture(autouse=True)
def _clean_sandbox(request: pytest.FixtureRequest) -> Iterator[None]:
    """Faults and forced behaviours never leak from one test into the next."""
    yield
    if "cluster" in request.fixturenames:
        sandbox = request.getfixturevalue("cluster").sandbox
        if sandbox is not None:
            sandbox.faults.clear()
            sandbox.heal_pods()
            for node in sandbox.objects("nodes"):
                sandbox.set_node_ready(node["metadata"]["name"], "True")


@pytest.fixture
def sandbox(cluster: Cluster) -> Sandbox:
    """The sandbox handle (skips on a real cluster)."""
    return cluster.simulated()


@pytest.fixture
def kubectl(cluster: Cluster) -> str:
    return require_tool("kubectl")


@pytest.fixture
def namespace(cluster: Cluster) -> Iterator[str]:
    """A fresh namespace for one test, deleted (without waiting) afterwards."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    api = client.CoreV1Api(config.new_client_from_config(config_file=str(cluster.kubeconfig)))
    api.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    yield name
    api.delete_namespace(name)
    api.api_client.close()


@pytest.fixture
def kube(cluster: Cluster) -> Iterator[client.ApiClient]:
    """A `kubernetes` API client for the cluster under test."""
    api = config.new_client_from_config(config_file=str(cluster.kubeconfig))
    yield api
    api.close()


@pytest.fixture
def core(kube: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(kube)


@pytest.fixture
def apps(kube: client.ApiClient) -> client.AppsV1Api:
    return client.AppsV1Api(kube)


@pytest.fixture
def facade(cluster: Cluster) -> Iterator[Kube]:
    """The kube facade, as healer builds it, with retries that do not sleep."""
    with Kube.connect(cluster.kubeconfig, retry=FAST) as facade:
        yield facade


@pytest.fixture
def wait(cluster: Cluster) -> Wait:
    """Poll until a condition holds, as long as the cluster under test may need."""
    return Wait(SANDBOX_PATIENCE if cluster.sandbox is not None else REAL_CLUSTER_PATIENCE)
