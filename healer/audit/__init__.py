"""The audit trail: every decision healer makes, in an append-only store."""
