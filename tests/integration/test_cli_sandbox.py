"""The `healer` command line and `healer sandbox` as a user runs them.

Covers: `--version` and `--help`; exit code 2 (with a message, no traceback) for no
subcommand, a bad `--listen`, a non-loopback address and a broken scenario file;
`healer sandbox` printing where it listens, writing a kubeconfig the real kubectl uses,
serving the scenario's objects, and stopping cleanly on SIGTERM.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from healer import __version__

HEALER = [sys.executable, "-m", "healer.cli"]


def run_healer(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*HEALER, *args], capture_output=True, text=True, timeout=timeout,
                          check=False)


def assert_usage_error(result: subprocess.CompletedProcess[str], message: str) -> None:
    """Exit 2 with `message` on stderr, and no traceback."""
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_version_prints_the_package_version() -> None:
    """`healer --version` prints the installed version and exits 0."""
    result = run_healer("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"healer {__version__}"


def test_help_lists_the_sandbox_subcommand() -> None:
    """`healer --help` documents the subcommands and the exit codes."""
    result = run_healer("--help")
    assert result.returncode == 0
    assert "sandbox" in result.stdout
    assert "exit codes" in result.stdout


def test_no_subcommand_is_a_usage_error() -> None:
    """Running `healer` alone prints usage and exits 2."""
    assert_usage_error(run_healer(), "usage: healer")


@pytest.mark.parametrize("listen", ["127.0.0.1", "localhost:http", ":80"])
def test_malformed_listen_address_is_a_usage_error(listen: str) -> None:
    """`--listen` must be HOST:PORT."""
    assert_usage_error(run_healer("sandbox", "--listen", listen), "expected HOST:PORT")


def test_sandbox_refuses_non_loopback_addresses() -> None:
    """The unauthenticated sandbox never listens beyond loopback."""
    assert_usage_error(run_healer("sandbox", "--listen", "0.0.0.0:0"), "only loopback")


def test_busy_port_is_reported_without_traceback() -> None:
    """An address already in use is a clear error, exit 2."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_healer("sandbox", "--listen", f"127.0.0.1:{port}")
    assert_usage_error(result, f"cannot listen on 127.0.0.1:{port}: Address already in use")


def test_broken_scenario_is_reported_without_traceback(tmp_path: Path) -> None:
    """A scenario with a bad behaviour names the file and the field, and exits 2."""
    scenario = tmp_path / "broken.yaml"
    scenario.write_text("pods:\n  - select: {namespace: shop}\n    behaviour: crashloop\n")
    assert_usage_error(run_healer("sandbox", "--scenario", str(scenario)),
                       f"{scenario}: pods[0].behaviour: expected one of healthy, crash-loop")


def test_unparseable_scenario_names_line_and_column(tmp_path: Path) -> None:
    """Invalid YAML is reported as file:line:col."""
    scenario = tmp_path / "bad.yaml"
    scenario.write_text("objects:\n  - {apiVersion: v1\n")
    assert_usage_error(run_healer("sandbox", "--scenario", str(scenario)),
                       f"{scenario}:3:1: invalid YAML")


def test_sandbox_serves_the_demo_to_kubectl_and_stops_on_sigterm(tmp_path: Path,
                                                                  kubectl: str) -> None:
    """`healer sandbox` prints its address, writes a working kubeconfig, exits 0 on SIGTERM."""
    kubeconfig = tmp_path / "kubeconfig"
    with subprocess.Popen([*HEALER, "sandbox", "--kubeconfig-out", str(kubeconfig)],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            banner = process.stdout.readline()
            assert banner.startswith(
                "healer sandbox: scenario 'demo' serving on http://127.0.0.1:")
            assert "3 nodes" in banner
            deployments = _wait_for_demo(kubectl, kubeconfig)
            assert set(deployments) == {"checkout", "frontend"}
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=10)
    assert process.returncode == 0


def _wait_for_demo(kubectl: str, kubeconfig: Path) -> dict[str, dict[str, object]]:
    """The demo's deployments, once its frontend is available."""
    deadline = time.monotonic() + 10
    while True:
        result = subprocess.run([kubectl, "--kubeconfig", str(kubeconfig), "get",
                                 "deployments", "-n", "shop", "-o", "json"],
                                capture_output=True, text=True, timeout=10, check=True)
        items = {d["metadata"]["name"]: d for d in json.loads(result.stdout)["items"]}
        if items["frontend"].get("status", {}).get("availableReplicas") == 2:
            return items
        assert time.monotonic() < deadline, "the demo's frontend never became available"
        time.sleep(0.2)
