"""Tenant resolution through tenancy, with a short cache (and a negative one for unknown codes).

``/login?client=C&societe=S`` names the tenant. Codes that cannot be valid never reach tenancy;
known tenants are cached ``ttl`` seconds, unknown ones ``negative_ttl`` seconds, so a flood of
made-up codes costs tenancy one call per code and period. Names for the dashboard come from
``GET /internal/tenants/{id}`` through the same cache.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from gateway.upstream import Upstream

__all__ = ["CODE_PATTERN", "COLOR_PATTERN", "TenantResolver", "valid_code"]

CODE_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
COLOR_PATTERN = re.compile(r"^#(?:[0-9a-fA-F]{3}){1,2}$")
UUID_PATTERN = re.compile(r"^[0-9a-fA-F-]{32,36}$")
_MAX_ENTRIES = 10_000
_MISSING = object()


def valid_code(value: str | None) -> bool:
    """A client or société code as tenancy accepts them: 1-32 of A-Z a-z 0-9 _ -."""
    return bool(value) and CODE_PATTERN.match(value) is not None


class TenantResolver:
    """Codes -> Tenant dict (or None), id -> Tenant dict (or None), both cached."""

    def __init__(self, tenancy: Upstream, *, ttl: float, negative_ttl: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._tenancy = tenancy
        self._ttl = ttl
        self._negative_ttl = negative_ttl
        self._clock = clock
        self._cache: dict[tuple, tuple[float, dict | None]] = {}

    def _get(self, key: tuple):
        entry = self._cache.get(key)
        if entry is None or entry[0] <= self._clock():
            return _MISSING
        return entry[1]

    def _put(self, key: tuple, tenant: dict | None) -> None:
        if len(self._cache) >= _MAX_ENTRIES:
            self._cache.clear()  # bounded memory; a refill costs one call per tenant
        ttl = self._ttl if tenant is not None else self._negative_ttl
        self._cache[key] = (self._clock() + ttl, tenant)

    def forget(self, tenant: dict) -> None:
        """Drop a tenant this process changed (other replicas see it within the cache's TTL)."""
        self._cache.pop(("codes", tenant.get("client_code"), tenant.get("societe_code")), None)
        self._cache.pop(("id", tenant.get("id")), None)

    async def resolve(self, client: str | None, societe: str | None, *, request_id: str | None = None) -> dict | None:
        """The tenant reached by these codes, or None when malformed or unknown."""
        if not valid_code(client) or not valid_code(societe):
            return None
        key = ("codes", client, societe)
        cached = self._get(key)
        if cached is not _MISSING:
            return cached
        reply = await self._tenancy.call("GET", "/internal/tenants/resolve", claims={}, request_id=request_id,
                                         params={"client": client, "societe": societe})
        tenant = reply.body if reply.status == 200 and isinstance(reply.body, dict) else None
        self._put(key, tenant)
        if tenant is not None:
            self._put(("id", tenant.get("id")), tenant)
        return tenant

    async def by_id(self, tenant_id: str, *, request_id: str | None = None) -> dict | None:
        """The tenant with this id (for names on the dashboard), or None."""
        if not UUID_PATTERN.match(tenant_id or ""):
            return None
        key = ("id", tenant_id)
        cached = self._get(key)
        if cached is not _MISSING:
            return cached
        reply = await self._tenancy.call("GET", f"/internal/tenants/{tenant_id}", claims={}, request_id=request_id)
        tenant = reply.body if reply.status == 200 and isinstance(reply.body, dict) else None
        self._put(key, tenant)
        return tenant
