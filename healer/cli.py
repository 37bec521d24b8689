"""The `healer` command line: one entry point, one subcommand per job.

Exit codes, for every subcommand: 0 success, 1 a failure was found (e.g. an invalid
runbook), 2 a usage or load error (bad flags, unreadable or invalid input). A user never
sees a traceback for bad input: `HealerError`s are printed as one clear message. Output
into a pipe whose reader has gone (`healer validate runbooks/ | head -1`) ends the
command quietly with exit 1: not all of it was delivered.

Each subcommand is a pair: a function that adds its parser, and one that runs it and
returns the exit code. Add new ones to `_SUBCOMMANDS`.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import TypeAlias

from healer import __version__, log
from healer.audit.store import Outcome
from healer.config import parse_listen
from healer.errors import ConfigError, HealerError

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2

Subcommands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def _listen(value: str) -> tuple[str, int]:
    """`HOST:PORT` (port 0 picks a free one) → (host, port), for argparse."""
    try:
        return parse_listen(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _stop_on_signals() -> threading.Event:
    """An event set by SIGTERM (how Kubernetes stops a pod) or SIGINT (Ctrl-C)."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return stop


# healer run -------------------------------------------------------------------------------


def _add_run(commands: Subcommands) -> None:
    parser = commands.add_parser(
        "run", help="run the remediation daemon",
        description="Take Alertmanager webhooks, decide under the runbooks' guards, act on "
                    "the cluster (in enforce mode) and record every decision in the audit "
                    "store. Settings: --config FILE, overridden by HEALER_* variables, "
                    "overridden by these flags (see docs/configuration.md). Stops "
                    "gracefully on SIGTERM or SIGINT.")
    parser.add_argument("--config", type=Path, metavar="FILE",
                        help="configuration file (YAML)")
    parser.add_argument("--runbooks", metavar="DIR", help="runbook directory or file")
    parser.add_argument("--listen", metavar="HOST:PORT",
                        help="address to serve the webhook, /metrics, /healthz and /readyz "
                             "on (default 0.0.0.0:8080)")
    parser.add_argument("--mode", choices=("dry-run", "enforce"),
                        help="dry-run (default) decides and records only; enforce acts")
    parser.add_argument("--audit-db", metavar="PATH", help="the audit store (SQLite)")
    parser.add_argument("--kubeconfig", metavar="PATH",
                        help="kubeconfig (default: the in-cluster service account, else "
                             "$KUBECONFIG or ~/.kube/config)")


def _run_run(args: argparse.Namespace) -> int:
    from healer.config import load_config  # noqa: PLC0415 - see _run_sandbox
    from healer.daemon import Daemon  # noqa: PLC0415

    config = load_config(args.config, os.environ, {
        "runbooks": args.runbooks, "listen": args.listen, "mode": args.mode,
        "auditDb": args.audit_db, "kubeconfig": args.kubeconfig})
    daemon = Daemon(config)
    daemon.serve_until(_stop_on_signals())
    return EXIT_OK


# healer demo ------------------------------------------------------------------------------


def _add_demo(commands: Subcommands) -> None:
    parser = commands.add_parser(
        "demo", help="watch healer remediate a simulated cluster, in seconds",
        description="Start the sandbox (a shop with a crash-looping pod and a saturated "
                    "Deployment), run the real daemon against it in enforce mode with "
                    "runbooks from the library, send it the alerts Alertmanager would, "
                    "narrate what healer decides and does, and print the audit trail. "
                    "No cluster, no network. Exit 0 when healer did all of it, 1 when it "
                    "did not (with what it did instead). Daemon logs show errors only "
                    "(--log-level debug for all).")
    parser.add_argument("--keep", action="store_true",
                        help="leave the sandbox and healer running until Ctrl-C, to look "
                             "around with kubectl")
    parser.add_argument("--audit-db", type=Path, metavar="PATH",
                        help="write the audit store here, a new file (default: a temporary "
                             "directory removed at the end)")


