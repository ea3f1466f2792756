"""The notifier service. See docs/architecture.md."""
