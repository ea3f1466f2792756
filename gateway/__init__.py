"""The gateway: every browser page, tenant routing, sessions and the public API."""