def _run_demo(args: argparse.Namespace) -> int:
    from healer import demo  # noqa: PLC0415 - see _run_sandbox

    # the narration says what matters (the runbooks' parts not in effect included)
    log.configure(level="error" if args.log_level == "info" else args.log_level)

    def say(line: str) -> None:
        print(line, flush=True)

    def until_interrupted() -> None:
        _stop_on_signals().wait()

    try:
        demo.run(say, audit_db=args.audit_db, until=until_interrupted if args.keep else None)
    except KeyboardInterrupt:  # Ctrl-C before the demo was done: it stopped what it started
        print("healer demo: interrupted", file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_OK


# healer sandbox ---------------------------------------------------------------------------


def _add_sandbox(commands: Subcommands) -> None:
    parser = commands.add_parser(
        "sandbox", help="serve a simulated Kubernetes cluster on loopback",
        description="Serve a simulated Kubernetes API (with controllers, pods that crash-loop "
                    "or get OOM-killed as the scenario says) that kubectl and the Python "
                    "client use unchanged. Runs until interrupted.")
    parser.add_argument("--listen", type=_listen, default=("127.0.0.1", 0),
                        metavar="HOST:PORT",
                        help="loopback address to serve on (default 127.0.0.1:0, a free port)")
    parser.add_argument("--kubeconfig-out", type=Path, metavar="FILE",
                        help="where to write the kubeconfig (default: a temporary file)")
    parser.add_argument("--scenario", type=Path, metavar="FILE",
                        help="scenario YAML (default: the built-in demo shop)")


def _run_sandbox(args: argparse.Namespace) -> int:
    # imported here so `healer --help` and other subcommands do not load the sandbox
    from healer.sandbox import Sandbox, default_scenario_path, load_scenario  # noqa: PLC0415

    host, port = args.listen
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        raise ConfigError(f"--listen {host}: the sandbox has no authentication and serves "
                          "only loopback addresses (127.0.0.1, ::1, localhost)")
    scenario = load_scenario(args.scenario or default_scenario_path())
    stop = _stop_on_signals()
    with Sandbox(scenario, host=host, port=port, kubeconfig=args.kubeconfig_out) as sandbox:
        pods = sandbox.objects("pods")
        nodes = sandbox.objects("nodes")
        print(f"healer sandbox: scenario {scenario.name!r} serving on {sandbox.url} "
              f"({len(nodes)} nodes, {len(pods)} pods)", flush=True)
        print(f"kubeconfig: {sandbox.kubeconfig}", flush=True)
        print(f"try:        kubectl --kubeconfig {sandbox.kubeconfig} get pods -A", flush=True)
        print("stop with Ctrl-C", flush=True)
        stop.wait()
    return EXIT_OK


# healer audit -------------------------------------------------------------------------------


def _add_audit(commands: Subcommands) -> None:
    parser = commands.add_parser(
        "audit", help="show the audit trail, newest first",
        description="Show what healer decided and did, newest first: a table for people, "
                    "or one JSON object per line for tools.")
    parser.add_argument("--db", type=Path, default=Path(os.environ.get(
        "HEALER_AUDIT_DB", "/var/lib/healer/audit.db")),
                        help="the audit store (default: $HEALER_AUDIT_DB, else "
                             "/var/lib/healer/audit.db)")
    parser.add_argument("--since", metavar="DURATION",
                        help="only records of the last DURATION, like 30m or 2h")
    parser.add_argument("--runbook", metavar="NAME", help="only this runbook's records")
    parser.add_argument("--target", metavar="NS/NAME",
                        help="only records about this target (NAME for nodes)")
    parser.add_argument("--outcome", choices=[o.value for o in Outcome])
    parser.add_argument("--limit", type=int, default=None, metavar="N",
                        help="at most N records")
    parser.add_argument("--output", choices=("table", "json"), default="table")


def _run_audit(args: argparse.Namespace) -> int:
    from healer.audit.store import Store  # noqa: PLC0415 - see _run_sandbox
    from healer.audit.view import json_lines, table  # noqa: PLC0415
    from healer.runbook.model import DurationError, parse_duration  # noqa: PLC0415

    if not args.db.is_file():
        raise ConfigError(f"no audit store at {args.db} (give its path with --db)")
    since = None
    if args.since is not None:
        try:
            since = datetime.now(UTC) - timedelta(seconds=parse_duration(args.since))
        except DurationError as error:
            raise ConfigError(f"--since: {error}") from None
    store = Store(args.db)
    try:
        records = store.query(since=since, runbook=args.runbook, target=args.target,
                              outcome=Outcome(args.outcome) if args.outcome else None,
                              limit=args.limit)
    finally:
        store.close()
    for line in (json_lines(records) if args.output == "json" else table(records)):
        print(line)
    return EXIT_OK


# healer validate / healer schema ----------------------------------------------------------


def _add_validate(commands: Subcommands) -> None:
    parser = commands.add_parser(
        "validate", help="check runbook files; print every problem as path:line:col",
        description="Check runbooks (files, or directories of *.yaml/*.yml) against the "
                    "format and the action catalogue. Exit 0 when all are valid, 1 when any "
                    "is not, 2 on a usage error.")
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    parser.add_argument("--output", choices=("text", "json"), default="text",
                        help="text for people (default), json for machines")


def _run_validate(args: argparse.Namespace) -> int:
    from healer.actions.catalog import default_registry  # noqa: PLC0415 - see _run_sandbox
    from healer.runbook.loader import load, runbook_files  # noqa: PLC0415

    missing = [str(p) for p in args.paths if not p.exists()]
    if missing:
        raise ConfigError(f"no such file or directory: {', '.join(missing)}")
    # A directory without runbook files is a wrong path (a typo, a moved folder), not a
    # pass: "0 runbooks: all valid" would let CI go green while checking nothing.
    empty = [str(p) for p in args.paths if p.is_dir() and not runbook_files([p])[0]]
    if empty:
        raise ConfigError(f"no *.yaml or *.yml files in: {', '.join(empty)}")
    result = load(args.paths, default_registry())
    broken = sorted({e.path for e in result.errors})
    if args.output == "json":
        print(json.dumps({
            "valid": result.ok,
            "files": list(result.files),
            "runbooks": [{"name": r.name, "revision": r.revision,
                          "path": r.source.path if r.source else None,
                          "line": r.source.line if r.source else None}
                         for r in result.runbooks],
            "errors": [{"path": e.path, "line": e.line, "column": e.column,
                        "message": e.message} for e in result.errors],
        }, indent=2))
    else:
        for error in result.errors:
            print(error)
        files = f"{len(result.files)} file{'s' if len(result.files) != 1 else ''}"
        if result.ok:
            print(f"{len(result.runbooks)} runbook{'s' if len(result.runbooks) != 1 else ''} "
                  f"in {files}: all valid")
        else:
            print(f"{len(result.errors)} problem{'s' if len(result.errors) != 1 else ''} in "
                  f"{len(broken)} of {files}")
    return EXIT_OK if result.ok else EXIT_FAILURE


def _add_schema(commands: Subcommands) -> None:
    commands.add_parser(
        "schema", help="print the JSON Schema of the runbook format",
        description="Print the JSON Schema (draft 2020-12) of runbooks, for editors: save it "
                    "and point yaml-language-server at it (see docs/runbooks.md).")


def _run_schema(args: argparse.Namespace) -> int:
    from healer.actions.catalog import default_registry  # noqa: PLC0415 - see _run_sandbox
    from healer.runbook.format import API_VERSION, runbook_spec  # noqa: PLC0415

    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema",
              "title": f"healer runbook ({API_VERSION})",
              **runbook_spec(default_registry()).schema()}
    print(json.dumps(schema, indent=2))
    return EXIT_OK


