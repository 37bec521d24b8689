"""Remediation actions: one registered type per remediation, with its params.

`catalog.default_registry()` holds the built-in actions; runbooks are validated against
it. See docs/runbooks.md for what each action accepts.
"""
