"""The JSON Schema shipped in docs/ for editors is the one `healer schema` prints.

Covers: docs/runbook.schema.json (which every runbook in runbooks/ names in its
yaml-language-server modeline) matching the schema generated from the loader's specs,
so an editor never checks against a stale format.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_schema_is_current() -> None:
    """docs/runbook.schema.json equals `healer schema` (regenerate it when this fails)."""
    printed = subprocess.run([sys.executable, "-m", "healer.cli", "schema"], check=True,
                             capture_output=True, text=True, timeout=60).stdout
    shipped = (ROOT / "docs" / "runbook.schema.json").read_text()
    assert json.loads(shipped) == json.loads(printed), (
        "docs/runbook.schema.json is stale: run `healer schema > docs/runbook.schema.json`")


def test_library_runbooks_name_the_shipped_schema() -> None:
    """Every runbook in runbooks/ starts with the modeline pointing at the shipped schema."""
    modeline = "# yaml-language-server: $schema=../docs/runbook.schema.json"
    files = sorted((ROOT / "runbooks").glob("*.yaml"))
    assert files
    assert [f.name for f in files if f.read_text().splitlines()[0] != modeline] == []