# entry point ------------------------------------------------------------------------------

Subcommand = tuple[Callable[[Subcommands], None], Callable[[argparse.Namespace], int]]

_SUBCOMMANDS: dict[str, Subcommand] = {
    "audit": (_add_audit, _run_audit),
    "demo": (_add_demo, _run_demo),
    "run": (_add_run, _run_run),
    "sandbox": (_add_sandbox, _run_sandbox),
    "schema": (_add_schema, _run_schema),
    "validate": (_add_validate, _run_validate),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="healer",
        description="healer: a self-healing remediation daemon for Kubernetes.",
        epilog="exit codes: 0 ok, 1 failure found, 2 usage or load error")
    parser.add_argument("--version", action="version", version=f"healer {__version__}")
    parser.add_argument("--log-level", default="info",
                        choices=("debug", "info", "warning", "error"),
                        help="log verbosity (default info)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add, _ in _SUBCOMMANDS.values():
        add(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        try:
            return _main(argv)
        finally:
            sys.stdout.flush()  # here, not at exit: a closed pipe shows as BrokenPipeError
    except BrokenPipeError:
        # The reader went away (`healer validate runbooks/ | head -1`): stop quietly, as
        # Python's docs advise (signal module, "Note on SIGPIPE"); stdout now points at
        # /dev/null, so that flushing it at exit cannot fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_FAILURE


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    log.configure(level=args.log_level)
    try:
        return _SUBCOMMANDS[args.command][1](args)
    except HealerError as error:
        print(f"healer {args.command}: error: {error}", file=sys.stderr)
        return EXIT_USAGE if isinstance(error, ConfigError) else EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
