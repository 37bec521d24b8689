"""Unit tests: healer's parts in one process, without a cluster or external binaries."""
