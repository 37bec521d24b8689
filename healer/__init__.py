"""healer: a self-healing remediation daemon for Kubernetes.

Signals (Alertmanager webhooks, PromQL, Kubernetes state) are matched against YAML
runbooks and remediated under safety guards, with every decision written to an audit
trail. See docs/architecture.md for how the parts fit together.
"""

__version__ = "0.1.0"
