"""Integration tests: the sandbox (or a real cluster) driven by real clients and binaries."""
