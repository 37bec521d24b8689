"""The one error tree of healer.

Every error healer raises on purpose derives from `HealerError`, so the CLI can tell a
user-facing problem (print it, exit non-zero) from a bug (let the traceback through).
"""

from __future__ import annotations


class HealerError(Exception):
    """Base of every error healer raises on purpose; its message is for the user."""


class ConfigError(HealerError):
    """A configuration or input file is invalid; the message says what and where."""


class RunbookError(HealerError):
    """One problem in a runbook file, at a place: printed as `path:line:column: message`."""

    def __init__(self, path: str, line: int, column: int, message: str) -> None:
        super().__init__(f"{path}:{line}:{column}: {message}")
        self.path = path
        self.line = line
        self.column = column
        self.message = message


class RunbookErrors(HealerError):  # noqa: N818 - a collection of RunbookError, not one
    """Every problem found in a set of runbook files (loading reports them all at once)."""

    def __init__(self, errors: list[RunbookError]) -> None:
        super().__init__("\n".join(str(e) for e in errors))
        self.errors = errors
