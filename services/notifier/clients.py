"""Calls to tenancy (tenant branding, cached) and identity (recipients of a document).

Each call carries an internal token (``iss`` notifier, ``aud`` the called service). Failures are
translated for the consumer: an unreachable or failing upstream is temporary
(:class:`UpstreamUnavailable`), an unknown tenant is permanent (:class:`UnknownTenant`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import aiohttp

from common.clock import Clock, SystemClock
from common.internal_auth import HEADER, SCHEME, issue_token
from services.notifier.domain import Branding
from services.notifier.errors import UnknownTenant, UpstreamUnavailable


@dataclass(frozen=True)
class Recipient:
    person_id: uuid.UUID
    email: str
    account_ids: tuple[uuid.UUID, ...]


class _Upstream:
    audience = ""

    def __init__(self, session: aiohttp.ClientSession, *, base_url: str, secret: str, timeout: float) -> None:
        self._session = session
        self._base_url = base_url.rstrip("/")
        self._secret = secret
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    def _headers(self, request_id: str | None, tenant_id: uuid.UUID | None) -> dict[str, str]:
        token = issue_token(self._secret, issuer="notifier", audience=self.audience, request_id=request_id,
                            tid=str(tenant_id) if tenant_id else None)
        return {HEADER: f"{SCHEME} {token}"}

    async def _call(self, method: str, path: str, *, request_id: str | None, tenant_id: uuid.UUID | None = None,
                    json: dict | None = None) -> tuple[int, dict | None]:
        try:
            async with self._session.request(method, self._base_url + path, json=json, timeout=self._timeout,
                                             headers=self._headers(request_id, tenant_id)) as response:
                if response.status >= 500 or response.status in (401, 403, 429):
                    # 401/403 mean a misconfigured secret: fixable by an operator, so retry rather than drop.
                    raise UpstreamUnavailable(f"{self.audience} answered {response.status} to {method} {path}")
                body = await response.json() if response.status < 300 else None
                return response.status, body
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise UpstreamUnavailable(f"{self.audience} unreachable: {type(exc).__name__}") from None


class TenancyClient(_Upstream):
    """Tenant branding from ``GET /internal/tenants/{id}``, cached ``ttl`` seconds per tenant."""

    audience = "tenancy"

    def __init__(self, session: aiohttp.ClientSession, *, base_url: str, secret: str, timeout: float = 5.0,
                 ttl: float = 300.0, clock: Clock | None = None) -> None:
        super().__init__(session, base_url=base_url, secret=secret, timeout=timeout)
        self._ttl = ttl
        self._clock = clock or SystemClock()
        self._cache: dict[uuid.UUID, tuple[float, Branding]] = {}

    async def branding(self, tenant_id: uuid.UUID, *, request_id: str | None = None) -> Branding:
        now = self._clock.now().timestamp()
        cached = self._cache.get(tenant_id)
        if cached and cached[0] > now:
            return cached[1]
        status, body = await self._call("GET", f"/internal/tenants/{tenant_id}", request_id=request_id,
                                        tenant_id=tenant_id)
        if status == 404 or body is None:
            raise UnknownTenant(f"tenant {tenant_id} unknown to tenancy")
        try:
            brand = Branding.from_tenant(body)
        except ValueError as exc:
            raise UpstreamUnavailable(f"tenancy answered an unreadable tenant: {type(exc).__name__}") from None
        self._cache[tenant_id] = (now + self._ttl, brand)
        return brand


    async def account(self, tenant_id: uuid.UUID, account_id: uuid.UUID, *, request_id: str | None = None
                      ) -> dict | None:
        """The directory's ``Account`` (lots and residences) of the tenant, or None when unknown there."""
        status, body = await self._call("POST", "/internal/accounts/lookup", request_id=request_id,
                                        tenant_id=tenant_id, json={"account_ids": [str(account_id)]})
        accounts = (body or {}).get("accounts") if status == 200 else None
        if not isinstance(accounts, list):
            raise UpstreamUnavailable(f"tenancy answered {status} to POST /internal/accounts/lookup")
        return next((a for a in accounts if isinstance(a, dict) and a.get("id") == str(account_id)), None)


class IdentityClient(_Upstream):
    """Persons with a verified email linked to given accounts (``POST /internal/recipients``)."""

    audience = "identity"

    async def recipients(self, account_ids: list[uuid.UUID], *, tenant_id: uuid.UUID | None = None,
                         request_id: str | None = None) -> list[Recipient]:
        status, body = await self._call("POST", "/internal/recipients", request_id=request_id, tenant_id=tenant_id,
                                        json={"account_ids": [str(a) for a in account_ids]})
        if status != 200 or body is None:
            raise UpstreamUnavailable(f"identity answered {status} to POST /internal/recipients")
        try:
            return [Recipient(uuid.UUID(str(r["person_id"])), str(r["email"]),
                              tuple(uuid.UUID(str(a)) for a in r.get("account_ids") or ()))
                    for r in body["recipients"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise UpstreamUnavailable(f"identity answered unreadable recipients: {type(exc).__name__}") from None
