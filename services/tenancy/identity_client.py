"""The calls tenancy makes to identity (docs/internal-api.md, identity section)."""

from __future__ import annotations

import uuid
from typing import Any

import aiohttp

from common.internal_auth import HEADER, SCHEME, issue_token
from common.logging import get_logger
from services.tenancy.errors import IdentityUnavailable

__all__ = ["IdentityClient"]

log = get_logger(__name__)
_CLOSE_TIMEOUT = aiohttp.ClientTimeout(total=5)


class IdentityClient:
    """Issues provisional credentials and reads account states, with a fresh internal token per call."""

    def __init__(self, session: aiohttp.ClientSession, *, base_url: str, secret: str, timeout_seconds: float) -> None:
        self._session = session
        self._base_url = base_url.rstrip("/")
        self._secret = secret
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)

    async def _post(self, path: str, body: dict[str, Any], *, tenant_id: uuid.UUID, request_id: str | None,
                    expect: int, staff_id: str | None = None,
                    timeout: aiohttp.ClientTimeout | None = None) -> dict[str, Any]:
        # ``sid``: the console user the agency's call is made for, so that identity's audit names them.
        token = issue_token(self._secret, issuer="tenancy", audience="identity", request_id=request_id,
                            tid=str(tenant_id), sid=staff_id)
        headers = {HEADER: f"{SCHEME} {token}"}
        if request_id:
            headers["X-Request-ID"] = request_id
        try:
            async with self._session.post(self._base_url + path, json=body, headers=headers,
                                          timeout=timeout or self._timeout) as response:
                if response.status != expect:
                    log.error("identity.call_failed", path=path, status=response.status)
                    raise IdentityUnavailable()
                return await response.json()
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.error("identity.call_failed", path=path, error=type(exc).__name__)
            raise IdentityUnavailable() from exc

    async def issue_credentials(self, *, tenant_id: uuid.UUID, ttl_days: int, reset: bool,
                                accounts: list[dict[str, Any]], request_id: str | None,
                                staff_id: str | None = None) -> dict[str, Any]:
        """``{"credentials": [...], "refused": [...]}``; identity revokes earlier credentials of each account."""
        body = {"tenant_id": str(tenant_id), "ttl_days": ttl_days, "reset": reset, "accounts": accounts}
        answer = await self._post("/internal/provisional-credentials", body, tenant_id=tenant_id, staff_id=staff_id,
                                  request_id=request_id, expect=201)
        return {"credentials": answer.get("credentials") or [], "refused": answer.get("refused") or []}

    async def close_account(self, *, tenant_id: uuid.UUID, account_id: uuid.UUID, request_id: str | None) -> None:
        """The account's person loses it and its letters die now; :class:`IdentityUnavailable` if not done.

        A short wait: ``tenancy.account_closed`` does the same later, so the agency's call never hangs on it."""
        await self._post("/internal/accounts/close", {"account_id": str(account_id)}, tenant_id=tenant_id,
                         request_id=request_id, expect=200, timeout=_CLOSE_TIMEOUT)

    async def access_states(self, *, tenant_id: uuid.UUID, account_ids: list[uuid.UUID] | None,
                            request_id: str | None) -> dict[str, dict]:
        """``{account_id: {"state", "via"?}}`` for the given accounts (None: the whole tenant)."""
        body: dict[str, Any] = {"tenant_id": str(tenant_id)}
        if account_ids is not None:
            body["account_ids"] = [str(a) for a in account_ids]
        answer = await self._post("/internal/account-states", body, tenant_id=tenant_id, request_id=request_id,
                                  expect=200)
        return {s["account_id"]: s for s in answer.get("states") or []}

    async def unlink(self, *, tenant_id: uuid.UUID, account_id: uuid.UUID, reason: str, note: str,
                     request_id: str | None, staff_id: str | None) -> dict[str, Any] | None:
        """Detach the account from its person; None when no person of the tenant holds it."""
        token = issue_token(self._secret, issuer="tenancy", audience="identity", request_id=request_id,
                            tid=str(tenant_id), sid=staff_id)
        body = {"account_id": str(account_id), "reason": reason, "note": note}
        try:
            async with self._session.post(self._base_url + "/internal/accounts/unlink", json=body,
                                          headers={HEADER: f"{SCHEME} {token}"}, timeout=self._timeout) as response:
                if response.status == 404:
                    return None
                if response.status != 200:
                    log.error("identity.call_failed", path="/internal/accounts/unlink", status=response.status)
                    raise IdentityUnavailable()
                return await response.json()
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.error("identity.call_failed", path="/internal/accounts/unlink", error=type(exc).__name__)
            raise IdentityUnavailable() from exc

    async def account_states(self, *, tenant_id: uuid.UUID, request_id: str | None) -> dict[str, str]:
        """``{account_id: state}`` for every account identity knows in the tenant."""
        answer = await self._post("/internal/account-states", {"tenant_id": str(tenant_id)}, tenant_id=tenant_id,
                                  request_id=request_id, expect=200)
        return {s["account_id"]: s["state"] for s in answer.get("states") or []}
