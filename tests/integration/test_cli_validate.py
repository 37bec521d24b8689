"""`healer validate` and `healer schema` as SREs and CI pipelines run them: the installed
console script (next to sys.executable) in a subprocess, its stdout, stderr and exit code.

Covers:
- all valid, exit 0 and "N runbooks in M files: all valid": the shipped library; one
  file; several paths; a directory tree with nested folders and `.yml` files (other files
  ignored); several runbooks in one file; a directory tree with a symlink loop.
- problems, exit 1: each one as `path:line:col: message` (a misspelt key and an unknown
  action, both with a did-you-mean hint), then "N problems in M of K files"; valid files
  given alongside are not reported; a duplicate name across files names both places.
- a reader that closes the pipe early (`| head -1`): a quiet exit 1, no traceback.
- usage errors, exit 2 with one message on stderr, nothing on stdout, no traceback: no
  PATH, a path that does not exist, an unknown flag, `--output yaml`, and a directory with
  no YAML files in it (CI pointed at the wrong folder must not pass having checked nothing).
- broken input is a problem, never a traceback: binary garbage, an empty file, comments
  only, broken YAML, a NUL byte, billion-laughs alias bombs (finish fast under a memory
  cap), 10,000 levels of nesting.
- `--output json`: one document of the documented shape, the same exit codes, the same
  problems as the text lines.
- `healer schema`: a valid draft 2020-12 JSON Schema that accepts the library and rejects a
  misspelt key; the editor set-up docs/runbooks.md describes (`healer schema >
  runbook.schema.json`, the modeline in the tutorial's runbook) and the `healer validate`
  output it shows are what the CLI does.
"""

from __future__ import annotations

import json
import re
import string
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = ROOT / "runbooks"
# the console script pip installed into the same environment as the running interpreter
HEALER = Path(sys.executable).parent / "healer"
DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"

# Runs the console script under an address-space limit: a YAML bomb must fail to allocate
# rather than take the machine with it. (A wrapper that execs, not preexec_fn: the test
# process may have threads, e.g. the session's sandbox.)
_LIMITED = ("import os, resource, sys; "
            "resource.setrlimit(resource.RLIMIT_AS, (int(sys.argv[1]),) * 2); "
            "os.execv(sys.argv[2], sys.argv[2:])")
# validating the whole library peaks below 40 MiB of address space
MEMORY_CAP = 256 * 2**20

RUNBOOK = string.Template("""\
apiVersion: healer/v1
kind: Runbook
metadata:
  name: $name
spec:
  description: Delete a crash-looping api pod so that its Deployment replaces it.
  trigger:
    alert:
      name: KubePodCrashLooping
  target:
    kind: Pod
    namespace: "{{ labels.namespace }}"
    name: "{{ labels.pod }}"
  steps:
    - action: $action
  guards:
    $cooldown: 30m
""")


def runbook(name: str, *, action: str = "restart-pod", cooldown: str = "cooldown") -> str:
    """A runbook; misspell `action` (line 15, column 15) or `cooldown` (line 17, column 5)."""
    return RUNBOOK.substitute(name=name, action=action, cooldown=cooldown)


BAD_LINES = [
    "bad.yaml:15:15: spec.steps[0].action: unknown action 'restart-pdo' "
    "(did you mean 'restart-pod'?)",
    "bad.yaml:17:5: unknown key 'cooldwn' in spec.guards (did you mean 'cooldown'?)",
]


def write(directory: Path, files: dict[str, str | bytes]) -> None:
    for name, content in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)


def run_healer(*args: str, cwd: Path = ROOT, timeout: float = 30,
               memory_cap: int | None = None) -> subprocess.CompletedProcess[str]:
    assert HEALER.is_file(), f"{HEALER} is missing: install healer (pip install -e .)"
    command = [str(HEALER), *args]
    if memory_cap is not None:
        command = [sys.executable, "-c", _LIMITED, str(memory_cap), *command]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          check=False)


def lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    return result.stdout.splitlines()


def assert_no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr, result.stderr


def assert_usage_error(result: subprocess.CompletedProcess[str], message: str) -> None:
    """Exit 2, `message` on stderr, nothing on stdout, and no traceback."""
    assert result.returncode == 2, result
    assert message in result.stderr
    assert result.stdout == ""
    assert_no_traceback(result)


def validate_json(*args: str, cwd: Path) -> tuple[int, dict[str, Any]]:
    """`healer validate --output json ARGS`: the exit code and the one JSON document."""
    result = run_healer("validate", "--output", "json", *args, cwd=cwd)
    assert_no_traceback(result)
    return result.returncode, json.loads(result.stdout)


# all valid ---------------------------------------------------------------------------------


def test_the_library_is_valid() -> None:
    """`healer validate runbooks/` passes and counts the library's runbooks and files."""
    files = sorted(LIBRARY.rglob("*.yaml")) + sorted(LIBRARY.rglob("*.yml"))
    assert len(files) >= 10
    result = run_healer("validate", "runbooks/")
    assert result.returncode == 0, result.stdout
    # one runbook per file is the library's convention
    assert result.stdout == f"{len(files)} runbooks in {len(files)} files: all valid\n"
    assert_no_traceback(result)


def test_a_single_file(tmp_path: Path) -> None:
    """A file path validates just that file; the summary is singular."""
    write(tmp_path, {"good.yaml": runbook("good"), "other.yaml": runbook("other", action="x")})
    result = run_healer("validate", "good.yaml", cwd=tmp_path)
    assert (result.returncode, result.stdout) == (0, "1 runbook in 1 file: all valid\n")


def test_several_paths(tmp_path: Path) -> None:
    """Files and directories can be mixed; the counts cover all of them."""
    write(tmp_path, {"one.yaml": runbook("one"), "team/two.yaml": runbook("two"),
                     "team/three.yaml": runbook("three")})
    result = run_healer("validate", "one.yaml", "team", cwd=tmp_path)
    assert (result.returncode, result.stdout) == (0, "3 runbooks in 3 files: all valid\n")


def test_nested_directories_and_yml_files(tmp_path: Path) -> None:
    """A directory means every *.yaml and *.yml file below it, in name order; nothing else."""
    write(tmp_path, {
        "lib/b.yaml": runbook("b"),
        "lib/a-team/c.yml": runbook("c"),
        "lib/a-team/deep/er/d.yaml": runbook("d"),
        "lib/README.md": "# not a runbook: {{\n",
        "lib/a-team/notes.txt": "nor this: [\n",
        "lib/a-team/schema.json": "{}",
    })
    result = run_healer("validate", "lib", cwd=tmp_path)
    assert (result.returncode, result.stdout) == (0, "3 runbooks in 3 files: all valid\n")
    code, report = validate_json("lib", cwd=tmp_path)
    assert code == 0
    assert report["files"] == ["lib/a-team/c.yml", "lib/a-team/deep/er/d.yaml", "lib/b.yaml"]


def test_several_runbooks_in_one_file(tmp_path: Path) -> None:
    """A file may hold several runbooks as YAML documents."""
    write(tmp_path, {"both.yaml": runbook("first") + "---\n" + runbook("second")})
    result = run_healer("validate", "both.yaml", cwd=tmp_path)
    assert (result.returncode, result.stdout) == (0, "2 runbooks in 1 file: all valid\n")


def test_a_symlink_loop_in_a_tree_terminates(tmp_path: Path) -> None:
    """A directory symlink pointing back up the tree is not followed into a loop."""
    write(tmp_path, {"lib/team/good.yaml": runbook("good")})
    (tmp_path / "lib" / "team" / "up").symlink_to("..", target_is_directory=True)
    result = run_healer("validate", "lib", cwd=tmp_path, timeout=10)
    assert (result.returncode, result.stdout) == (0, "1 runbook in 1 file: all valid\n")


