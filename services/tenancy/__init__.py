"""The tenancy service. See docs/architecture.md."""
