"""The sandbox's HTTP front: a Kubernetes-compatible REST API over the `Store`.

Request flow: parse the path into (resource, namespace, name, subresource) → derive the
Kubernetes verb → consult injected `Faults` (which may answer instead of the store, or
serve and then lose the answer) → serve from the store → encode the answer as JSON, or as
a `meta.k8s.io/v1 Table` when the client asks for one (`kubectl get` does). Errors are
`Status` bodies with the server's reasons and codes. Watches stream newline-delimited
JSON events over a chunked response until their timeout, until the client goes away, or
until the sandbox stops.

Neighbours: `store` holds the objects, `patch` and `selectors` implement the request
semantics, `tables` renders Table rows, `disruption` decides evictions, `events` converts
between the core and `events.k8s.io` views of an event.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import select
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import structlog

from healer.sandbox import events, status
from healer.sandbox.disruption import evict
from healer.sandbox.faults import Fault, Faults
from healer.sandbox.patch import PatchError, json_merge_patch, json_patch, strategic_merge_patch
from healer.sandbox.resources import (
    ResourceRegistry,
    ResourceType,
    openapi_v3_document,
    openapi_v3_root,
)
from healer.sandbox.selectors import (
    SelectorError,
    label_selector_from_object,
    parse_field_selector,
    parse_label_selector,
)
from healer.sandbox.store import Obj, Store, Watch, clone, meta
from healer.sandbox.tables import TableOptionsError, to_table

log = structlog.get_logger(__name__)

KUBERNETES_VERSION = {"major": "1", "minor": "35", "gitVersion": "v1.35.0-healer-sandbox",
                      "gitCommit": "0000000000000000000000000000000000000000",
                      "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z",
                      "goVersion": "go1.25", "compiler": "gc", "platform": "linux/amd64"}

_PATCH_TYPES = {
    "application/json-patch+json": "json",
    "application/merge-patch+json": "merge",
    "application/strategic-merge-patch+json": "strategic",
}
_UNREADABLE_BODIES = ("application/vnd.kubernetes.protobuf", "application/cbor")
_MAX_WATCH_SECONDS = 1800
_BOOKMARK_EVERY = 10.0


@dataclass(frozen=True)
class Request:
    """A parsed resource request."""

    resource: ResourceType
    namespace: str | None
    name: str
    subresource: str
    query: dict[str, str]

    @property
    def fault_resource(self) -> str:
        plural = self.resource.plural
        return f"{plural}/{self.subresource}" if self.subresource else plural


@dataclass(frozen=True)
class RequestRecord:
    """One served request, kept for tests to assert what a client did."""

    verb: str
    resource: str
    namespace: str | None
    name: str
    code: int  # the answer's status; 0: dropped before the request was served
    dry_run: bool
    dropped: bool = False  # the connection closed without the answer (served or not)


class Api:
    """Serves the Kubernetes REST API of one sandbox on a threaded HTTP server."""

    def __init__(self, store: Store, registry: ResourceRegistry, faults: Faults,
                 *, record_limit: int = 10_000) -> None:
        self.store = store
        self.registry = registry
        self.faults = faults
        self.records: deque[RequestRecord] = deque(maxlen=record_limit)
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # lifecycle ----------------------------------------------------------------------

    def bind(self, host: str, port: int) -> tuple[str, int]:
        """Claim the address (OSError if it is taken); requests wait until `serve`."""
        api = self

        class Handler(_Handler):
            sandbox_api = api

        self._server = _Server((host, port), Handler)
        bound_host, bound_port = self._server.server_address[:2]
        return str(bound_host), int(bound_port)

    def serve(self) -> None:
        assert self._server is not None, "bind first"
        self._thread = threading.Thread(target=self._server.serve_forever, name="sandbox-api",
                                        kwargs={"poll_interval": 0.2}, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._server is None:
            return
        if self._thread is not None:
            self._server.shutdown()  # waits for serve_forever, so only once it runs
            self._thread.join(timeout=5)
        self._server.server_close()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    # routing ------------------------------------------------------------------------

    def parse(self, path: str, query: dict[str, str]) -> Request | None:
        parts = [p for p in path.split("/") if p]
        if parts[:2] == ["api", "v1"]:
            group, version, rest = "", "v1", parts[2:]
        elif len(parts) >= 3 and parts[0] == "apis":
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            return None
        namespace: str | None = None
        if len(rest) >= 3 and rest[0] == "namespaces" and not (
                group == "" and len(rest) == 3 and rest[2] in ("status", "finalize")):
            namespace, rest = rest[1], rest[2:]
        if not rest or len(rest) > 3:
            return None
        resource = self.registry.lookup(group, version, rest[0])
        if resource is None:
            return None
        if namespace is not None and not resource.namespaced:
            return None
        name = rest[1] if len(rest) > 1 else ""
        sub = rest[2] if len(rest) > 2 else ""
        return Request(resource, namespace, name, sub, query)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # listen backlog: many clients connecting at once


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "healer-sandbox"
    # Headers and body go out in separate writes; without TCP_NODELAY, Nagle's algorithm
    # and the client's delayed ACK stall every keep-alive response by ~40 ms.
    disable_nagle_algorithm = True
    sandbox_api: Api
    # the request being served, recorded just before its answer goes out: a client that
    # has its answer finds the request in `Sandbox.requests`
    _unrecorded: tuple[str, Request, bool] | None = None
    _answer_lost = False  # the request is served under a `drop_after` fault

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the standard library's per-request stderr lines."""

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    # dispatch -----------------------------------------------------------------------

    def _dispatch(self, method: str) -> None:
        try:
            self._answer(method)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client left; there is no one to answer

    def _answer(self, method: str) -> None:
        api = self.sandbox_api
        self._unrecorded = None
        self._answer_lost = False
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        body = self._read_body()
        if body is None:
            return
        discovery = self._discovery(url.path) if method == "GET" else None
        if discovery is not None:
            self._send_json(200, discovery)
            return
        if url.path in ("/healthz", "/livez", "/readyz") and method == "GET":
            self._send_text(200, "ok")
            return
        request = api.parse(url.path, query)
        if request is None:
            self._send_error(status.ApiError(404, "NotFound",
                                             "the server could not find the requested resource"))
            return
        verb = _verb(method, request)
        dry_run = query.get("dryRun") == "All"
        self._unrecorded = (verb, request, dry_run)
        body_type = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        if body and body_type in _UNREADABLE_BODIES:
            # Reading protobuf would need every type's schema; say so instead of failing
            # to parse it as JSON.
            self._send_error(status.ApiError(
                415, "UnsupportedMediaType",
                f'the healer sandbox reads JSON request bodies only (got "{body_type}"); '
                "kubectl's generator commands (create deployment, create namespace ...) send "
                "protobuf: write a manifest and use kubectl apply -f or create -f"))
            self._record(415)
            return
        fault = api.faults.take(verb, request.fault_resource)
        if fault is not None and fault.drop_after and verb != "watch":
            self._serve_unanswered(method, verb, request, body, dry_run, fault.latency)
            return
        if fault is not None and self._suffer(fault):
            self._record(fault.status or 0)
            return
        self._serve_answering(method, verb, request, body, dry_run)

    def _serve_answering(self, method: str, verb: str, request: Request, body: bytes,
                         dry_run: bool) -> None:
        """Serve the request and answer it (a Status for any failure); record it."""
        try:
            code = self._serve(method, verb, request, body, dry_run)
        except (BrokenPipeError, ConnectionResetError):
            code = 0
        except Exception as error:  # every failure gets a Status answer
            failure = _refusal(error, request)
            if failure is None:
                log.exception("sandbox_request_failed", method=method, path=self.path)
                failure = status.internal("the sandbox failed to serve this request; see its log")
            self._send_error(failure)
            code = failure.code
        self._record(code)

    def _serve_unanswered(self, method: str, verb: str, request: Request, body: bytes,
                          dry_run: bool, latency: float) -> None:
        """A `drop_after` fault: serve the request in full (the store changes), wait
        `latency`, then close the connection; the answer is written to a buffer and lost."""
        self._answer_lost = True
        connection, self.wfile = self.wfile, io.BytesIO()
        try:
            self._serve_answering(method, verb, request, body, dry_run)
        finally:
            self.wfile = connection
        if latency > 0:
            time.sleep(latency)
        self._drop()

    def _suffer(self, fault: Fault) -> bool:
        """Apply an injected fault; True when it answered (or dropped) the request."""
        if fault.latency > 0:
            time.sleep(fault.latency)
        if fault.drop or fault.drop_after:  # drop_after reaches here for a watch only
            self._answer_lost = True
            self._record(0)
            self._drop()
            return True
        if fault.status is None:
            return False
        details = {"retryAfterSeconds": fault.retry_after} if fault.retry_after else None
        self._send_error(status.ApiError(fault.status, _reason_for(fault.status),
                                         "injected fault", retry_after=fault.retry_after,
                                         details=details))
        return True

    def _record(self, code: int) -> None:
        """Record the request being served with its answer's code (once)."""
        if self._unrecorded is None:
            return
        verb, request, dry_run = self._unrecorded
        self._unrecorded = None
        self.sandbox_api.records.append(RequestRecord(
            verb, request.fault_resource, request.namespace, request.name, code, dry_run,
            dropped=self._answer_lost))

    def _discovery(self, path: str) -> dict[str, Any] | None:
        registry = self.sandbox_api.registry
        parts = [p for p in path.split("/") if p]
        if parts == ["version"]:
            return KUBERNETES_VERSION
        if parts == ["api"]:
            return registry.api_versions()
        if parts == ["apis"]:
            return registry.api_group_list()
        if parts == ["api", "v1"]:
            return registry.api_resource_list("", "v1")
        if len(parts) == 2 and parts[0] == "apis" and parts[1] in registry.groups():
            return registry.api_group(parts[1])
        if len(parts) == 3 and parts[0] == "apis":
            return registry.api_resource_list(parts[1], parts[2])
        if parts == ["openapi", "v3"]:
            return openapi_v3_root(registry)
        if parts[:2] == ["openapi", "v3"] and parts[2:3] in (["api"], ["apis"]):
            group, version = ("", parts[3]) if parts[2] == "api" else (parts[3], parts[-1])
            if len(parts) == (4 if parts[2] == "api" else 5):
                return openapi_v3_document(registry, group, version)
        return None

    def _serve(self, method: str, verb: str, request: Request, body: bytes,
               dry_run: bool) -> int:
        resource = request.resource
        if request.subresource == "scale" and resource.has_scale:
            return self._serve_scale(method, request, body, dry_run)
        if request.subresource == "eviction" and resource.plural == "pods" and not resource.group:
            if method != "POST":
                raise status.method_not_allowed()
            return self._serve_eviction(request, body, dry_run)
        known = ((request.subresource == "status" and resource.has_status)
                 or (resource.plural == "namespaces" and request.subresource == "finalize"))
        if request.subresource and not known:
            raise status.ApiError(404, "NotFound",
                                  "the server could not find the requested resource")
        subresource = "status" if request.subresource in ("status", "finalize") else ""
        store, namespace = self.sandbox_api.store, request.namespace or ""
        if verb == "list":
            return self._serve_list(request)
        if verb == "watch":
            return self._serve_watch(request)
        if verb == "get":
            self._send_object(200, request, store.get(resource, namespace, request.name))
            return 200
        if verb == "create":
            return self._serve_create(request, body, dry_run)
        if verb == "update":
            obj = self._incoming(request, _json(body))
            self._check_identity(request, obj)
            updated = store.update(resource, obj, subresource=subresource, dry_run=dry_run)
            self._send_object(200, request, updated)
            return 200
        if verb == "patch":
            patched = self._patch(request, body, subresource, dry_run)
            self._send_object(200, request, patched)
            return 200
        if verb == "delete":
            return self._serve_delete(request, body, dry_run)
        if verb == "deletecollection":
            return self._serve_delete_collection(request, dry_run)
        raise status.method_not_allowed()

    # verbs --------------------------------------------------------------------------

    def _serve_create(self, request: Request, body: bytes, dry_run: bool) -> int:
        obj = self._incoming(request, _json(body))
        obj_meta = obj.setdefault("metadata", {})
        if request.resource.namespaced:
            declared = obj_meta.get("namespace")
            if declared and declared != request.namespace:
                raise status.bad_request("the namespace of the provided object does not match "
                                         "the namespace sent on the request")
            obj_meta["namespace"] = request.namespace
        created = self.sandbox_api.store.create(request.resource, obj, dry_run=dry_run)
        self._send_object(201, request, created)
        return 201

    def _serve_delete(self, request: Request, body: bytes, dry_run: bool) -> int:
        resource = request.resource
        options = _json(body) if body.strip() else {}
        grace = request.query.get("gracePeriodSeconds", options.get("gracePeriodSeconds"))
        propagation = request.query.get("propagationPolicy", options.get("propagationPolicy"))
        if propagation is None and "orphanDependents" in request.query:
            propagation = "Orphan" if request.query["orphanDependents"] == "true" else "Background"
        if propagation not in (None, "Orphan", "Background", "Foreground"):
            raise status.bad_request(f"unsupported propagationPolicy {propagation!r}")
        obj, gone = self.sandbox_api.store.delete(
            resource, request.namespace or "", request.name,
            grace_period=None if grace is None else int(grace), propagation=propagation,
            preconditions=options.get("preconditions"),
            dry_run=dry_run or "All" in (options.get("dryRun") or []))
        # like the real server: pods and services answer with the object; the others with
        # a Status once gone, or with the object (202) while finalizers hold it
        if not gone or resource.plural in ("pods", "services"):
            code = 202 if not gone and resource.plural != "pods" else 200
            self._send_object(code, request, obj)
            return code
        self._send_json(200, {"kind": "Status", "apiVersion": "v1", "metadata": {},
                              "status": "Success",
                              "details": {"name": request.name, "group": resource.group,
                                          "kind": resource.plural,
                                          "uid": meta(obj).get("uid")}})
        return 200

    def _serve_delete_collection(self, request: Request, dry_run: bool) -> int:
        store = self.sandbox_api.store
        items, _ = store.select(request.resource, request.namespace, *self._selectors(request))
        for item in items:
            with contextlib.suppress(status.ApiError):  # already gone: nothing to do
                store.delete(request.resource, meta(item).get("namespace", ""),
                             meta(item)["name"], dry_run=dry_run)
        self._send_json(200, self._list_body(request, items, store.resource_version, ""))
        return 200

    def _serve_eviction(self, request: Request, body: bytes, dry_run: bool) -> int:
        api = self.sandbox_api
        options = _json(body).get("deleteOptions") or {}
        evict(api.store, api.registry, request.namespace or "", request.name, options,
              dry_run=dry_run or "All" in (options.get("dryRun") or []))
        self._send_json(201, {"kind": "Status", "apiVersion": "v1", "metadata": {},
                              "status": "Success", "code": 201})
        return 201

    def _selectors(self, request: Request) -> tuple[Any, Any]:
        labels = request.query.get("labelSelector")
        fields = request.query.get("fieldSelector")
        resource = request.resource
        return (parse_label_selector(labels) if labels else None,
                parse_field_selector(fields, resource.plural, group=resource.group)
                if fields else None)

    def _serve_list(self, request: Request) -> int:
        store = self.sandbox_api.store
        position = _continue_position(request.query)
        items, rv = store.select(request.resource, request.namespace, *self._selectors(request),
                                 at=position[1] if position else None)
        items, token, remaining = _page(items, request.query, rv)
        if request.query.get("labelSelector") or request.query.get("fieldSelector"):
            remaining = None  # like the real server: a filtered count would be inaccurate
        self._send_list(request, items, rv, token, remaining)
        return 200

    def _serve_watch(self, request: Request) -> int:
        api = self.sandbox_api
        query = request.query
        rv_text = query.get("resourceVersion", "")
        initial = query.get("sendInitialEvents") == "true"
        since: int | None = None
        if rv_text not in ("", "0") and not initial:
            if not rv_text.isdigit():
                raise status.bad_request(f"resourceVersion: Invalid value: {rv_text!r}")
            since = int(rv_text)
        labels, fields = self._selectors(request)
        if request.name:  # a watch on one object, e.g. /pods/x?watch=true
            fields = parse_field_selector(f"metadata.name={request.name}",
                                          request.resource.plural, group=request.resource.group)
        watch = api.store.watch(request.resource, namespace=request.namespace, labels=labels,
                                fields=fields, since=since)
        timeout = min(float(query.get("timeoutSeconds") or _MAX_WATCH_SECONDS),
                      _MAX_WATCH_SECONDS)
        self._record(200)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        try:
            self._stream(request, watch, time.monotonic() + timeout, initial=initial,
                         bookmarks=query.get("allowWatchBookmarks") == "true")
            self._end_chunks()
        finally:
            watch.close()
        return 200

    def _stream(self, request: Request, watch: Watch, deadline: float, *, initial: bool,
                bookmarks: bool) -> None:
        """Send a watch's events until its deadline, the client leaving, or shutdown.

        With `sendInitialEvents`, the replayed state ends with a BOOKMARK annotated
        `k8s.io/initial-events-end`; with bookmarks allowed, an idle watch gets one every
        few seconds so a client can resume from a recent resourceVersion.
        """
        table = self._wants_table()
        last_sent = time.monotonic()
        initial_pending = initial
        sent_table = False
        while not self.sandbox_api.stopping and time.monotonic() < deadline:
            event = watch.next(timeout=0.05 if initial_pending else 0.5)
            if event is None:
                rv = watch.idle_resource_version()
                if initial_pending:
                    initial_pending = False
                    self._send_chunk(self._bookmark(request, rv or "", initial_end=True))
                    last_sent = time.monotonic()
                elif bookmarks and rv and time.monotonic() - last_sent > _BOOKMARK_EVERY:
                    self._send_chunk(self._bookmark(request, rv))
                    last_sent = time.monotonic()
                if watch.closed or self._client_gone():
                    return
                continue
            kind, obj = event
            shown = self._outgoing(request, obj)
            if table:
                # like the real server: column definitions only on the first event
                shown = to_table(self._table_key(request), [shown], now=_now(),
                                 include_object=self._include_object(request),
                                 resource_version=str(meta(obj).get("resourceVersion", "")),
                                 no_headers=sent_table)
                sent_table = True
            self._send_chunk({"type": kind, "object": shown})
            last_sent = time.monotonic()

    def _bookmark(self, request: Request, rv: str, *, initial_end: bool = False) -> dict[str, Any]:
        bookmark_meta: dict[str, Any] = {"resourceVersion": rv}
        if initial_end:
            bookmark_meta["annotations"] = {"k8s.io/initial-events-end": "true"}
        return {"type": "BOOKMARK",
                "object": {"kind": request.resource.kind,
                           "apiVersion": request.resource.api_version,
                           "metadata": bookmark_meta}}

    def _patch(self, request: Request, body: bytes, subresource: str, dry_run: bool) -> Obj:
        store, resource = self.sandbox_api.store, request.resource
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        patch_type = _PATCH_TYPES.get(content_type)
        if patch_type is None:
            raise status.unsupported_media_type(content_type)
        document = _json(body, allow_list=patch_type == "json")
        namespace = request.namespace or ""
        for _ in range(10):
            current = self._outgoing(request, store.get(resource, namespace, request.name))
            patched = _apply_patch(patch_type, current, document)
            if not isinstance(patched, dict):
                raise status.bad_request("the patch must produce an object")
            self._check_identity(request, patched)
            pinned = _pinned_resource_version(patch_type, document)
            if not pinned:
                patched.setdefault("metadata", {})["resourceVersion"] = (
                    meta(current).get("resourceVersion"))
            try:
                return store.update(resource, self._incoming(request, patched),
                                    subresource=subresource, dry_run=dry_run)
            except status.ApiError as error:
                if error.code != 409 or pinned or error.reason != "Conflict":
                    raise
        raise status.conflict(resource.plural, request.name, resource.group)

    def _serve_scale(self, method: str, request: Request, body: bytes, dry_run: bool) -> int:
        store, resource = self.sandbox_api.store, request.resource
        namespace = request.namespace or ""
        obj = store.get(resource, namespace, request.name)
        scale = _scale_of(obj)
        if method == "GET":
            self._send_json(200, scale)
            return 200
        if method == "PUT":
            wanted = _json(body)
        elif method == "PATCH":
            content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip()
            patch_type = _PATCH_TYPES.get(content_type)
            if patch_type is None:
                raise status.unsupported_media_type(content_type)
            wanted = _apply_patch(patch_type, scale,
                                  _json(body, allow_list=patch_type == "json"))
        else:
            raise status.method_not_allowed()
        replicas = (wanted.get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise status.invalid("Scale", request.name,
                                 [("spec.replicas", f"Invalid value: {replicas}: must be "
                                   "greater than or equal to 0")], "autoscaling")
        updated = clone(obj)
        updated["spec"]["replicas"] = replicas
        pinned = str(meta(wanted).get("resourceVersion") or "")
        updated["metadata"]["resourceVersion"] = pinned or meta(obj).get("resourceVersion")
        stored = store.update(resource, updated, dry_run=dry_run)
        self._send_json(200, _scale_of(stored))
        return 200

    # encoding -----------------------------------------------------------------------

    def _incoming(self, request: Request, obj: Obj) -> Obj:
        if request.resource.group == "events.k8s.io":
            return events.from_events_v1(obj)
        return obj

    def _outgoing(self, request: Request, obj: Obj) -> Obj:
        if request.resource.group == "events.k8s.io":
            return events.to_events_v1(obj)
        return obj

    def _check_identity(self, request: Request, obj: Obj) -> None:
        m = obj.get("metadata")
        if not isinstance(m, dict):
            raise status.bad_request("metadata must be an object")
        if m.get("name") and m["name"] != request.name:
            raise status.bad_request(
                f"the name of the object ({m['name']}) does not match the name on the URL "
                f"({request.name})")
        m["name"] = request.name
        if request.resource.namespaced:
            if m.get("namespace") and m["namespace"] != request.namespace:
                raise status.bad_request("the namespace of the provided object does not match "
                                         "the namespace sent on the request")
            m["namespace"] = request.namespace

    def _wants_table(self) -> bool:
        for offer in (self.headers.get("Accept") or "").split(","):
            params = {p.split("=", 1)[0].strip(): p.split("=", 1)[-1].strip()
                      for p in offer.split(";")[1:] if "=" in p}
            if params.get("as") == "Table" and params.get("g") == "meta.k8s.io":
                return True
            if offer.strip().split(";")[0] in ("application/json", "*/*") and "as" not in params:
                return False
        return False

    @staticmethod
    def _include_object(request: Request) -> str:
        return request.query.get("includeObject") or "Metadata"

    def _table_key(self, request: Request) -> str:
        return request.resource.describe() if request.resource.group == "events.k8s.io" \
            else request.resource.plural

    def _send_object(self, code: int, request: Request, obj: Obj) -> None:
        shown = self._outgoing(request, obj)
        if self._wants_table():
            self._send_json(code, to_table(self._table_key(request), [shown], now=_now(),
                                           include_object=self._include_object(request),
                                           resource_version=str(meta(obj).get(
                                               "resourceVersion", ""))))
            return
        self._send_json(code, shown)

    def _send_list(self, request: Request, items: list[Obj], rv: int, token: str,
                   remaining: int | None) -> None:
        shown = [self._outgoing(request, item) for item in items]
        if self._wants_table():
            self._send_json(200, to_table(self._table_key(request), shown, now=_now(),
                                          include_object=self._include_object(request),
                                          resource_version=str(rv), continue_token=token,
                                          remaining_item_count=remaining))
            return
        body = self._list_body(request, shown, rv, token)
        if remaining is not None:
            body["metadata"]["remainingItemCount"] = remaining
        self._send_json(200, body)

    def _list_body(self, request: Request, items: list[Obj], rv: int,
                   token: str) -> dict[str, Any]:
        list_meta: dict[str, Any] = {"resourceVersion": str(rv)}
        if token:
            list_meta["continue"] = token
        return {"kind": request.resource.list_kind,
                "apiVersion": request.resource.api_version,
                "metadata": list_meta, "items": items}

    def _send_json(self, code: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body, separators=(",", ":")).encode()
        self._record(code)
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-cache, private")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _send_text(self, code: int, text: str) -> None:
        data = text.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _send_error(self, error: status.ApiError) -> None:
        headers = {"Retry-After": str(error.retry_after)} if error.retry_after else {}
        self._send_json(error.code, error.status(), headers)

    def _send_chunk(self, event: dict[str, Any]) -> None:
        data = json.dumps(event, separators=(",", ":")).encode() + b"\n"
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _end_chunks(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _client_gone(self) -> bool:
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            if not readable:
                return False
            return bool(self.connection.recv(1, socket.MSG_PEEK) == b"")
        except OSError:
            return True

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _read_body(self) -> bytes | None:
        length = int(self.headers.get("Content-Length") or 0)
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        return self.rfile.read(length) if length else b""


# helpers -------------------------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC)


def _refusal(error: Exception, request: Request) -> status.ApiError | None:
    """The API error a request's failure means to the client; None for a sandbox bug."""
    if isinstance(error, status.ApiError):
        return error
    if isinstance(error, SelectorError | TableOptionsError):
        return status.bad_request(str(error))
    if isinstance(error, PatchError):
        if error.code == 422:
            return status.invalid(request.resource.kind, request.name, [("patch", str(error))],
                                  request.resource.group)
        return status.ApiError(error.code, _reason_for(error.code), str(error))
    return None


def _verb(method: str, request: Request) -> str:
    if method == "GET":
        if request.query.get("watch") in ("true", "1"):
            return "watch"
        return "get" if request.name else "list"
    if method == "POST":
        return "create"
    if method == "PUT":
        return "update"
    if method == "PATCH":
        return "patch"
    if method == "DELETE":
        return "delete" if request.name else "deletecollection"
    return method.lower()


def _reason_for(code: int) -> str:
    return {429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable",
            504: "Timeout", 403: "Forbidden", 404: "NotFound", 409: "Conflict"}.get(
        code, HTTPStatus(code).phrase.replace(" ", "") if code in HTTPStatus._value2member_map_
        else "Unknown")


def _json(body: bytes, *, allow_list: bool = False) -> Any:
    try:
        value = json.loads(body or b"null")
    except (ValueError, UnicodeDecodeError) as error:
        raise status.bad_request(f"the request body is not valid JSON: {error}") from None
    if allow_list and isinstance(value, list):
        return value
    if not isinstance(value, dict):
        raise status.bad_request("the request body must be a JSON object")
    return value


def _apply_patch(patch_type: str, current: Any, document: Any) -> Any:
    if patch_type == "json":
        if not isinstance(document, list):
            raise status.bad_request("a JSON patch must be a list of operations")
        return json_patch(current, document)
    if patch_type == "merge":
        return json_merge_patch(current, document)
    return strategic_merge_patch(current, document)


def _pinned_resource_version(patch_type: str, document: Any) -> bool:
    """Whether the patch itself names a resourceVersion (then a mismatch is a conflict)."""
    if patch_type == "json":
        return any(isinstance(op, dict) and op.get("path") == "/metadata/resourceVersion"
                   for op in document)
    return bool(((document or {}).get("metadata") or {}).get("resourceVersion"))


def _scale_of(obj: Obj) -> dict[str, Any]:
    m = meta(obj)
    spec, current = obj.get("spec") or {}, obj.get("status") or {}
    selector = spec.get("selector")
    scale_status: dict[str, Any] = {"replicas": int(current.get("replicas", 0))}
    if selector is not None:
        scale_status["selector"] = str(label_selector_from_object(selector))
    return {"kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {k: m[k] for k in ("name", "namespace", "uid", "resourceVersion",
                                            "creationTimestamp") if k in m},
            "spec": {"replicas": int(spec.get("replicas", 0))}, "status": scale_status}