# problems ----------------------------------------------------------------------------------


def test_every_problem_is_a_path_line_col_line_then_a_summary(tmp_path: Path) -> None:
    """A misspelt key and an unknown action: both reported, with hints, then the summary."""
    write(tmp_path, {"bad.yaml": runbook("bad", action="restart-pdo", cooldown="cooldwn")})
    result = run_healer("validate", "bad.yaml", cwd=tmp_path)
    assert result.returncode == 1
    assert lines(result) == [*BAD_LINES, "2 problems in 1 of 1 file"]
    assert_no_traceback(result)


def test_valid_files_next_to_invalid_ones_are_not_reported(tmp_path: Path) -> None:
    """One bad file fails the run; only its problems are printed, the counts cover all."""
    write(tmp_path, {"good.yaml": runbook("good"), "more/also-good.yml": runbook("also-good"),
                     "bad.yaml": runbook("bad", action="restart-pdo", cooldown="cooldwn"),
                     "worse.yaml": runbook("worse", cooldown="cooldwn")})
    result = run_healer("validate", "good.yaml", "bad.yaml", "more", "worse.yaml",
                        cwd=tmp_path)
    assert result.returncode == 1
    assert lines(result) == [
        *BAD_LINES,
        "worse.yaml:17:5: unknown key 'cooldwn' in spec.guards (did you mean 'cooldown'?)",
        "3 problems in 2 of 4 files",
    ]


def test_a_duplicate_name_across_files_names_both_places(tmp_path: Path) -> None:
    """Two files defining the same runbook name is a problem, reported at the second."""
    write(tmp_path, {"a.yaml": runbook("api"), "b.yaml": runbook("api")})
    result = run_healer("validate", "a.yaml", "b.yaml", cwd=tmp_path)
    assert result.returncode == 1
    assert lines(result) == [
        "b.yaml:4:9: metadata.name: duplicate runbook name 'api': also the name of the "
        "runbook at a.yaml:4:9",
        "1 problem in 1 of 2 files",
    ]


def test_a_reader_that_stops_early_gets_no_traceback(tmp_path: Path) -> None:
    """`healer validate ... | head -1`: when the reader closes the pipe, healer stops
    quietly, exit 1 (not all of its output was delivered), nothing on stderr."""
    keys = "".join(f"    cooldwn{i}: 30m\n" for i in range(3000))  # ~250 kB of problems
    write(tmp_path, {"many.yaml": runbook("many").replace("    cooldown: 30m\n", keys)})
    with subprocess.Popen([str(HEALER), "validate", "many.yaml"], cwd=tmp_path,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as healer:
        assert healer.stdout is not None
        assert healer.stderr is not None
        first = healer.stdout.readline()  # like head -1: one line, then close the pipe
        healer.stdout.close()
        stderr = healer.stderr.read()
        code = healer.wait(timeout=30)
    assert first.startswith("many.yaml:17:5: unknown key 'cooldwn0' in spec.guards"), first
    assert stderr == ""
    assert code == 1


# usage errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(("args", "message"), [
    pytest.param([], "the following arguments are required: PATH", id="no-path"),
    pytest.param(["missing.yaml"], "no such file or directory: missing.yaml", id="missing"),
    pytest.param(["good.yaml", "missing/"], "no such file or directory: missing",
                 id="missing-next-to-valid"),
    pytest.param(["--output", "json", "missing/"], "no such file or directory: missing",
                 id="missing-json"),
    pytest.param(["--bogus", "good.yaml"], "unrecognized arguments: --bogus",
                 id="unknown-flag"),
    pytest.param(["--output", "yaml", "good.yaml"], "invalid choice: 'yaml'",
                 id="output-yaml"),
])
def test_usage_errors_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    """A bad command line is exit 2 with a message on stderr, before validating anything."""
    write(tmp_path, {"good.yaml": runbook("good")})
    assert_usage_error(run_healer("validate", *args, cwd=tmp_path), message)


