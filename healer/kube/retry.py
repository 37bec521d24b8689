"""The one retry layer between healer and the Kubernetes API.

DESIGN.md: retries live at one boundary. Every request the kube facade sends goes through
`RetryPolicy.retrying`, a tenacity loop that:

- retries what may succeed when asked again: 429 (waiting out Retry-After, capped at
  `retry_after_max`), 5xx, timeouts and connection errors (`KubeError.retryable`);
- never retries what will not change: 400, 403, 404, 409, 422;
- waits with jittered exponential backoff ("equal jitter": half the step plus a random
  share of the other half, so clients that failed together do not return together);
- is bounded: at most `attempts` requests, and no attempt starts later than `budget`
  seconds after the first; a Retry-After that does not fit the budget ends it at once
  (retrying earlier than the server asked would only be throttled again).

urllib3's own retries are switched off by the facade (`Configuration.retries = False`),
so this is the only layer, and the attempt count reported in the audit trail is the
number of requests the API server saw.

Neighbours: `healer.kube.client` (runs each request in `retrying`), `healer.kube.errors`
(what is retryable).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog
import tenacity

from healer.kube.errors import KubeError

log = structlog.get_logger(__name__)

@dataclass(frozen=True)
class RetryPolicy:
    """How hard one request to the Kubernetes API is tried before its error is reported."""

    attempts: int = 5  # requests at most, the first included
    budget: float = 10.0  # seconds after the first attempt's start when no new one starts
    backoff: float = 0.2  # seconds: the step before the second attempt, doubling after
    backoff_max: float = 3.0  # seconds: the largest step
    retry_after_max: float = 5.0  # seconds: the longest Retry-After honoured

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")
        if min(self.budget, self.backoff, self.backoff_max, self.retry_after_max) < 0:
            raise ValueError("retry durations must not be negative")

    def retrying(self, request: str,
                 sleep: Callable[[float], None] = time.sleep) -> tenacity.Retrying:
        """A tenacity loop for one request (`request` names it in the retry log line)."""
        return tenacity.Retrying(
            retry=tenacity.retry_if_exception(_retryable),
            stop=self._stop,
            wait=self._wait,
            sleep=sleep,
            before_sleep=lambda state: _log_retry(request, state),
            reraise=True,
        )

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based), jittered."""
        step = min(self.backoff_max, self.backoff * 2.0 ** (attempt - 1))
        return step / 2 + random.uniform(0, step / 2)  # noqa: S311 - jitter, not a secret

    def _honoured(self, state: tenacity.RetryCallState) -> float | None:
        """The Retry-After the last answer asked for, capped; None when it asked none."""
        error = state.outcome.exception() if state.outcome is not None else None
        if isinstance(error, KubeError) and error.retry_after is not None:
            return min(error.retry_after, self.retry_after_max)
        return None

    def _stop(self, state: tenacity.RetryCallState) -> bool:
        if state.attempt_number >= self.attempts:
            return True
        elapsed = state.seconds_since_start or 0.0
        if elapsed >= self.budget:
            return True
        asked = self._honoured(state)
        return asked is not None and elapsed + asked > self.budget

    def _wait(self, state: tenacity.RetryCallState) -> float:
        remaining = max(0.0, self.budget - (state.seconds_since_start or 0.0))
        backoff = min(self.delay(state.attempt_number), remaining)
        asked = self._honoured(state)
        return backoff if asked is None else max(backoff, asked)


DEFAULT_RETRY = RetryPolicy()


def _retryable(error: BaseException) -> bool:
    return isinstance(error, KubeError) and error.retryable


def _log_retry(request: str, state: tenacity.RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome is not None else None
    wait = state.next_action.sleep if state.next_action is not None else 0.0
    log.warning("kube_request_retried", request=request, attempt=state.attempt_number,
                status=getattr(error, "status", None), reason=getattr(error, "reason", None),
                wait=round(wait, 3))
