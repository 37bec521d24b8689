"""The runbook language: model, loader, matchers, templates; see docs/runbooks.md."""
