"""Use cases combining the directory with identity: issuing provisional credentials (statistics: stats.py)."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from common.errors import FieldError, ValidationFailed
from common.logging import get_logger
from services.tenancy import domain
from services.tenancy import repository as sql
from services.tenancy.errors import AllCredentialsRefused
from services.tenancy.identity_client import IdentityClient
from services.tenancy.schemas import CredentialsRequest
from services.tenancy.service import get_tenant, require_active_tenant

__all__ = ["CSV_COLUMNS", "issue_credentials"]

log = get_logger(__name__)

CSV_COLUMNS = ("account_ref", "display_name", "email", "login", "password", "expires_at")


async def _selected_accounts(pool: asyncpg.Pool, identity: IdentityClient, *, tenant_id: uuid.UUID,
                             request: CredentialsRequest, request_id: str | None) -> list[asyncpg.Record]:
    if request.all_without_access:
        rows = await pool.fetch(sql.SELECT_ACTIVE_ACCOUNTS, tenant_id)
        states = await identity.account_states(tenant_id=tenant_id, request_id=request_id)
        wanted = set(domain.without_access((str(r["id"]) for r in rows), states))
        return [r for r in rows if str(r["id"]) in wanted]
    refs = list(dict.fromkeys(request.account_refs or []))  # keep the caller's order, drop repeats
    found = {r["ref"]: r for r in await pool.fetch(sql.SELECT_ACCOUNTS_BY_REFS, tenant_id, refs)}
    errors = []
    for i, ref in enumerate(request.account_refs or []):
        row = found.get(ref)
        if row is None:
            errors.append(FieldError(f"account_refs[{i}]", f"unknown account ref {ref!r}"))
        elif row["status"] != "active":
            errors.append(FieldError(f"account_refs[{i}]", f"account {ref!r} is closed"))
    if errors:
        raise ValidationFailed(errors=errors[: domain.MAX_REPORTED_ERRORS], error_count=len(errors))
    return [found[ref] for ref in refs]


async def issue_credentials(pool: asyncpg.Pool, identity: IdentityClient, *, tenant_id: uuid.UUID,
                            request: CredentialsRequest, request_id: str | None = None,
                            staff_id: str | None = None) -> dict[str, Any]:
    """Ask identity for provisional credentials of the selected accounts; the answer is shown once.

    Accounts already linked to a person come back in ``refused`` (status 409 each) unless
    ``reset``; when every account is refused the whole call is a 409.
    """
    await require_active_tenant(pool, tenant_id)
    tenant = await get_tenant(pool, tenant_id)
    accounts = await _selected_accounts(pool, identity, tenant_id=tenant_id, request=request, request_id=request_id)
    if not accounts:
        return {"credentials": [], "refused": []}
    by_id = {str(a["id"]): a for a in accounts}
    answer = await identity.issue_credentials(
        tenant_id=tenant_id, ttl_days=tenant["credential_ttl_days"], reset=request.reset, request_id=request_id,
        staff_id=staff_id,
        accounts=[{"account_id": str(a["id"]), "role": a["role"], "display_name": a["display_name"],
                   "suggested_email": a["email"]} for a in accounts],
    )
    credentials = []
    for item in answer["credentials"]:
        account = by_id.get(item["account_id"])
        if account is None:
            continue  # identity never answers for an account we did not send; never leak one if it did
        credentials.append({"account_ref": account["ref"], "display_name": account["display_name"],
                            "role": account["role"], "email": account["email"], "login": item["login"],
                            "password": item["password"], "expires_at": item["expires_at"]})
    refused = [{"account_ref": by_id[item["account_id"]]["ref"], "status": 409, "error": item.get("error")}
               for item in answer["refused"] if item["account_id"] in by_id]
    log.info("credentials.issued", tenant_id=str(tenant_id), issued=len(credentials), refused=len(refused),
             reset=request.reset)
    if refused and not credentials:
        raise AllCredentialsRefused(refused=refused)
    return {"credentials": credentials, "refused": refused}

