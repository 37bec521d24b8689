"""The kube facade: the only place healer talks to the Kubernetes API.

- `client`: `Kube`, built once from a kubeconfig or the in-cluster service account and
  injected into actions and guards: typed reads, dry-run-aware writes;
- `retry`: `RetryPolicy`, the one retry layer (tenacity) every request goes through;
- `errors`: the API's failures as `KubeError`s (`NotFound`, `Forbidden`, `Conflict`,
  `Invalid`, `Throttled`, `Unavailable`), readable in the audit trail;
- `objects`: what comes back: `KubeObject` (the API's JSON), `ObjectRef`, `Scale`,
  `Replicas`, `Change` (a write, with its attempts).

It sits at the bottom of healer's layers and imports nothing above it.
"""

from healer.kube.client import POOL_SIZE, Kube, Timeouts
from healer.kube.errors import (
    Conflict,
    Forbidden,
    Invalid,
    KubeError,
    NotFound,
    Throttled,
    Unavailable,
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
)
from healer.kube.retry import RetryPolicy

__all__ = [
    "POOL_SIZE",
    "RESTARTED_AT",
    "SCALABLE_KINDS",
    "WORKLOAD_KINDS",
    "Change",
    "Conflict",
    "Forbidden",
    "Invalid",
    "Kube",
    "KubeError",
    "KubeObject",
    "NotFound",
    "ObjectRef",
    "Replicas",
    "RetryPolicy",
    "Scale",
    "Throttled",
    "Timeouts",
    "Unavailable",
    "controller_of",
]
