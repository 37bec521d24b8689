"""The sandbox: a simulated Kubernetes cluster served over real HTTP.

No real API server runs on our machines, so healer ships one good enough that the real
`kubectl` and the official `kubernetes` Python client accept it unchanged. Tests,
`healer demo` and `healer test` run against it. The public handle is `Sandbox`; the
scenario format is documented in docs/sandbox.md.
"""

from healer.sandbox.cluster import Sandbox
from healer.sandbox.scenario import Scenario, default_scenario_path, load_scenario

__all__ = ["Sandbox", "Scenario", "default_scenario_path", "load_scenario"]
