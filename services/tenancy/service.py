"""Use cases on tenants: onboarding, reading, resolution, updates, API keys.

Each function owns its transaction; handlers and the command line call the same functions.
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from common.clock import Clock
from common.events import write_event
from common.logging import get_logger
from services.tenancy import domain
from services.tenancy import repository as sql
from services.tenancy.errors import InvalidApiKey, TenantCodesTaken, TenantNotFound, TenantSuspended
from services.tenancy.schemas import TenantCreate, TenantPatch

__all__ = [
    "get_tenant",
    "onboard_tenant",
    "parse_tenant_id",
    "require_active_tenant",
    "resolve_tenant",
    "rotate_api_key",
    "tenant_json",
    "update_tenant",
    "verify_api_key",
]

log = get_logger(__name__)


def parse_tenant_id(value: str) -> uuid.UUID:
    """A tenant id from a path or a claim; anything that is not a uuid is simply not found."""
    try:
        return uuid.UUID(value)
    except (TypeError, ValueError):
        raise TenantNotFound() from None


def tenant_json(row: asyncpg.Record, public_base_url: str | None = None) -> dict[str, Any]:
    """The ``Tenant`` of docs/internal-api.md (plus ``login_url`` when the base URL is given)."""
    support, branding = row["support"] or {}, row["branding"] or {}
    body = {
        "id": str(row["id"]),
        "client_code": row["client_code"],
        "societe_code": row["societe_code"],
        "name": row["name"],
        "kind": row["kind"],
        "status": row["status"],
        "support": {"email": support.get("email"), "phone": support.get("phone"), "hours": support.get("hours")},
        "branding": {"primary_color": branding.get("primary_color")},
        "settings": {
            "password_min_length": row["password_min_length"],
            "credential_ttl_days": row["credential_ttl_days"],
            "mfa_requirement": row["mfa_requirement"],
        },
    }
    if public_base_url is not None:
        body["login_url"] = domain.login_url(public_base_url, row["client_code"], row["societe_code"])
    return body


async def onboard_tenant(
    pool: asyncpg.Pool, *, data: TenantCreate, public_base_url: str, clock: Clock, correlation_id: str | None = None
) -> dict[str, Any]:
    """Create a tenant with its first API key; the answer holds the key, shown this once only."""
    key = domain.new_api_key()
    tenant_id = uuid.uuid4()
    async with pool.acquire() as conn, conn.transaction():
        try:
            row = await conn.fetchrow(
                sql.INSERT_TENANT, tenant_id, data.client_code, data.societe_code, data.name, data.kind,
                data.support.model_dump(), data.branding.model_dump(), data.settings.password_min_length,
                data.settings.credential_ttl_days, key.prefix, key.digest,
            )
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name == "tenants_codes_key":
                existing = None
                async with pool.acquire() as other:
                    existing = await other.fetchrow(sql.SELECT_TENANT_BY_CODES, data.client_code, data.societe_code)
                # Only the operator onboards: naming the tenant that holds the codes lets a
                # provisioning script carry on (rotate its key) instead of stopping blind.
                raise TenantCodesTaken(**({"id": str(existing["id"])} if existing else {})) from None
            raise
        await write_event(
            conn, type="tenancy.tenant_onboarded", tenant_id=tenant_id, correlation_id=correlation_id,
            occurred_at=clock.now(),
            payload={"tenant_id": str(tenant_id), "client_code": data.client_code,
                     "societe_code": data.societe_code, "name": data.name, "kind": data.kind},
        )
    log.info("tenant.onboarded", tenant_id=str(tenant_id), client_code=data.client_code,
             societe_code=data.societe_code)
    return {**tenant_json(row, public_base_url), "api_key": key.secret}


async def get_tenant(pool: asyncpg.Pool, tenant_id: uuid.UUID) -> asyncpg.Record:
    """The tenant's row, or :class:`TenantNotFound`."""
    row = await pool.fetchrow(sql.SELECT_TENANT, tenant_id)
    if row is None:
        raise TenantNotFound()
    return row


async def resolve_tenant(pool: asyncpg.Pool, client_code: str, societe_code: str) -> asyncpg.Record:
    """The tenant of a login URL's codes (one unique-index lookup), or :class:`TenantNotFound`."""
    row = await pool.fetchrow(sql.SELECT_TENANT_BY_CODES, client_code, societe_code)
    if row is None:
        raise TenantNotFound()
    return row


