"""Activation statistics of an agency (``GET /api/v1/activation-stats``, AGENCY-API.md).

The contract's counts stay as they are; two optional parts extend them (docs/internal-api.md):
``by=residence`` adds the counts per residence, ``series=month|week`` adds the activations over the
last twelve months. The directory comes from tenancy's database, the states from identity (one call).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from common.clock import Clock
from common.errors import FieldError, ValidationFailed
from services.tenancy import domain
from services.tenancy import repository as sql
from services.tenancy.identity_client import IdentityClient
from services.tenancy.service import require_active_tenant

__all__ = ["StatsQuery", "activation_stats", "parse_query"]


@dataclass(frozen=True)
class StatsQuery:
    """What the caller asked for besides the counts: per residence, a series (``month``/``week``)."""

    by_residence: bool = False
    series: str | None = None


def parse_query(query) -> StatsQuery:
    """``by`` (``residence``) and ``series`` (``month``, ``week``); 422 with every wrong one."""
    errors = []
    by = query.get("by") or None
    if by is not None and by != "residence":
        errors.append(FieldError("by", "residence"))
    series = query.get("series") or None
    if series is not None and series not in domain.SERIES_PERIODS:
        errors.append(FieldError("series", "one of " + ", ".join(domain.SERIES_PERIODS)))
    if errors:
        raise ValidationFailed(errors=errors)
    return StatsQuery(by_residence=by is not None, series=series)


async def activation_stats(pool: asyncpg.Pool, identity: IdentityClient, *, tenant_id: uuid.UUID,
                           query: StatsQuery | None = None, clock: Clock | None = None,
                           request_id: str | None = None) -> dict[str, Any]:
    """The tenant's active accounts counted by identity's state of their access, and what ``query`` adds."""
    query = query or StatsQuery()
    await require_active_tenant(pool, tenant_id)
    ids = [str(r["id"]) for r in await pool.fetch(sql.SELECT_ACTIVE_ACCOUNT_IDS, tenant_id)]
    entries = await identity.access_states(tenant_id=tenant_id, account_ids=None, request_id=request_id)
    states = {a: e["state"] for a, e in entries.items()}
    stats: dict[str, Any] = domain.activation_stats(ids, states)
    if query.by_residence:
        residences = await pool.fetch(sql.RESIDENCES_OF_TENANT, tenant_id)
        memberships = await pool.fetch(sql.ACTIVE_ACCOUNTS_PER_RESIDENCE, tenant_id)
        stats["residences"] = domain.residence_stats(
            [(r["ref"], r["name"]) for r in residences],
            [(m["residence_ref"], str(m["account_id"])) for m in memberships], states)
    if query.series is not None:
        if clock is None:
            raise ValueError("a clock is needed for the series")
        activated_at = [datetime.fromisoformat(entries[a]["activated_at"]) for a in ids
                        if states.get(a) == "activated" and entries[a].get("activated_at")]
        stats["series"] = domain.activation_series(activated_at, accounts=len(ids), now=clock.now(),
                                                   period=query.series)
    return stats
