"""API faults injected into the sandbox, as the official Python client experiences them.

Sandbox only. Covers `sandbox.faults.inject`:
- status faults for the next N matching requests (503, then the API works again), and
  matching by verb and resource, subresources included (`pods/eviction`);
- 429 with a `Retry-After` header and `retryAfterSeconds` in the Status body (which
  the client's default urllib3 retries wait out on reads);
- latency (the answer comes no sooner than the delay);
- dropped connections (a urllib3 protocol error with retries off; with the client's
  default retries a dropped GET is retried transparently);
- answers lost after serving (`drop_after`): the DELETE or PATCH happened, the client saw
  a dropped connection, a retried DELETE answers 404; with latency, the connection closes
  no sooner than the delay; a fault is one of status, drop or drop_after;
- a `fraction` of matching requests, over a bounded number of requests;
- removing a fault;
and `sandbox.requests`, the record of what a client did: verb, resource (with
subresource), namespace, name, status code, dry run, dropped.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
import urllib3
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from healer.sandbox import Sandbox
from healer.sandbox.faults import Fault

pytestmark = pytest.mark.sandbox_only


@pytest.fixture
def core(kube: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(kube)


@pytest.fixture
def settings(core: client.CoreV1Api, namespace: str) -> str:
    """A ConfigMap to read and patch; its name."""
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "settings"},
                                                  "data": {"mode": "fast"}})
    return "settings"


@pytest.fixture
def no_retries(sandbox: Sandbox) -> Iterator[client.CoreV1Api]:
    """A client whose connection pool never retries, so a dropped connection surfaces."""
    configuration = client.Configuration()
    configuration.retries = False
    api = config.new_client_from_config(config_file=str(sandbox.kubeconfig),
                                        client_configuration=configuration)
    yield client.CoreV1Api(api)
    api.close()


def test_next_requests_fail_then_succeed(sandbox: Sandbox, core: client.CoreV1Api,
                                         namespace: str, settings: str) -> None:
    """A 503 fault for the next two GETs: the client sees 503 twice, then the object."""
    sandbox.faults.inject(verb="get", resource="configmaps", status=503, count=2)
    for _ in range(2):
        with pytest.raises(ApiException) as unavailable:
            core.read_namespaced_config_map(settings, namespace)
        assert unavailable.value.status == 503
        assert json.loads(unavailable.value.body)["reason"] == "ServiceUnavailable"
    assert core.read_namespaced_config_map(settings, namespace).data == {"mode": "fast"}


def test_faults_match_verb_and_resource(sandbox: Sandbox, core: client.CoreV1Api,
                                        namespace: str, settings: str) -> None:
    """A fault on one verb/resource leaves other verbs and resources alone."""
    sandbox.faults.inject(verb="patch", resource="configmaps", status=500, count=1)
    sandbox.faults.inject(resource="pods/eviction", status=429, count=1)
    assert core.read_namespaced_config_map(settings, namespace).data == {"mode": "fast"}
    assert core.list_namespaced_pod(namespace).items == []
    with pytest.raises(ApiException) as failed:
        core.patch_namespaced_config_map(settings, namespace, {"data": {"mode": "slow"}})
    assert failed.value.status == 500
    assert core.read_namespaced_config_map(settings, namespace).data == {"mode": "fast"}
    eviction = client.V1Eviction(metadata=client.V1ObjectMeta(name="any", namespace=namespace))
    with pytest.raises(ApiException) as refused:
        core.create_namespaced_pod_eviction("any", namespace, eviction)
    assert refused.value.status == 429


def test_too_many_requests_carries_retry_after(sandbox: Sandbox,
                                               no_retries: client.CoreV1Api,
                                               namespace: str) -> None:
    """A 429 fault answers with a Retry-After header and retryAfterSeconds in the body."""
    sandbox.faults.inject(verb="list", resource="pods", status=429, retry_after=3, count=1)
    with pytest.raises(ApiException) as throttled:
        no_retries.list_namespaced_pod(namespace)
    assert throttled.value.status == 429
    assert throttled.value.headers["Retry-After"] == "3"
    body = json.loads(throttled.value.body)
    assert (body["reason"], body["details"]["retryAfterSeconds"]) == ("TooManyRequests", 3)
    assert no_retries.list_namespaced_pod(namespace).items == []


def test_default_client_waits_out_retry_after_on_reads(sandbox: Sandbox,
                                                       core: client.CoreV1Api,
                                                       namespace: str) -> None:
    """urllib3's default retries honour Retry-After: a throttled GET is retried after it."""
    sandbox.faults.inject(verb="list", resource="pods", status=429, retry_after=1, count=1)
    started = time.monotonic()
    assert core.list_namespaced_pod(namespace).items == []
    assert 1.0 <= time.monotonic() - started < 6
    codes = [r.code for r in sandbox.requests
             if r.namespace == namespace and r.resource == "pods" and r.verb == "list"]
    assert codes == [429, 200]


