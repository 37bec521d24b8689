"""healer's HTTP side: the Alertmanager webhook, health, readiness and metrics, one port.

    POST /api/v1/alerts   an Alertmanager webhook payload (version 4). 200 once queued
                          for a decision (the answer never waits for an action); 400 with
                          the reason for malformed JSON or a wrong shape; 413 over
                          `max_body_bytes`; 415 for a content type other than JSON; 503
                          when the intake is full or healer is stopping (Alertmanager
                          retries a 5xx later, so nothing is lost).
    GET  /healthz         200 while the process serves requests.
    GET  /readyz          200 when the runbooks are loaded, the audit store is writable
                          and the Kubernetes API answers; 503 naming what is not.
    GET  /metrics         Prometheus text format (`healer.metrics`).

Served by waitress, a production WSGI server with a thread pool and its own request
parsing and body limits; the WSGI application below holds no state of its own.

Neighbours: the engine (`submit`), `healer.signals.alertmanager` (parsing), `Metrics`;
the daemon builds and stops it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Mapping
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

import structlog
from waitress.server import TcpWSGIServer, create_server
from waitress.wasyncore import close_all

from healer.metrics import Metrics
from healer.signals import PayloadError, Signal, parse_webhook

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

__all__ = ["ALERTS_PATH", "HttpServer", "WebApp"]

log = structlog.get_logger(__name__)

ALERTS_PATH = "/api/v1/alerts"
Check = Callable[[], str | None]  # None: fine; else what is wrong


class WebApp:
    """The WSGI application: routes, limits, and the answer for each case."""

    def __init__(self, submit: Callable[[list[Signal]], bool], metrics: Metrics, *,
                 max_body_bytes: int, checks: Mapping[str, Check]) -> None:
        self._submit = submit
        self._metrics = metrics
        self._max_body = max_body_bytes
        self._checks = checks
        self._routes: dict[str, tuple[str, Callable[[WSGIEnvironment], _Answer]]] = {
            ALERTS_PATH: ("POST", self._alerts),
            "/healthz": ("GET", lambda _environ: (200, {"status": "ok"})),
            "/readyz": ("GET", self._ready),
            "/metrics": ("GET", self._exposition),
        }

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse
                 ) -> Iterable[bytes]:
        route = self._routes.get(environ.get("PATH_INFO", ""))
        method = environ.get("REQUEST_METHOD", "GET")
        body: dict[str, Any] | bytes
        if route is None:
            status, body = 404, {"error": f"no such path; healer serves {ALERTS_PATH}, "
                                          "/healthz, /readyz and /metrics"}
        elif method != route[0] and not (route[0] == "GET" and method == "HEAD"):
            status, body = 405, {"error": f"{method} not allowed here; use {route[0]}"}
        else:
            status, body = route[1](environ)
        headers = [("Allow", route[0])] if status == 405 and route else []
        if isinstance(body, bytes):
            data, kind = body, "text/plain; version=0.0.4; charset=utf-8"
        else:
            data, kind = json.dumps(body).encode() + b"\n", "application/json"
        headers = [("Content-Type", kind), ("Content-Length", str(len(data))), *headers]
        start_response(f"{status} {HTTPStatus(status).phrase}", headers)
        return [b"" if method == "HEAD" else data]

    def _alerts(self, environ: WSGIEnvironment) -> _Answer:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return self._rejected(400, "bad Content-Length")
        if length > self._max_body:
            return self._rejected(413, f"the body is {length} bytes; healer takes at most "
                                       f"{self._max_body} (maxBodyBytes)")
        body = environ["wsgi.input"].read(length) if length else b""
        try:
            signals = parse_webhook(body, environ.get("CONTENT_TYPE"))
        except PayloadError as error:
            return self._rejected(error.status, error.reason)
        if not self._submit(signals):
            return self._rejected(503, "healer's intake is full or healer is stopping; "
                                       "send it again later")
        return 200, {"status": "accepted", "alerts": len(signals)}

    def _rejected(self, status: int, reason: str) -> _Answer:
        self._metrics.rejected.labels(_REJECTED[status]).inc()
        log.info("webhook_rejected", status=status, reason=reason)
        return status, {"error": reason}

    def _ready(self, _environ: WSGIEnvironment) -> _Answer:
        problems = {name: problem for name, check in self._checks.items()
                    if (problem := check()) is not None}
        if problems:
            return 503, {"status": "not ready", "problems": problems}
        return 200, {"status": "ready"}

    def _exposition(self, _environ: WSGIEnvironment) -> _Answer:
        return 200, self._metrics.exposition()


_Answer = tuple[int, "dict[str, Any] | bytes"]
_REJECTED = {400: "malformed", 413: "too_large", 415: "content_type", 503: "queue_full"}


class HttpServer:
    """waitress serving `app` on one address, on a thread of its own."""

    def __init__(self, app: WebApp, host: str, port: int, *, max_body_bytes: int,
                 threads: int = 8) -> None:
        self._map: dict[int, Any] = {}  # waitress's socket map: ours, to close at stop
        server = create_server(
            app, map=self._map, host=host, port=port, threads=threads, ident="healer",
            # waitress buffers a body before the app sees it: its own limit bounds that
            # memory, above ours so that healer answers (and counts) a body a little
            # too large itself; past 4x waitress answers 413 in plain text
            max_request_body_size=4 * max_body_bytes, clear_untrusted_proxy_headers=True,
            expose_tracebacks=False, channel_timeout=30)
        if not isinstance(server, TcpWSGIServer):  # one host:port makes one TCP server
            raise TypeError(f"unexpected waitress server {type(server).__name__}")
        self._server = server
        self._thread = threading.Thread(target=self._server.run, name="http", daemon=True)

    @property
    def address(self) -> tuple[str, int]:
        sock = self._server.socket
        if sock is None:
            raise RuntimeError("the HTTP server is closed")
        host, port = sock.getsockname()[:2]
        return str(host), int(port)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: int = 2) -> None:
        """Stop taking connections and close open ones (from the server's own thread, as
        waitress requires); requests being answered get `timeout` seconds to finish."""
        trigger: Any = self._server.trigger  # (types-waitress says int: it is a trigger)
        trigger.pull_trigger(lambda: close_all(self._map))
        self._thread.join(timeout)
        self._server.task_dispatcher.shutdown(timeout=timeout)
