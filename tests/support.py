"""Helpers any test may import (fixtures live in conftest.py).

- `eventually(check, what, timeout=..., interval=...)`: poll `check` until it returns
  something truthy and return that value; fail the test, naming `what` and the timeout,
  when it never does. Tests wait for the cluster this way, never with a bare sleep.
- `Wait`: `eventually` with a fixed timeout, what the `wait` fixture hands integration
  tests (the patience suits the cluster under test).
- `settled`, `running_pods`: what a workload looks like through the kube facade.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import pytest

from healer.kube import Kube, KubeObject, ObjectRef

T = TypeVar("T")


def eventually(check: Callable[[], T], what: str, *, timeout: float = 5.0,
               interval: float = 0.05) -> T:
    """Poll `check` until it returns something truthy and return that; fail the test if it
    has not after `timeout` seconds. `what` says what is awaited ("two ready pods")."""
    __tracebackhide__ = True
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


@dataclass(frozen=True)
class Wait:
    """`eventually` with a fixed timeout: `wait(check, what)`."""

    timeout: float

    def __call__(self, check: Callable[[], T], what: str) -> T:
        __tracebackhide__ = True
        return eventually(check, what, timeout=self.timeout)


def settled(facade: Kube, wait: Wait, workload: ObjectRef, replicas: int) -> None:
    """Wait until `workload` runs `replicas` updated, ready replicas and nothing else."""
    def done() -> bool:
        counts = facade.replicas(workload)
        return counts.settled and counts.desired == replicas

    wait(done, f"{workload} to settle at {replicas} ready replicas")


def running_pods(facade: Kube, namespace: str, app: str) -> list[KubeObject]:
    """The pods labelled app=`app` that are not being deleted."""
    return [p for p in facade.list_pods(namespace, selector=f"app={app}")
            if "deletionTimestamp" not in p.get("metadata", {})]

