"""`Kube`: the only object in healer that sends requests to the Kubernetes API.

Actions and guards get a `Kube` injected; they never load a kubeconfig or build a client
themselves. Each `Kube` owns its `ApiClient` and `Configuration` (never the client's
global default), sized for the executor pool and with request timeouts, and sends every
request through the one retry layer (`healer.kube.retry`). What it returns is the API's
JSON (`KubeObject`) or a small dataclass; what it raises is a `KubeError`
(`healer.kube.errors`), never the client's `ApiException` or a urllib3 error.

Every write takes `dry_run` (no default, so no caller forgets it) and sends
`dryRun=All`: the API server validates and answers, and stores nothing. Every write
returns a `Change` with the number of requests it took.

Retrying a write is only safe when sending it twice does no more than sending it once:
- patches set absolute values (replicas, the restartedAt timestamp, an HPA's bounds):
  idempotent;
- DELETE is not: an attempt whose answer was lost (a dropped connection, a timeout)
  may have deleted the pod, and the retry then answers 404. `delete_pod` treats 404 on
  a retry as done (`Change.already_done`). Worse, a StatefulSet recreates its pod under
  the same name at once, and a retried DELETE by name would delete the replacement, so
  `delete_pod` always sends a precondition on the pod's uid: the retry answers 409
  instead, which also means done.

Neighbours: `objects` (the types returned), `errors`, `retry`; callers are the actions
(writes) and guards and verification (reads).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar, cast

import structlog
import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from healer import __version__
from healer.errors import ConfigError
from healer.kube.errors import (
    TRANSPORT_ERRORS,
    Conflict,
    KubeError,
    NotFound,
    from_api_exception,
    from_transport_error,
)
from healer.kube.objects import (
    RESTARTED_AT,
    SCALABLE_KINDS,
    WORKLOAD_KINDS,
    Change,
    KubeObject,
    ObjectRef,
    Replicas,
    Scale,
    controller_of,
    replicas_of,
)
from healer.kube.retry import DEFAULT_RETRY, RetryPolicy

log = structlog.get_logger(__name__)

T = TypeVar("T")

POOL_SIZE = 16  # connections kept to the API server: one per executor thread


@dataclass(frozen=True)
class Timeouts:
    """How long one request may take (each attempt; retries come on top)."""

    connect: float = 5.0  # seconds to open a connection
    read: float = 15.0  # seconds to wait for each part of the answer


@dataclass(frozen=True)
class _Resource:
    """A kind the facade serves, and how the generated client names its methods."""

    kind: str
    plural: str
    api: str  # "core", "apps" or "autoscaling": which generated API class
    method: str  # the snake_case kind in method names: read_namespaced_<method>
    namespaced: bool = True


_RESOURCES = {r.kind: r for r in (
    _Resource("Pod", "pods", "core", "pod"),
    _Resource("Node", "nodes", "core", "node", namespaced=False),
    _Resource("Deployment", "deployments", "apps", "deployment"),
    _Resource("StatefulSet", "statefulsets", "apps", "stateful_set"),
    _Resource("DaemonSet", "daemonsets", "apps", "daemon_set"),
    _Resource("ReplicaSet", "replicasets", "apps", "replica_set"),
    _Resource("HorizontalPodAutoscaler", "horizontalpodautoscalers", "autoscaling",
              "horizontal_pod_autoscaler"),
)}


def _resource(kind: str, allowed: frozenset[str] | None = None) -> _Resource:
    resource = _RESOURCES.get(kind)
    if resource is None or (allowed is not None and kind not in allowed):
        served = sorted(allowed if allowed is not None else _RESOURCES)
        raise ValueError(f"kind {kind!r} is not one of {', '.join(served)}")
    return resource


def _describe(verb: str, resource: str, namespace: str | None, name: str | None = None,
              *, dry_run: bool = False) -> str:
    """`PATCH deployments shop/checkout (dry run)`: a request, as errors and audits say it."""
    where = "/".join(part for part in (namespace, name) if part)
    text = f"{verb} {resource} {where}".rstrip()
    return f"{text} (dry run)" if dry_run else text


class Kube:
    """The Kubernetes API, as healer uses it: typed reads, dry-run-aware writes, retries.

    Thread-safe: the executor pool shares one `Kube` (its connection pool has `pool_size`
    connections). Close it, or use it as a context manager, to release them.
    """

    def __init__(self, api_client: client.ApiClient, *, timeouts: Timeouts = Timeouts(),
                 retry: RetryPolicy = DEFAULT_RETRY) -> None:
        self._api_client = api_client
        self._timeout = (timeouts.connect, timeouts.read)
        self._retry = retry
        self._apis: dict[str, Any] = {
            "core": client.CoreV1Api(api_client),
            "version": client.VersionApi(api_client),
            "apps": client.AppsV1Api(api_client),
            "autoscaling": client.AutoscalingV2Api(api_client),
        }

    @classmethod
    def connect(cls, kubeconfig: Path | None = None, *, context: str | None = None,
                pool_size: int = POOL_SIZE, timeouts: Timeouts = Timeouts(),
                retry: RetryPolicy = DEFAULT_RETRY) -> Self:
        """A `Kube` for the cluster of `kubeconfig`; without one, the in-cluster service
        account when running in a pod, else $KUBECONFIG or ~/.kube/config (as kubectl).

        Raises `ConfigError` when no usable credentials are found.
        """
        configuration = client.Configuration()
        try:
            if kubeconfig is not None:
                config.load_kube_config(config_file=str(kubeconfig), context=context,
                                        client_configuration=configuration,
                                        persist_config=False)
            else:
                _load_default(configuration, context)
        except (config.ConfigException, OSError, ValueError, yaml.YAMLError) as error:
            where = f"kubeconfig {kubeconfig}" if kubeconfig is not None else "Kubernetes"
            raise ConfigError(f"{where}: {error}") from error
        configuration.retries = False  # healer.kube.retry is the one retry layer
        configuration.connection_pool_maxsize = pool_size
        api_client = client.ApiClient(configuration)
        api_client.user_agent = f"healer/{__version__}"
        return cls(api_client, timeouts=timeouts, retry=retry)

    def close(self) -> None:
        """Close the connection pool."""
        self._api_client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    # reads ------------------------------------------------------------------------------

    def get(self, ref: ObjectRef) -> KubeObject:
        """The object `ref` names (a Pod, Node, Deployment, StatefulSet, DaemonSet,
        ReplicaSet or HorizontalPodAutoscaler); `NotFound` when it does not exist."""
        resource = _resource(ref.kind)
        api = self._apis[resource.api]
        if resource.namespaced:
            if not ref.namespace:
                raise ValueError(f"{ref.kind} {ref.name} needs a namespace")
            read = getattr(api, f"read_namespaced_{resource.method}")
            args: tuple[str, ...] = (ref.name, ref.namespace)
        else:
            read = getattr(api, f"read_{resource.method}")
            args = (ref.name,)
        request = _describe("GET", resource.plural, ref.namespace, ref.name)
        answer, _ = self._run(request, lambda _attempt: self._send(request, read, *args))
        obj = cast(KubeObject, answer)
        obj.setdefault("kind", resource.kind)
        return obj

    def version(self) -> str:
        """The API server's version (`v1.31.2`), in one request and no retry: the
        daemon's readiness probe asks whether the API answers now."""
        request = "GET /version"
        answer = self._send(request, self._apis["version"].get_code)
        return str(answer.get("gitVersion", "")) if isinstance(answer, dict) else ""

    def get_pod(self, namespace: str, name: str) -> KubeObject:
        return self.get(ObjectRef("Pod", name, namespace))

    def get_deployment(self, namespace: str, name: str) -> KubeObject:
        return self.get(ObjectRef("Deployment", name, namespace))

    def get_statefulset(self, namespace: str, name: str) -> KubeObject:
        return self.get(ObjectRef("StatefulSet", name, namespace))

    def get_daemonset(self, namespace: str, name: str) -> KubeObject:
        return self.get(ObjectRef("DaemonSet", name, namespace))

    def get_replicaset(self, namespace: str, name: str) -> KubeObject:
        return self.get(ObjectRef("ReplicaSet", name, namespace))

    def get_node(self, name: str) -> KubeObject:
        return self.get(ObjectRef("Node", name))

    def get_hpa(self, namespace: str, name: str) -> KubeObject:
        return self.get(ObjectRef("HorizontalPodAutoscaler", name, namespace))

    def list_pods(self, namespace: str, *, selector: str | None = None) -> list[KubeObject]:
        """The pods of `namespace`, those matching the label `selector` when given."""
        return self._list(_RESOURCES["Pod"], namespace, selector)

    def hpa_for(self, workload: ObjectRef) -> KubeObject | None:
        """The HorizontalPodAutoscaler whose scaleTargetRef is `workload`, if any.

        A scale action must know: the HPA would undo a scale of its target at its next
        sync. Several HPAs on one target is a misconfiguration the HPA controller refuses
        to act on (AmbiguousSelector); the first by name is returned.
        """
        if not workload.namespace:
            raise ValueError(f"{workload} needs a namespace")
        for hpa in self._list(_RESOURCES["HorizontalPodAutoscaler"], workload.namespace, None):
            target = hpa.get("spec", {}).get("scaleTargetRef") or {}
            group = str(target.get("apiVersion", "")).partition("/")[0]
            if (target.get("kind"), target.get("name"), group) == (
                    workload.kind, workload.name, "apps"):
                return hpa
        return None

    def owner_of(self, pod: KubeObject | ObjectRef) -> ObjectRef | None:
        """The workload that controls `pod`: its controller ownerReference, followed from
        a ReplicaSet to the Deployment controlling it. None for a pod nobody controls.

        The kind may be one the facade does not serve (a Job, an operator's custom
        resource): callers check it against `WORKLOAD_KINDS` before acting on it.
        """
        obj = self.get(pod) if isinstance(pod, ObjectRef) else pod
        namespace = obj.get("metadata", {}).get("namespace")
        owner = controller_of(obj)
        if owner is None:
            return None
        ref = ObjectRef(owner.get("kind", ""), owner.get("name", ""), namespace)
        if ref.kind != "ReplicaSet" or not owner.get("apiVersion", "").startswith("apps/"):
            return ref
        parent = controller_of(self.get(ref))
        if (parent is not None and parent.get("kind") == "Deployment"
                and parent.get("apiVersion", "").startswith("apps/")):
            return ObjectRef("Deployment", parent.get("name", ""), namespace)
        return ref

    def read_scale(self, workload: ObjectRef) -> Scale:
        """The scale subresource of a Deployment, StatefulSet or ReplicaSet."""
        resource = _resource(workload.kind, SCALABLE_KINDS)
        read = getattr(self._apis[resource.api], f"read_namespaced_{resource.method}_scale")
        request = _describe("GET", f"{resource.plural}/scale", workload.namespace,
                            workload.name)
        answer, _ = self._run(request, lambda _attempt: self._send(
            request, read, workload.name, workload.namespace))
        return _scale(workload, answer)

    def replicas(self, workload: ObjectRef) -> Replicas:
        """Desired, updated, ready and available replicas of a workload (or ReplicaSet)."""
        _resource(workload.kind, WORKLOAD_KINDS | SCALABLE_KINDS)
        return replicas_of(workload.kind, self.get(workload))

    # writes -----------------------------------------------------------------------------

    def delete_pod(self, namespace: str, name: str, *, uid: str | None,
                   grace_period_seconds: int | None = None, dry_run: bool) -> Change:
        """Delete the pod `namespace/name` whose uid is `uid` (the restart-pod action).

        `uid` is sent as a precondition, so a pod recreated under the same name (a
        StatefulSet's) is never deleted in its place: that answers `Conflict`. With
        `uid=None` the pod is read first and its current uid pinned the same way.
        `grace_period_seconds` None leaves the pod's own terminationGracePeriodSeconds.
        A 404, or a uid conflict, on a retry means an earlier attempt deleted it:
        the `Change` says `already_done` (see the module docstring).
        """
        if uid is None:
            uid = self.get_pod(namespace, name).get("metadata", {}).get("uid")
        options = client.V1DeleteOptions(
            grace_period_seconds=grace_period_seconds,
            preconditions=client.V1Preconditions(uid=uid) if uid else None)
        delete = self._apis["core"].delete_namespaced_pod
        request = _describe("DELETE", "pods", namespace, name, dry_run=dry_run)

        def attempt(number: int) -> KubeObject | None:
            try:
                return cast(KubeObject, self._send(
                    request, delete, name, namespace, body=options,
                    dry_run="All" if dry_run else None))
            except (NotFound, Conflict) as error:
                if number == 1 or (isinstance(error, Conflict) and not error.uid_mismatch):
                    raise
                log.info("kube_delete_already_done", request=request, attempt=number,
                         status=error.status)
                return None

        answer, attempts = self._run(request, attempt)
        return Change(request, dry_run, attempts, answer, already_done=answer is None)

    def patch_workload(self, workload: ObjectRef, patch: Mapping[str, Any], *,
                       dry_run: bool, resource_version: str | None = None) -> Change:
        """Strategic-merge `patch` into a Deployment, StatefulSet or DaemonSet.

        With `resource_version`, the write only succeeds if the object has not changed
        since it was read at that version (`Conflict` otherwise): for a change decided
        from what was read (a rollback to the revision seen).
        """
        resource = _resource(workload.kind, WORKLOAD_KINDS)
        body: dict[str, Any] = json.loads(json.dumps(patch))  # a deep copy, JSON-only
        if resource_version is not None:
            body.setdefault("metadata", {})["resourceVersion"] = resource_version
        send = getattr(self._apis[resource.api], f"patch_namespaced_{resource.method}")
        request = _describe("PATCH", resource.plural, workload.namespace, workload.name,
                            dry_run=dry_run)
        answer, attempts = self._run(request, lambda _attempt: self._send(
            request, send, workload.name, workload.namespace, body,
            dry_run="All" if dry_run else None))
        return Change(request, dry_run, attempts, cast(KubeObject, answer))

    def restart_workload(self, workload: ObjectRef, *, at: datetime, dry_run: bool) -> Change:
        """Rollout restart, as `kubectl rollout restart`: set the pod template annotation
        `kubectl.kubernetes.io/restartedAt` to `at`, so the controller replaces every pod."""
        if at.tzinfo is None:
            raise ValueError("restart_workload needs an aware datetime (UTC)")
        stamp = at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        patch = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}}}
        return self.patch_workload(workload, patch, dry_run=dry_run)

    def scale(self, workload: ObjectRef, replicas: int, *, dry_run: bool) -> Change:
        """Set the replicas of a Deployment, StatefulSet or ReplicaSet through its scale
        subresource (what `kubectl scale` and the HPA use). The answer is the Scale."""
        resource = _resource(workload.kind, SCALABLE_KINDS)
        send = getattr(self._apis[resource.api], f"patch_namespaced_{resource.method}_scale")
        request = _describe("PATCH", f"{resource.plural}/scale", workload.namespace,
                            workload.name, dry_run=dry_run)
        answer, attempts = self._run(request, lambda _attempt: self._send(
            request, send, workload.name, workload.namespace, {"spec": {"replicas": replicas}},
            dry_run="All" if dry_run else None))
        return Change(request, dry_run, attempts, cast(KubeObject, answer))

    def patch_hpa(self, namespace: str, name: str, patch: Mapping[str, Any], *,
                  dry_run: bool) -> Change:
        """Strategic-merge `patch` into the HorizontalPodAutoscaler `namespace/name` (the
        scale action's `adjustHpa` raises its minReplicas). The answer is the HPA.

        Not pinned to a resourceVersion: the HPA controller rewrites the status at every
        sync, so a pin would conflict for no reason; the patch sets absolute values, so
        sending it again (a retry) does no more than sending it once.
        """
        resource = _RESOURCES["HorizontalPodAutoscaler"]
        body: dict[str, Any] = json.loads(json.dumps(patch))  # a deep copy, JSON-only
        send = getattr(self._apis[resource.api], f"patch_namespaced_{resource.method}")
        request = _describe("PATCH", resource.plural, namespace, name, dry_run=dry_run)
        answer, attempts = self._run(request, lambda _attempt: self._send(
            request, send, name, namespace, body, dry_run="All" if dry_run else None))
        return Change(request, dry_run, attempts, cast(KubeObject, answer))

    # the one path to the API ------------------------------------------------------------

    def _list(self, resource: _Resource, namespace: str, selector: str | None
              ) -> list[KubeObject]:
        send = getattr(self._apis[resource.api], f"list_namespaced_{resource.method}")
        request = _describe("LIST", resource.plural, namespace)
        answer, _ = self._run(request, lambda _attempt: self._send(
            request, send, namespace, label_selector=selector))
        items = cast(list[KubeObject], answer.get("items") or [])
        for item in items:  # a list's items carry no kind of their own
            item.setdefault("kind", resource.kind)
        return sorted(items, key=lambda item: item.get("metadata", {}).get("name", ""))

    def _run(self, request: str, attempt: Callable[[int], T]) -> tuple[T, int]:
        """Run `attempt(number)` under the retry policy; its result and the attempts."""
        number = 0
        try:
            for retrying in self._retry.retrying(request):
                with retrying:
                    number = retrying.retry_state.attempt_number
                    return attempt(number), number
        except KubeError as error:
            error.attempts = number
            raise
        raise AssertionError("tenacity ended without a result or an error")  # unreachable

    def _send(self, request: str, method: Callable[..., Any], *args: Any,
              **kwargs: Any) -> Any:
        """One request through the generated client: its JSON answer, or a `KubeError`."""
        try:
            response = method(*args, **kwargs, _preload_content=False,
                              _request_timeout=self._timeout)
            try:
                data = response.data
            finally:
                response.release_conn()
        except ApiException as error:
            raise from_api_exception(request, error) from error
        except TRANSPORT_ERRORS as error:
            raise from_transport_error(request, error) from error
        try:
            return json.loads(data)
        except ValueError as error:
            raise KubeError(request, int(response.status), "BadResponse",
                            f"the answer is not JSON: {error}") from error


def _load_default(configuration: client.Configuration, context: str | None) -> None:
    """In-cluster service account when present, else $KUBECONFIG or ~/.kube/config."""
    try:
        config.load_incluster_config(client_configuration=configuration)
    except config.ConfigException as in_cluster:
        try:
            config.load_kube_config(context=context, client_configuration=configuration,
                                    persist_config=False)
        except config.ConfigException as error:
            raise config.ConfigException(
                f"no credentials: not in a cluster ({in_cluster}), and no usable "
                f"kubeconfig ({error})") from error


def _scale(workload: ObjectRef, answer: Any) -> Scale:
    spec, status = answer.get("spec") or {}, answer.get("status") or {}
    return Scale(workload, int(spec.get("replicas") or 0), int(status.get("replicas") or 0),
                 str(status.get("selector") or ""))
