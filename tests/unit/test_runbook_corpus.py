"""The corpus of invalid runbooks: every message `healer validate` prints, exactly.

Covers, one case per file of `tests/unit/runbook_corpus/` (a directory there is one case
of several files):
- each `X.yaml` (or directory `X/`) loads with exactly the problems listed in its sibling
  `X.expected`, one `path:line:col: message` line each, in order, with the path relative
  to the corpus directory as `healer validate` prints it when run there;
- nothing of an invalid document is loaded, and the valid documents some cases include on
  purpose (their `metadata.name` starts with `valid-`) still load, exactly once;
- every case has an `.expected` file and every `.expected` file a case, and every case
  file opens with a comment saying what it covers;
- `healer validate` run on the whole corpus prints the same problems;
- what cannot sit in the corpus as a file of its own: a file that is not UTF-8 and an
  empty file, written to a temporary directory.

The `.expected` files are the record of what an SRE reads: change one only together with
the loader message it records, and read the new line as they would, at 3 a.m.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path

import pytest

from healer.actions.catalog import default_registry
from healer.cli import main
from healer.runbook.loader import LoadResult, load

CORPUS = Path(__file__).resolve().parent / "runbook_corpus"
SUFFIX = ".yaml"
# The valid documents a case includes on purpose are named `valid-...`.
VALID_NAME = re.compile(r"^\s*(?:metadata:\s*\{\s*)?name:\s*(valid-[a-z0-9-]+)", re.MULTILINE)


def cases() -> list[str]:
    """The corpus cases: each `*.yaml` file and each directory, by name."""
    return sorted(p.name for p in CORPUS.iterdir() if p.is_dir() or p.suffix == SUFFIX)


def expected_file(case: str) -> Path:
    return CORPUS / f"{case.removesuffix(SUFFIX)}.expected"


def case_files(case: str) -> list[Path]:
    path = CORPUS / case
    return sorted(path.rglob(f"*{SUFFIX}")) if path.is_dir() else [path]


def load_relative(directory: Path, name: str, monkeypatch: pytest.MonkeyPatch) -> LoadResult:
    """Load `name` from inside `directory`, so paths read as `healer validate name` there."""
    monkeypatch.chdir(directory)
    return load([Path(name)], default_registry())


def printed(result: LoadResult) -> list[str]:
    """The problem lines `healer validate` prints for a load."""
    return [str(error) for error in result.errors]


def assert_lines(got: list[str], expected: list[str], what: str) -> None:
    diff = "\n".join(difflib.unified_diff(expected, got, f"{what} (expected)",
                                          f"{what} (loaded)", lineterm=""))
    assert got == expected, f"the problems differ from {what}:\n{diff}"


@pytest.mark.parametrize("case", cases())
def test_case_reports_exactly_the_expected_problems(case: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Each invalid runbook is reported with exactly the recorded lines, in order."""
    result = load_relative(CORPUS, case, monkeypatch)
    expected = expected_file(case).read_text(encoding="utf-8").splitlines()
    assert_lines(printed(result), expected, expected_file(case).name)


@pytest.mark.parametrize("case", cases())
def test_case_loads_only_its_valid_documents(case: str,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """No invalid document is half-loaded; the valid ones beside them load, once each."""
    result = load_relative(CORPUS, case, monkeypatch)
    meant = {name for path in case_files(case)
             for name in VALID_NAME.findall(path.read_text(encoding="utf-8"))}
    assert sorted(r.name for r in result.runbooks) == sorted(meant)


def test_every_case_has_expected_lines_and_every_expected_file_a_case() -> None:
    """A case without its .expected file, or a stale .expected file, is caught."""
    expected = sorted(p.name for p in CORPUS.glob("*.expected"))
    assert expected == sorted(expected_file(case).name for case in cases())
    assert [p.name for p in CORPUS.iterdir()
            if not (p.is_dir() or p.suffix in (SUFFIX, ".expected"))] == []


@pytest.mark.parametrize("case", cases())
def test_case_says_what_it_covers(case: str) -> None:
    """Every corpus file opens with a comment saying what it covers."""
    for path in case_files(case):
        assert path.read_text(encoding="utf-8").startswith("# "), f"{path.name}: no comment"


def test_validate_prints_the_same_problems_for_the_whole_corpus(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """`healer validate .` in the corpus prints every recorded line and fails."""
    monkeypatch.chdir(CORPUS)
    assert main(["validate", "."]) == 1
    *lines, summary = capsys.readouterr().out.splitlines()
    expected = [line for case in cases()
                for line in expected_file(case).read_text(encoding="utf-8").splitlines()]
    # the same lines, but duplicate names are reported after every file has been read
    assert_lines(sorted(lines), sorted(expected), "the corpus")
    assert summary.startswith(f"{len(expected)} problems in ")


def test_file_that_is_not_utf8_is_one_problem_at_the_bad_byte(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A Latin-1 file is reported at its first non-UTF-8 byte, saying to save it as UTF-8."""
    (tmp_path / "latin1.yaml").write_bytes(
        "# A runbook saved as Latin-1.\napiVersion: healer/v1\nkind: Runbook\n"
        "metadata: {name: caf\xe9-restart}\n".encode("latin-1"))
    result = load_relative(tmp_path, "latin1.yaml", monkeypatch)
    assert_lines(printed(result), [
        "latin1.yaml:4:21: not UTF-8 text: byte 0xe9 is not valid UTF-8; save the file as "
        "UTF-8"], "latin1.yaml")
    assert result.runbooks == ()


def test_empty_file_is_one_problem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty file holds no runbook, and says so."""
    (tmp_path / "empty.yaml").write_bytes(b"")
    result = load_relative(tmp_path, "empty.yaml", monkeypatch)
    assert_lines(printed(result), ["empty.yaml:1:1: no runbook in this file"], "empty.yaml")
