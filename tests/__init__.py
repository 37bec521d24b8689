"""healer's test suite: unit tests, and integration tests against a cluster."""
