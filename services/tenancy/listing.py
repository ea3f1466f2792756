"""The directory as the agency's console reads it: a page of accounts with their access state.

Served as ``GET /api/v1/directory/accounts`` (an extension of AGENCY-API.md): the console and the
agency's own software read the same route. The access state comes from identity (one call per page,
or one for the whole tenant when the page is filtered by state).
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from common.errors import FieldError, ValidationFailed
from services.tenancy import domain
from services.tenancy import repository as sql
from services.tenancy.identity_client import IdentityClient

__all__ = ["MAX_LIMIT", "list_accounts", "parse_query"]

MAX_LIMIT = 200


def parse_query(query) -> dict[str, Any]:
    """The listing's filters from the query string; 422 with every wrong one."""
    errors = []
    limit = query.get("limit", "50")
    if not limit.isdigit() or not 1 <= int(limit) <= MAX_LIMIT:
        errors.append(FieldError("limit", f"an integer from 1 to {MAX_LIMIT}"))
    role = query.get("role") or None
    if role is not None and role not in domain.ROLES:
        errors.append(FieldError("role", "one of " + ", ".join(domain.ROLES)))
    access = query.get("access") or None
    if access is not None and access not in domain.ACCESS_STATES:
        errors.append(FieldError("access", "one of " + ", ".join(domain.ACCESS_STATES)))
    text = (query.get("q") or "").strip() or None
    if text is not None and len(text) > 100:
        errors.append(FieldError("q", "at most 100 characters"))
    if errors:
        raise ValidationFailed(errors=errors)
    return {"limit": int(limit), "role": role, "access": access, "q": text,
            "residence_ref": query.get("residence_ref") or None, "cursor": query.get("cursor") or None,
            "ref": query.get("ref") or None}


async def list_accounts(pool: asyncpg.Pool, identity: IdentityClient, *, tenant_id: uuid.UUID,
                        filters: dict[str, Any], request_id: str | None) -> dict[str, Any]:
    """``{"accounts": [...], "next_cursor", "residences": [{"ref", "name"}]}``."""
    include = exclude = None
    if filters["access"] is not None:
        everyone = await identity.access_states(tenant_id=tenant_id, account_ids=None, request_id=request_id)
        include, exclude = domain.access_filter(filters["access"], everyone)
    rows = await pool.fetch(sql.LIST_ACCOUNTS, tenant_id, filters["cursor"], filters["q"], filters["residence_ref"],
                            filters["role"], filters["limit"] + 1, _uuids(include), _uuids(exclude), filters["ref"])
    more = len(rows) > filters["limit"]
    rows = rows[:filters["limit"]]
    states = await identity.access_states(tenant_id=tenant_id, account_ids=[r["id"] for r in rows],
                                          request_id=request_id) if rows else {}
    residences = await pool.fetch(sql.RESIDENCES_OF_TENANT, tenant_id)
    return {
        "accounts": [{"id": str(r["id"]), "ref": r["ref"], "role": r["role"], "display_name": r["display_name"],
                      "email": r["email"], "council": r["council"], "status": r["status"], "lots": r["lots"],
                      "access": domain.access_state(states.get(str(r["id"])))} for r in rows],
        "next_cursor": rows[-1]["ref"] if more else None,
        "residences": [{"ref": r["ref"], "name": r["name"]} for r in residences],
    }


def _uuids(ids: list[str] | None) -> list[uuid.UUID] | None:
    return [uuid.UUID(i) for i in ids] if ids is not None else None
