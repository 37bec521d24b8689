"""How much load the sandbox takes: 2,000 pods and sustained API request rates.

Later benchmarks drive healer against the sandbox; this one checks the sandbox will not be
their bottleneck. It prints:

- the time for 20 Deployments x 100 replicas (2,000 pods) to become available;
- requests per second the sandbox serves with 2,000 pods stored (GET one pod, LIST a
  namespace's 100 pods, PATCH a deployment), from several client threads over keep-alive
  connections;
- the same client loop against a bare standard-library HTTP server answering a fixed
  body, measured in the same run, and the sandbox's rate as a ratio of it (machines are
  noisy; the ratio is what to compare between runs).

Run: .venv/bin/python bench/sandbox_load.py [--seconds 3] [--threads 4]
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import urllib3

from healer.sandbox import Sandbox, Scenario
from healer.sandbox.behaviour import Timing
from healer.sandbox.scenario import NodeSpec

DEPLOYMENTS, REPLICAS = 20, 100


def deployment(name: str) -> dict[str, object]:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": name},
            "spec": {"replicas": REPLICAS, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "app",
                                                           "image": f"example/{name}:1"}]}}}}


def rate(request: Callable[[urllib3.PoolManager], None], seconds: float, threads: int) -> float:
    """Requests per second that `threads` clients achieve for `seconds`."""
    counts = [0] * threads
    stop = time.monotonic() + seconds

    def loop(index: int) -> None:
        pool = urllib3.PoolManager(maxsize=1)
        while time.monotonic() < stop:
            request(pool)
            counts[index] += 1
        pool.clear()

    workers = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
    started = time.monotonic()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sum(counts) / (time.monotonic() - started)


class _Fixed(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    body = json.dumps({"kind": "Pod", "metadata": {"name": "x"}}).encode()

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()

    scenario = Scenario(name="bench", timing=Timing(pod_start=0.5),
                        nodes=tuple(NodeSpec(f"node-{i}") for i in range(1, 21)))
    with Sandbox(scenario) as sandbox:
        started = time.monotonic()
        for i in range(DEPLOYMENTS):
            name = f"app-{i:02d}"
            sandbox.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
            sandbox.apply(deployment(name))
        sandbox.wait_for(lambda: all(
            (d.get("status") or {}).get("availableReplicas") == REPLICAS
            for d in sandbox.objects("deployments")), timeout=300, interval=0.2)
        ready_after = time.monotonic() - started
        pods = sandbox.objects("pods")
        print(f"{len(pods)} pods in {DEPLOYMENTS} deployments available after "
              f"{ready_after:.1f} s")

        url = sandbox.url
        one = pods[0]["metadata"]
        get_url = f"{url}/api/v1/namespaces/{one['namespace']}/pods/{one['name']}"
        list_url = f"{url}/api/v1/namespaces/app-00/pods"
        patch_url = f"{url}/apis/apps/v1/namespaces/app-01/deployments/app-01"
        counter = iter(range(10**9))

        def get(pool: urllib3.PoolManager) -> None:
            assert pool.request("GET", get_url).status == 200

        def list_pods(pool: urllib3.PoolManager) -> None:
            assert pool.request("GET", list_url).status == 200

        def patch(pool: urllib3.PoolManager) -> None:
            body = json.dumps({"metadata": {"annotations": {"bench": str(next(counter))}}})
            response = pool.request("PATCH", patch_url, body=body,
                                    headers={"Content-Type": "application/merge-patch+json"})
            assert response.status == 200

        rates = {name: rate(fn, args.seconds, args.threads)
                 for name, fn in (("GET pod", get), ("LIST 100 pods", list_pods),
                                  ("PATCH deployment", patch))}

    baseline_server = ThreadingHTTPServer(("127.0.0.1", 0), _Fixed)
    baseline_server.daemon_threads = True
    threading.Thread(target=baseline_server.serve_forever, daemon=True).start()
    baseline_url = f"http://127.0.0.1:{baseline_server.server_address[1]}/"

    def fixed(pool: urllib3.PoolManager) -> None:
        assert pool.request("GET", baseline_url).status == 200

    baseline = rate(fixed, args.seconds, args.threads)
    baseline_server.shutdown()
    print(f"bare stdlib HTTP server (same client, {args.threads} threads): "
          f"{baseline:,.0f} req/s")
    for name, value in rates.items():
        print(f"sandbox {name:<18} {value:>8,.0f} req/s   {value / baseline:.2f} x bare server")


if __name__ == "__main__":
    main()