@pytest.mark.parametrize(("args", "message"), [
    pytest.param(["empty"], "no *.yaml or *.yml files in: empty", id="empty"),
    pytest.param(["docs"], "no *.yaml or *.yml files in: docs", id="no-yaml-below"),
    pytest.param(["good.yaml", "empty", "docs"], "no *.yaml or *.yml files in: empty, docs",
                 id="next-to-a-valid-file"),
    pytest.param(["--output", "json", "docs"], "no *.yaml or *.yml files in: docs",
                 id="json"),
])
def test_a_directory_without_yaml_files_is_a_usage_error(tmp_path: Path, args: list[str],
                                                         message: str) -> None:
    """Pointing validate at a folder with no runbook files fails instead of passing vacuously."""
    write(tmp_path, {"good.yaml": runbook("good"), "docs/README.md": "# runbooks\n",
                     "docs/old/runbook.yaml.bak": runbook("old"), "docs/x.json": "{}"})
    (tmp_path / "empty").mkdir()
    assert_usage_error(run_healer("validate", *args, cwd=tmp_path), message)


# broken input ------------------------------------------------------------------------------


@pytest.mark.parametrize(("content", "position", "problem"), [
    pytest.param(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 64, "1:1", "not UTF-8",
                 id="binary-garbage"),
    pytest.param(b"", "1:1", "no runbook", id="empty"),
    pytest.param(b"# TODO: write the runbook\n---\n", "1:1", "no runbook", id="comments-only"),
    pytest.param(b"metadata: {name: x\n", "2:1", "invalid YAML", id="unclosed-flow-mapping"),
    pytest.param(b"metadata:\n\tname: x\n", "2:1", "invalid YAML", id="tab"),
    pytest.param(b"kind: Runbook\nname: a\x00b\n", "2:8", "invalid YAML", id="nul-byte"),
])
def test_broken_files_are_problems_not_tracebacks(tmp_path: Path, content: bytes,
                                                  position: str, problem: str) -> None:
    """Any file content gives exit 1, one `path:line:col: message` line, and the summary."""
    write(tmp_path, {"broken.yaml": content})
    result = run_healer("validate", "broken.yaml", cwd=tmp_path)
    assert_no_traceback(result)
    assert result.returncode == 1
    assert len(lines(result)) == 2, result.stdout
    assert lines(result)[0].startswith(f"broken.yaml:{position}: ")
    assert problem in lines(result)[0]
    assert lines(result)[1] == "1 problem in 1 of 1 file"


def _bomb() -> str:
    """Anchors for a list and a mapping that each expand to 10**9 leaves if copied out."""
    out = ["x-list0: &l0 [" + ", ".join(["lol"] * 10) + "]",
           "x-map0: &m0 {" + ", ".join(f"k{j}: lol" for j in range(10)) + "}"]
    for i in range(1, 10):
        out.append(f"x-list{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]")
        out.append(f"x-map{i}: &m{i} {{" + ", ".join(f"k{j}: *m{i - 1}" for j in range(10))
                   + "}")
    return "\n".join(out) + "\n"


