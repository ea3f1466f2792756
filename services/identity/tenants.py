"""The per-tenant password minimum, learnt from tenancy and cached briefly.

If tenancy is unreachable or slow the deployment minimum applies: a password form never waits
on another service for more than a fraction of a second.
"""

from __future__ import annotations

import time

import aiohttp

from common.internal_auth import issue_token
from common.logging import get_logger

__all__ = ["TenantPolicy"]

log = get_logger(__name__)
_TIMEOUT = aiohttp.ClientTimeout(total=0.5)


class TenantPolicy:
    """``await min_length(tenant_id)``: the tenant's override if any, never below the deployment's."""

    def __init__(self, *, tenancy_url: str | None, secret: str, default_min_length: int,
                 cache_seconds: float = 60.0) -> None:
        self._url = tenancy_url.rstrip("/") if tenancy_url else None
        self._secret = secret
        self.default_min_length = default_min_length
        self._cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, int]] = {}
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def min_length(self, tenant_id: str | None) -> int:
        if not tenant_id or not self._url:
            return self.default_min_length
        cached = self._cache.get(tenant_id)
        now = time.monotonic()
        if cached and cached[0] > now:
            return cached[1]
        value = await self._fetch(tenant_id)
        # A failure is cached too, but shorter, so a tenancy outage costs one timeout per few seconds.
        ttl = self._cache_seconds if value is not None else min(self._cache_seconds, 5.0)
        result = max(value or 0, self.default_min_length)
        self._cache[tenant_id] = (now + ttl, result)
        return result

    async def _fetch(self, tenant_id: str) -> int | None:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=_TIMEOUT)
        token = issue_token(self._secret, issuer="identity", audience="tenancy", ttl_seconds=60)
        try:
            async with self._session.get(f"{self._url}/internal/tenants/{tenant_id}",
                                         headers={"Authorization": f"Internal {token}"}) as response:
                if response.status != 200:
                    return None
                body = await response.json()
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            log.warning("tenancy.unreachable", error=type(exc).__name__)
            return None
        value = (body.get("settings") or {}).get("password_min_length")
        return int(value) if isinstance(value, int) else None
