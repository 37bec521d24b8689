"""Kubernetes API failures as healer errors, readable in an audit trail.

The official client raises `ApiException` (an HTTP answer with a `Status` body) and lets
urllib3's transport errors through (timeouts, refused or dropped connections). The kube
facade turns both into one `KubeError` tree here, and nowhere else, so the layers above
never import the client's exception types:

    KubeError                       status, reason, message, request, retryable, attempts
    ├── NotFound        404
    ├── Forbidden       403         RBAC said no: retrying never helps
    ├── Conflict        409         stale resourceVersion, a failed precondition, exists
    ├── Invalid         422         the server's validation refused the object
    ├── Throttled       429         retryable, honouring Retry-After
    └── Unavailable     5xx, timeouts, connection errors (status 0): retryable

Other codes (400, 401, 405, 410, 415) are a plain `KubeError` that is not retryable.
A message reads `GET deployments shop/checkout: 403 Forbidden: deployments.apps
"checkout" is forbidden: User ...`, the Status message truncated to `MAX_MESSAGE`.

Neighbours: `healer.kube.client` (raises these), `healer.kube.retry` (reads `retryable`
and `retry_after`).
"""

from __future__ import annotations

import http.client
import json
import ssl
from typing import Any

import urllib3.exceptions
from kubernetes.client.exceptions import ApiException

from healer.errors import HealerError

MAX_MESSAGE = 500  # characters of the server's message kept in an error


class KubeError(HealerError):
    """A Kubernetes API request that failed, after the retries it was worth.

    `status` is the HTTP code (0 when no answer came: timeout, connection error);
    `reason` the Status reason (`Forbidden`, `NotFound` ...) or the transport failure
    (`Timeout`, `ConnectionError`); `message` the Status message; `request` what was
    asked (`PATCH deployments shop/checkout (dry run)`); `retryable` whether the same
    request may succeed later; `retry_after` the seconds the server asked to wait;
    `attempts` how many requests were sent before giving up.
    """

    retryable_by_default = False

    def __init__(self, request: str, status: int, reason: str, message: str, *,
                 retry_after: float | None = None, retryable: bool | None = None) -> None:
        super().__init__(request, status, reason, message)
        self.request = request
        self.status = status
        self.reason = reason
        self.message = message
        self.retry_after = retry_after
        self.retryable = self.retryable_by_default if retryable is None else retryable
        self.attempts = 1

    def __str__(self) -> str:
        answer = f"{self.status} {self.reason}" if self.status else self.reason
        text = f"{self.request}: {answer}: {self.message}"
        if self.attempts > 1:
            text += f" (gave up after {self.attempts} attempts)"
        return text


class NotFound(KubeError):  # noqa: N818 - named after the API's reason, like the others
    """404: the object (or the namespace) does not exist."""


class Forbidden(KubeError):  # noqa: N818
    """403: healer's service account may not do this; fix RBAC, retrying never helps."""


class Conflict(KubeError):  # noqa: N818
    """409: a stale resourceVersion, a failed precondition, or the object already exists."""

    @property
    def uid_mismatch(self) -> bool:
        """The object with this name is not the one meant (a precondition on its uid)."""
        return "Precondition failed: UID" in self.message


class Invalid(KubeError):  # noqa: N818
    """422: the server's validation refused the request's object."""


class Throttled(KubeError):  # noqa: N818
    """429: the API server (or a PodDisruptionBudget, for evictions) asks to come back."""

    retryable_by_default = True


class Unavailable(KubeError):  # noqa: N818
    """5xx, a timeout or a connection error: the request may succeed when tried again."""

    retryable_by_default = True


_BY_STATUS: dict[int, type[KubeError]] = {
    403: Forbidden, 404: NotFound, 409: Conflict, 422: Invalid, 429: Throttled,
}


def from_api_exception(request: str, error: ApiException) -> KubeError:
    """The healer error for an HTTP answer the client raised as `ApiException`."""
    status = int(error.status or 0)
    body = _status_body(error.body)
    reason = str(body.get("reason") or error.reason or "Error")
    message = _truncate(str(body.get("message") or (error.body or "").strip()
                            or error.reason or "no message"))
    retry_after = _retry_after(error.headers, body)
    kind = _BY_STATUS.get(status) or (Unavailable if status >= 500 else KubeError)
    return kind(request, status, reason, message, retry_after=retry_after)


def from_transport_error(request: str, error: BaseException) -> KubeError:
    """The healer error for a request that got no HTTP answer (urllib3 or socket error)."""
    if isinstance(error, urllib3.exceptions.MaxRetryError) and error.reason is not None:
        error = error.reason  # urllib3's wrapper; its reason is what went wrong
    message = _truncate(str(error) or type(error).__name__)
    if isinstance(error, urllib3.exceptions.SSLError | ssl.SSLError):
        # a certificate or TLS set-up problem does not go away by asking again
        return KubeError(request, 0, "TLSError", message, retryable=False)
    if isinstance(error, urllib3.exceptions.LocationValueError):
        return KubeError(request, 0, "BadURL", message, retryable=False)
    if isinstance(error, urllib3.exceptions.TimeoutError | TimeoutError) and not isinstance(
            error, urllib3.exceptions.NewConnectionError):
        return Unavailable(request, 0, "Timeout", message)
    return Unavailable(request, 0, "ConnectionError", message)


TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    urllib3.exceptions.HTTPError, http.client.HTTPException, OSError,
)
"""What a request raises when no HTTP answer arrived (urllib3 wraps most of it)."""


def _status_body(body: str | bytes | None) -> dict[str, Any]:
    if not body:
        return {}
    try:
        parsed = json.loads(body)
    except ValueError:  # an HTML page from a proxy, a truncated body
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _retry_after(headers: Any, body: dict[str, Any]) -> float | None:
    """Seconds from the Retry-After header (delta-seconds form) or the Status details."""
    header = headers.get("Retry-After") if headers is not None else None
    for value in (header, (body.get("details") or {}).get("retryAfterSeconds")):
        if value is None:
            continue
        try:
            seconds = float(value)
        except (TypeError, ValueError):  # an HTTP date: rare, and not worth parsing
            continue
        if seconds >= 0:
            return seconds
    return None


def _truncate(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE - 1] + "…"