@pytest.mark.parametrize("document", [
    pytest.param(_bomb() + "apiVersion: healer/v1\nkind: Runbook\nmetadata: {name: b}\n"
                 "spec: *l9\n", id="as-spec"),
    pytest.param(_bomb() + runbook("b").replace("  name: b\n", "  name: b\n  labels: *m9\n"),
                 id="as-labels"),
    pytest.param(_bomb() + runbook("b").replace("- action: restart-pod\n",
                                                "- action: restart-pod\n      params: *m9\n"),
                 id="as-params"),
    pytest.param(_bomb() + runbook("b").replace("  guards:\n", "  guards:\n    <<: *m9\n"),
                 id="merged"),
    pytest.param(_bomb() + "? *l9\n: 1\n", id="as-key"),
])
def test_a_billion_laughs_finishes_fast_in_little_memory(tmp_path: Path, document: str) -> None:
    """Aliases are never expanded: a YAML bomb is reported in seconds, under 256 MiB."""
    write(tmp_path, {"bomb.yaml": document})
    result = run_healer("validate", "bomb.yaml", cwd=tmp_path, timeout=10,
                        memory_cap=MEMORY_CAP)
    assert_no_traceback(result)
    assert result.returncode == 1
    assert re.fullmatch(r"\d+ problems? in 1 of 1 file", lines(result)[-1])
    assert all(line.startswith("bomb.yaml:") for line in lines(result)[:-1])


@pytest.mark.parametrize("content", [
    pytest.param("[" * 10_000 + "]" * 10_000 + "\n", id="flow-lists"),
    pytest.param("- " * 10_000 + "x\n", id="block-lists"),
    pytest.param("{a: " * 10_000 + "}" * 10_000 + "\n", id="flow-mappings"),
])
def test_deep_nesting_is_a_problem_not_a_traceback(tmp_path: Path, content: str) -> None:
    """10,000 levels of nested lists or mappings give a problem line, not a crash."""
    write(tmp_path, {"deep.yaml": content})
    result = run_healer("validate", "deep.yaml", cwd=tmp_path, timeout=10,
                        memory_cap=MEMORY_CAP)
    assert_no_traceback(result)
    assert result.returncode == 1
    assert len(lines(result)) == 2, result.stdout
    assert lines(result)[0].startswith("deep.yaml:1:")
    assert lines(result)[1] == "1 problem in 1 of 1 file"


# --output json -----------------------------------------------------------------------------


def test_json_for_valid_runbooks(tmp_path: Path) -> None:
    """One JSON document: valid, the files read, each runbook's name/revision/path/line."""
    write(tmp_path, {"good.yaml": "# a comment\n" + runbook("good"),
                     "more/two.yml": runbook("first") + "---\n" + runbook("second")})
    code, report = validate_json("good.yaml", "more", cwd=tmp_path)
    assert code == 0
    revisions = [r.pop("revision") for r in report["runbooks"]]
    assert report == {
        "valid": True,
        "files": ["good.yaml", "more/two.yml"],
        "runbooks": [{"name": "good", "path": "good.yaml", "line": 2},
                     {"name": "first", "path": "more/two.yml", "line": 1},
                     {"name": "second", "path": "more/two.yml", "line": 19}],
        "errors": [],
    }
    assert all(re.fullmatch(r"sha256:[0-9a-f]{16}", r) for r in revisions), revisions
    # the revision is what a runbook means: without the comment, in another file, the same
    assert revisions[0] != revisions[1]
    write(tmp_path, {"elsewhere/good.yaml": runbook("good")})
    assert validate_json("elsewhere", cwd=tmp_path)[1]["runbooks"][0]["revision"] == revisions[0]


def test_json_for_problems(tmp_path: Path) -> None:
    """Problems come as {path, line, column, message}; valid runbooks are still listed."""
    write(tmp_path, {"good.yaml": runbook("good"),
                     "bad.yaml": runbook("bad", action="restart-pdo", cooldown="cooldwn")})
    code, report = validate_json("bad.yaml", "good.yaml", cwd=tmp_path)
    assert code == 1
    assert report["valid"] is False
    assert report["files"] == ["bad.yaml", "good.yaml"]
    assert [r["name"] for r in report["runbooks"]] == ["good"]
    assert report["errors"] == [
        {"path": "bad.yaml", "line": 15, "column": 15,
         "message": "spec.steps[0].action: unknown action 'restart-pdo' "
                    "(did you mean 'restart-pod'?)"},
        {"path": "bad.yaml", "line": 17, "column": 5,
         "message": "unknown key 'cooldwn' in spec.guards (did you mean 'cooldown'?)"},
    ]


