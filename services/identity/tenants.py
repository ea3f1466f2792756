"""The per-tenant settings identity applies, learnt from tenancy and cached briefly: the password
minimum and the second-factor requirement (issue 15); and which accounts are council members.

If tenancy is unreachable or slow the deployment minimum applies and the last requirement known
(none if never known): a login never waits on another service for more than a fraction of a
second. A requirement is a policy on top of the password; failing open during an outage keeps
the guide's journey working, and a person concerned is asked to enrol at a later login.
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
    """``await min_length(tenant_id)``: the tenant's override if any, never below the deployment's;
    ``await mfa_requirement(tenant_id)``: ``none``, ``council`` or ``all``;
    ``await council_accounts(tenant_id, ids)``: those of ``ids`` that are council members."""

    def __init__(self, *, tenancy_url: str | None, secret: str, default_min_length: int,
                 cache_seconds: float = 60.0) -> None:
        self._url = tenancy_url.rstrip("/") if tenancy_url else None
        self._secret = secret
        self.default_min_length = default_min_length
        self._cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, dict | None]] = {}
        self._last_known: dict[str, dict] = {}
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def min_length(self, tenant_id: str | None) -> int:
        value = (await self._settings(tenant_id)).get("password_min_length")
        return max(value if isinstance(value, int) else 0, self.default_min_length)

    async def mfa_requirement(self, tenant_id: str | None) -> str:
        value = (await self._settings(tenant_id)).get("mfa_requirement")
        return value if value in ("none", "council", "all") else "none"

    async def council_accounts(self, tenant_id: str, account_ids: list[str]) -> set[str] | None:
        """The council members among ``account_ids`` (tenancy's directory); None if tenancy did not answer."""
        if not self._url or not account_ids:
            return set()
        body = await self._call("POST", "/internal/accounts/lookup", tenant_id, json={"account_ids": account_ids})
        if body is None:
            return None
        return {a["id"] for a in body.get("accounts", []) if a.get("council") and a.get("tenant_id") == tenant_id}

    async def _settings(self, tenant_id: str | None) -> dict:
        if not tenant_id or not self._url:
            return {}
        cached = self._cache.get(tenant_id)
        now = time.monotonic()
        if cached and cached[0] > now:
            return cached[1] or self._last_known.get(tenant_id, {})
        body = await self._call("GET", f"/internal/tenants/{tenant_id}", None)
        settings = (body.get("settings") or {}) if isinstance(body, dict) else None
        # A failure is cached too, but shorter, so a tenancy outage costs one timeout per few seconds.
        ttl = self._cache_seconds if settings is not None else min(self._cache_seconds, 5.0)
        self._cache[tenant_id] = (now + ttl, settings)
        if settings is not None:
            self._last_known[tenant_id] = settings
        return settings if settings is not None else self._last_known.get(tenant_id, {})

    async def _call(self, method: str, path: str, tenant_id: str | None, **kwargs) -> dict | None:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=_TIMEOUT)
        claims = {"tid": tenant_id} if tenant_id else {}
        token = issue_token(self._secret, issuer="identity", audience="tenancy", ttl_seconds=60, **claims)
        try:
            async with self._session.request(method, f"{self._url}{path}",
                                             headers={"Authorization": f"Internal {token}"}, **kwargs) as response:
                if response.status != 200:
                    return None
                return await response.json()
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            log.warning("tenancy.unreachable", error=type(exc).__name__)
            return None