async def update_tenant(pool: asyncpg.Pool, tenant_id: uuid.UUID, patch: TenantPatch) -> asyncpg.Record:
    """Apply the fields present in ``patch``; suspending stops the API key and the login pages."""
    settings = patch.settings
    present = settings.model_fields_set if settings is not None else set()
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            sql.UPDATE_TENANT, tenant_id, patch.name,
            patch.support.model_dump() if patch.support is not None else None,
            patch.branding.model_dump() if patch.branding is not None else None,
            patch.status,
            "password_min_length" in present, settings.password_min_length if settings else None,
            "credential_ttl_days" in present, settings.credential_ttl_days if settings else None,
            settings.mfa_requirement if settings else None,
        )
        if row is None:
            raise TenantNotFound()
        await audit(conn, tenant_id=tenant_id, actor="operator", staff_id=None, kind="tenant_updated",
                    fields=sorted(patch.model_fields_set))
    log.info("tenant.updated", tenant_id=str(tenant_id), fields=sorted(patch.model_fields_set))
    return row


async def rotate_api_key(pool: asyncpg.Pool, tenant_id: uuid.UUID, *, actor: str = "operator",
                         staff_id: str | None = None) -> str:
    """Give the tenant a new API key; the previous one stops working with this commit (audited)."""
    key = domain.new_api_key()
    async with pool.acquire() as conn, conn.transaction():
        if await conn.fetchval(sql.ROTATE_API_KEY, tenant_id, key.prefix, key.digest) is None:
            raise TenantNotFound()
        await audit(conn, tenant_id=tenant_id, actor=actor, staff_id=staff_id, kind="api_key_rotated",
                    prefix=key.prefix)
    log.info("tenant.api_key_rotated", tenant_id=str(tenant_id), prefix=key.prefix)
    return key.secret


async def update_agency(pool: asyncpg.Pool, tenant_id: uuid.UUID, patch, *, staff_id: str | None) -> asyncpg.Record:
    """An agency changes its help contact, colour or second-factor requirement (audited with the values
    before and after)."""
    async with pool.acquire() as conn, conn.transaction():
        before = await conn.fetchrow(sql.SELECT_TENANT, tenant_id)
        if before is None:
            raise TenantNotFound()
        row = await conn.fetchrow(
            sql.UPDATE_TENANT, tenant_id, None,
            patch.support.model_dump() if patch.support is not None else None,
            patch.branding.model_dump() if patch.branding is not None else None, None, False, None, False, None,
            patch.settings.mfa_requirement if patch.settings is not None else None)
        columns = [name for name in sorted(patch.model_fields_set) if name != "settings"]
        if patch.settings is not None:
            columns.append("mfa_requirement")
        changed = {name: {"before": before[name], "after": row[name]} for name in columns
                   if before[name] != row[name]}
        if changed:
            await audit(conn, tenant_id=tenant_id, actor="agency", staff_id=staff_id, kind="agency_updated",
                        changed=changed)
    log.info("tenant.agency_updated", tenant_id=str(tenant_id), fields=sorted(patch.model_fields_set))
    return row


async def audit(conn: asyncpg.Connection, *, tenant_id: uuid.UUID, actor: str, staff_id: str | None, kind: str,
                **detail: Any) -> None:
    """One line of the tenant's audit: who (operator, agency, the staff member) did what."""
    await conn.execute(sql.INSERT_AUDIT, tenant_id, actor, uuid.UUID(staff_id) if staff_id else None, kind, detail)


async def audit_log(pool: asyncpg.Pool, tenant_id: uuid.UUID, *, limit: int = 100) -> list[dict[str, Any]]:
    return [{"id": r["id"], "at": r["at"].isoformat(), "actor": r["actor"],
             "staff_id": str(r["staff_id"]) if r["staff_id"] else None, "kind": r["kind"], "detail": r["detail"]}
            for r in await pool.fetch(sql.AUDIT_OF_TENANT, tenant_id, limit)]


async def verify_api_key(pool: asyncpg.Pool, api_key: str) -> dict[str, str]:
    """``{"tenant_id", "status"}`` of the key's tenant, or :class:`InvalidApiKey` (the gateway answers 401)."""
    prefix = domain.parse_api_key_prefix(api_key)
    row = await pool.fetchrow(sql.SELECT_TENANT_BY_KEY_PREFIX, prefix) if prefix else None
    if row is None or not domain.api_key_matches(api_key, row["api_key_hash"]):
        raise InvalidApiKey()
    return {"tenant_id": str(row["id"]), "status": row["status"]}


async def require_active_tenant(conn: asyncpg.Connection | asyncpg.Pool, tenant_id: uuid.UUID,
                                *, lock: bool = False) -> None:
    """Refuse a suspended (403) or unknown (404) tenant; ``lock`` serializes its directory writes."""
    status = await conn.fetchval(sql.LOCK_TENANT if lock else sql.SELECT_TENANT_STATUS, tenant_id)
    if status is None:
        raise TenantNotFound()
    if status != "active":
        raise TenantSuspended()
