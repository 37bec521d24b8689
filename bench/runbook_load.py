"""How long loading 1,000 runbooks takes (the daemon loads them at start-up and on reload).

Writes 1,000 varied runbooks (100 files of 10 documents, alert / promql / kubernetes
triggers, matchers, templates, several steps) to a temporary directory, then prints:

- the time `healer.runbook.loader.load` takes for all of them: the first load, which
  parses and compiles every matcher (each runbook has a regex of its own), and the best
  of 5 later loads, which reuse the compiled matchers as a daemon's reload does;
- the time PyYAML's `safe_load_all` alone takes on the same files (the floor: parsing),
  and the ratio between the two, measured in the same run.

Run: .venv/bin/python bench/runbook_load.py
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import yaml

from healer.actions.catalog import default_registry
from healer.runbook.loader import load

FILES, PER_FILE = 100, 10

TRIGGERS = (
    """    alert:
      name: KubePodCrashLooping
      matchers: ['severity=~"warning|critical"', 'namespace!~"kube-.*|t{i}-.*"', 'team="t{i}"']""",
    """    promql:
      query: sum by (namespace, deployment) (rate(http_requests_total{{code=~"5.."}}[5m])) > {i}
      for: 5m""",
    """    kubernetes: {{kind: Pod, reason: OOMKilled, for: 1m}}""",
)


def runbook(i: int) -> str:
    return f"""apiVersion: healer/v1
kind: Runbook
metadata:
  name: bench-{i:04d}
  labels: {{team: t{i % 7}}}
spec:
  description: Benchmark runbook {i}.
  toilMinutes: {i % 30}
  trigger:
{TRIGGERS[i % 3].format(i=i)}
  target:
    kind: Pod
    namespace: "{{{{ labels.namespace }}}}"
    name: "{{{{ labels.pod }}}}-x"
  steps:
    - action: restart-pod
      params: {{gracePeriodSeconds: 30}}
    - action: rollout-restart
      target:
        kind: Deployment
        namespace: "{{{{ labels.namespace }}}}"
        name: "{{{{ owner.name }}}}"
    - action: notify
      params: {{message: "gave up on {{{{ labels.pod }}}}"}}
  guards:
    rateLimit: {{max: 3, per: 1h, by: target}}
    cooldown: 10m
    minHealthy: 75%
  notify: [oncall]
"""


def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        for f in range(FILES):
            documents = [runbook(f * PER_FILE + d) for d in range(PER_FILE)]
            (root / f"runbooks-{f:03d}.yaml").write_text("---\n".join(documents))
        registry = default_registry()

        def timed(work: object) -> float:
            best = float("inf")
            for _ in range(5):
                started = time.perf_counter()
                work()  # type: ignore[operator]
                best = min(best, time.perf_counter() - started)
            return best

        started = time.perf_counter()
        result = load([root], registry)
        first = time.perf_counter() - started
        assert result.ok, result.errors[:3]
        assert len(result.runbooks) == FILES * PER_FILE
        loading = timed(lambda: load([root], registry))
        files = sorted(root.glob("*.yaml"))
        parsing = timed(lambda: [list(yaml.load_all(p.read_text(), Loader=yaml.CSafeLoader))
                                 for p in files])
    print(f"load {FILES * PER_FILE} runbooks ({FILES} files): first {first * 1000:.0f} ms, "
          f"then {loading * 1000:.0f} ms (best of 5)")
    print(f"yaml.load_all (libyaml) of the same files: {parsing * 1000:.0f} ms; "
          f"load / parse = {loading / parsing:.2f}")


if __name__ == "__main__":
    main()