def test_json_and_text_report_the_same_problems(tmp_path: Path) -> None:
    """Every JSON error is exactly one text line, in the same order, with the same exit code."""
    write(tmp_path, {
        "good.yaml": runbook("good"),
        "bad.yaml": runbook("bad", action="restart-pdo", cooldown="cooldwn"),
        "lib/garbage.yaml": b"\xff\xfe\x00garbage",
        "lib/empty.yml": b"",
        "lib/broken.yaml": b"metadata: {name: x\n",
        "lib/z-again.yaml": runbook("good"),
    })
    args = ("good.yaml", "bad.yaml", "lib")
    text = run_healer("validate", *args, cwd=tmp_path)
    code, report = validate_json(*args, cwd=tmp_path)
    assert code == text.returncode == 1
    assert len(report["errors"]) == 6
    assert lines(text)[:-1] == [f"{e['path']}:{e['line']}:{e['column']}: {e['message']}"
                                for e in report["errors"]]
    assert lines(text)[-1] == "6 problems in 5 of 6 files"


# healer schema -----------------------------------------------------------------------------


def test_schema_is_a_draft_2020_12_json_schema_of_runbooks() -> None:
    """`healer schema` prints a valid 2020-12 schema that accepts the library and rejects
    a misspelt key."""
    result = run_healer("schema")
    assert result.returncode == 0, result.stderr
    schema = json.loads(result.stdout)
    assert schema["$schema"] == DRAFT_2020_12
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for path in sorted(LIBRARY.glob("*.yaml")):
        assert list(validator.iter_errors(yaml.safe_load(path.read_text()))) == [], path
    typo = yaml.safe_load(runbook("bad", cooldown="cooldwn"))
    assert [e.message for e in validator.iter_errors(typo)] != []


def _doc_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", (ROOT / "docs" / "runbooks.md").read_text(),
                      re.DOTALL)


def test_the_documented_editor_setup_and_validate_output_hold(tmp_path: Path) -> None:
    """docs/runbooks.md's tutorial: `healer schema > runbook.schema.json`, its runbook's
    modeline, and the `healer validate` output it shows, as the CLI really does them."""
    assert "$ healer schema > runbook.schema.json\n" in _doc_blocks("console")
    tutorial = next(b for b in _doc_blocks("yaml") if b.startswith("# yaml-language-server"))
    modeline = re.fullmatch(r"# yaml-language-server: \$schema=(\S+)",
                            tutorial.splitlines()[0])
    assert modeline is not None
    runbook_file = tmp_path / "runbooks" / "payments-api-crash-looping.yaml"
    write(tmp_path, {str(runbook_file.relative_to(tmp_path)): tutorial})

    with (tmp_path / "runbook.schema.json").open("w") as out:  # healer schema > ...
        subprocess.run([str(HEALER), "schema"], stdout=out, check=True, timeout=30)
    schema_file = (runbook_file.parent / modeline.group(1)).resolve()
    assert schema_file == tmp_path / "runbook.schema.json"
    schema = json.loads(schema_file.read_text())
    assert schema["$schema"] == DRAFT_2020_12
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(
        yaml.safe_load(tutorial))) == []

    # the two `healer validate runbooks/` sessions the tutorial shows: as written, then
    # with the `cooldwn` typo
    shown = [b.splitlines()[1:] for b in _doc_blocks("console")
             if b.startswith("$ healer validate runbooks/\n")]
    assert len(shown) == 2
    result = run_healer("validate", "runbooks/", cwd=tmp_path)
    assert (result.returncode, lines(result)) == (0, shown[0])
    runbook_file.write_text(tutorial.replace("    cooldown: 30m\n", "    cooldwn: 30m\n"))
    result = run_healer("validate", "runbooks/", cwd=tmp_path)
    assert (result.returncode, lines(result)) == (1, shown[1])
