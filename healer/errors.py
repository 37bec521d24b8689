"""The one error tree of healer.

Every error healer raises on purpose derives from `HealerError`, so the CLI can tell a
user-facing problem (print it, exit non-zero) from a bug (let the traceback through).
"""

from __future__ import annotations


class HealerError(Exception):
    """Base of every error healer raises on purpose; its message is for the user."""


class ConfigError(HealerError):
    """A configuration or input file is invalid; the message says what and where."""