def test_latency_delays_the_answer(sandbox: Sandbox, core: client.CoreV1Api,
                                   namespace: str, settings: str) -> None:
    """A latency fault delays the matching request by at least its delay, then it is served."""
    delay = 0.4
    sandbox.faults.inject(verb="get", resource="configmaps", latency=delay, count=1)
    started = time.monotonic()
    read = core.read_namespaced_config_map(settings, namespace)
    slow = time.monotonic() - started
    assert read.data == {"mode": "fast"}
    assert delay <= slow < delay + 5

    started = time.monotonic()
    core.read_namespaced_config_map(settings, namespace)
    assert time.monotonic() - started < delay


def test_dropped_connection_is_a_protocol_error(sandbox: Sandbox, no_retries: client.CoreV1Api,
                                                namespace: str, settings: str) -> None:
    """A dropped connection reaches a client without retries as a urllib3 error."""
    sandbox.faults.inject(verb="get", resource="configmaps", drop=True, count=1)
    with pytest.raises((urllib3.exceptions.ProtocolError, urllib3.exceptions.MaxRetryError)):
        no_retries.read_namespaced_config_map(settings, namespace)
    assert no_retries.read_namespaced_config_map(settings, namespace).data == {"mode": "fast"}
    codes = [r.code for r in sandbox.requests
             if r.namespace == namespace and r.resource == "configmaps" and r.verb == "get"]
    assert codes[-2:] == [0, 200]


def test_default_client_retries_a_dropped_get(sandbox: Sandbox, core: client.CoreV1Api,
                                              namespace: str, settings: str) -> None:
    """With its default connection retries, the client recovers from one dropped GET."""
    sandbox.faults.inject(verb="get", resource="configmaps", drop=True, count=1)
    assert core.read_namespaced_config_map(settings, namespace).data == {"mode": "fast"}
    codes = [r.code for r in sandbox.requests
             if r.namespace == namespace and r.resource == "configmaps" and r.verb == "get"]
    assert codes == [0, 200]


def test_served_delete_whose_answer_is_lost(sandbox: Sandbox, no_retries: client.CoreV1Api,
                                            namespace: str, settings: str) -> None:
    """drop_after: the DELETE is served (the object is gone), the client sees a dropped
    connection, and sending it again answers 404."""
    sandbox.faults.inject(verb="delete", resource="configmaps", drop_after=True, count=1)
    with pytest.raises((urllib3.exceptions.ProtocolError, urllib3.exceptions.MaxRetryError)):
        no_retries.delete_namespaced_config_map(settings, namespace)
    assert sandbox.get("configmaps", settings, namespace) is None
    with pytest.raises(ApiException) as retried:
        no_retries.delete_namespaced_config_map(settings, namespace)
    assert retried.value.status == 404
    deletes = [(r.code, r.dropped) for r in sandbox.requests
               if r.namespace == namespace and r.resource == "configmaps" and r.verb == "delete"]
    assert deletes == [(200, True), (404, False)]


def test_served_patch_whose_answer_is_late_then_lost(sandbox: Sandbox,
                                                     no_retries: client.CoreV1Api,
                                                     namespace: str, settings: str) -> None:
    """drop_after with latency: the PATCH is stored at once, the connection closes no
    sooner than the delay, without an answer."""
    delay = 0.4
    sandbox.faults.inject(verb="patch", resource="configmaps", drop_after=True,
                          latency=delay, count=1)
    started = time.monotonic()
    with pytest.raises((urllib3.exceptions.ProtocolError, urllib3.exceptions.MaxRetryError)):
        no_retries.patch_namespaced_config_map(settings, namespace, {"data": {"mode": "slow"}})
    assert delay <= time.monotonic() - started < delay + 5
    stored = sandbox.get("configmaps", settings, namespace)
    assert stored is not None
    assert stored["data"] == {"mode": "slow"}
    assert no_retries.read_namespaced_config_map(settings, namespace).data == {"mode": "slow"}


