"""The runbooks `healer demo` ships in the package are the library's, unchanged.

Covers: `healer/demo_runbooks/` holds the runbooks the demo needs, each a byte-for-byte
copy of its file in `runbooks/` (an installed healer has no `runbooks/` directory, so the
package carries copies; this test keeps them from drifting); they load without errors.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from healer.actions.catalog import default_registry
from healer.demo import RUNBOOKS
from healer.runbook.loader import load

LIBRARY = Path(__file__).resolve().parents[2] / "runbooks"
PACKAGED = sorted(path.name for path in RUNBOOKS.glob("*.yaml"))


def test_the_demo_ships_the_runbooks_it_alerts_for() -> None:
    """The crash-loop and the saturation runbooks are both in the package."""
    assert PACKAGED == ["deployment-saturated.yaml", "pod-crash-looping.yaml"]


@pytest.mark.parametrize("name", PACKAGED)
def test_a_packaged_runbook_is_a_copy_of_the_librarys(name: str) -> None:
    """Each packaged runbook equals its library file; refresh it with `cp` when not."""
    assert (RUNBOOKS / name).read_bytes() == (LIBRARY / name).read_bytes(), (
        f"healer/demo_runbooks/{name} differs from runbooks/{name}: "
        f"cp runbooks/{name} healer/demo_runbooks/")


def test_the_packaged_runbooks_load() -> None:
    """They validate against the format and the action catalogue."""
    result = load([RUNBOOKS], default_registry())
    assert result.errors == ()
    assert sorted(r.name for r in result.runbooks) == ["deployment-saturated",
                                                       "pod-crash-looping"]
