"""The identity service. See docs/architecture.md."""