def _continue_position(query: dict[str, str]) -> tuple[tuple[str, str], int] | None:
    """The (namespace, name) a `continue` token resumes after, and its list's snapshot."""
    token = query.get("continue")
    if not token:
        return None
    try:
        position = json.loads(base64.urlsafe_b64decode(token.encode()))
        return (str(position["ns"]), str(position["name"])), int(position["rv"])
    except (ValueError, KeyError, TypeError):
        raise status.bad_request("continue key is not valid") from None


def _page(items: list[Obj], query: dict[str, str],
          rv: int) -> tuple[list[Obj], str, int | None]:
    """Apply `limit`/`continue`; returns the page, the next token and items remaining."""
    start = 0
    position = _continue_position(query)
    if position:
        after = position[0]
        start = next((i for i, item in enumerate(items)
                      if (meta(item).get("namespace", ""), meta(item)["name"]) > after),
                     len(items))
    limit = int(query.get("limit") or 0)
    if limit <= 0 or start + limit >= len(items):
        return items[start:], "", None
    page = items[start:start + limit]
    last = meta(page[-1])
    next_token = base64.urlsafe_b64encode(json.dumps(
        {"ns": last.get("namespace", ""), "name": last["name"], "rv": rv}).encode()).decode()
    return page, next_token, len(items) - start - limit

