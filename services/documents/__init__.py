"""The documents service. See docs/architecture.md."""