def test_a_fault_is_one_kind_of_failure() -> None:
    """status, drop and drop_after exclude each other; drop_after alone is a fault."""
    assert Fault(drop_after=True).drop_after
    for kinds in ({"status": 503, "drop_after": True}, {"drop": True, "drop_after": True},
                  {"status": 500, "drop": True}):
        with pytest.raises(ValueError, match="one of"):
            Fault(**kinds)


def test_fraction_fails_about_that_share(sandbox: Sandbox, core: client.CoreV1Api,
                                         namespace: str, settings: str) -> None:
    """A fault with fraction 0.5 fails roughly half of 200 matching requests."""
    fault = sandbox.faults.inject(verb="get", resource="configmaps", status=503, fraction=0.5)
    codes = []
    for _ in range(200):
        try:
            core.read_namespaced_config_map(settings, namespace)
        except ApiException as error:
            codes.append(error.status)
    failures = len(codes)
    assert set(codes) == {503}
    assert 50 <= failures <= 150
    assert fault.fired == failures
    recorded = [r.code for r in sandbox.requests
                if r.namespace == namespace and r.resource == "configmaps" and r.verb == "get"]
    assert recorded.count(503) == failures
    assert recorded.count(200) == 200 - failures


def test_fraction_with_count_stops_after_count(sandbox: Sandbox, core: client.CoreV1Api,
                                               namespace: str, settings: str) -> None:
    """A fraction fault with a count fires at most `count` times, then never again."""
    sandbox.faults.inject(verb="get", resource="configmaps", status=503, fraction=0.5, count=5)
    failures = 0
    for _ in range(100):
        try:
            core.read_namespaced_config_map(settings, namespace)
        except ApiException:
            failures += 1
    assert failures == 5


def test_removed_fault_stops_firing(sandbox: Sandbox, core: client.CoreV1Api,
                                    namespace: str, settings: str) -> None:
    """`faults.remove` ends an open-ended fault."""
    fault = sandbox.faults.inject(verb="get", resource="configmaps", status=503)
    with pytest.raises(ApiException):
        core.read_namespaced_config_map(settings, namespace)
    sandbox.faults.remove(fault)
    assert core.read_namespaced_config_map(settings, namespace).data == {"mode": "fast"}


def test_requests_record_what_the_client_did(sandbox: Sandbox, kube: client.ApiClient,
                                             core: client.CoreV1Api, namespace: str,
                                             settings: str) -> None:
    """`sandbox.requests` records verb, resource, namespace, name, code and dry run."""
    apps = client.AppsV1Api(kube)
    core.patch_namespaced_config_map(settings, namespace, {"data": {"mode": "slow"}},
                                     dry_run="All")
    core.patch_namespaced_config_map(settings, namespace, {"data": {"mode": "slow"}})
    with pytest.raises(ApiException):
        core.read_namespaced_config_map("missing", namespace)
    apps.create_namespaced_deployment(namespace, {
        "metadata": {"name": "web"},
        "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10"}]}}}})
    apps.patch_namespaced_deployment_scale("web", namespace, {"spec": {"replicas": 2}})
    core.list_namespaced_pod(namespace, label_selector="app=web")

    mine = [(r.verb, r.resource, r.name, r.code, r.dry_run) for r in sandbox.requests
            if r.namespace == namespace]
    assert mine[-6:] == [
        ("patch", "configmaps", settings, 200, True),
        ("patch", "configmaps", settings, 200, False),
        ("get", "configmaps", "missing", 404, False),
        ("create", "deployments", "", 201, False),
        ("patch", "deployments/scale", "web", 200, False),
        ("list", "pods", "", 200, False),
    ]
    assert core.read_namespaced_config_map(settings, namespace).data == {"mode": "slow"}
