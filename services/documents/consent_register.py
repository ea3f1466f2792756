"""Use cases of the consent register: a person gives or revokes a consent, reads their state; the
agency reads the register of a residence; publication asks who has consented (``paper_accounts``).

The register is append-only (migration 0004); every change writes ``documents.consent_changed``
to the outbox in the same transaction, and the notifier confirms it to the person by email.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime

import asyncpg

from common.events import write_event
from common.logging import get_logger
from services.documents import repository_consents as sql
from services.documents.consents import KINDS, WORDING_VERSION, kind_for_category, wording
from services.documents.domain import COPROPRIETAIRE
from services.documents.errors import ConsentWordingChanged, DocumentNotFound, FieldError, InvalidDocument
from services.documents.reading import person_accounts
from services.documents.schemas import ConsentIn

__all__ = ["CONSENT_CHANGED_EVENT", "change_consent", "paper_accounts", "person_consents", "register",
           "states_at"]

log = get_logger(__name__)

CONSENT_CHANGED_EVENT = "documents.consent_changed"


async def states_at(conn: asyncpg.Connection, account_ids: list[uuid.UUID],
                    moment: datetime) -> dict[uuid.UUID, dict[str, dict]]:
    """``{account_id: {kind: {"given", "since"}}}`` at ``moment`` (a kind never asked is not given)."""
    states: dict[uuid.UUID, dict[str, dict]] = {a: {k: {"given": False, "since": None} for k in KINDS}
                                                 for a in account_ids}
    for row in await conn.fetch(sql.STATE_AT, account_ids, moment) if account_ids else []:
        states[row["account_id"]][row["kind"]] = {"given": row["given"], "since": row["at"].isoformat()}
    return states


async def paper_accounts(conn: asyncpg.Connection, *, category: str, account_ids: Iterable[uuid.UUID],
                         moment: datetime) -> set[uuid.UUID]:
    """The accounts a document of this category must reach by post: no consent of its kind at ``moment``.

    Empty for categories that are not notifications in law (``consents.CATEGORY_KIND``)."""
    kind = kind_for_category(category)
    ids = list(account_ids)
    if kind is None or not ids:
        return set()
    states = await states_at(conn, ids, moment)
    return {a for a in ids if not states[a][kind]["given"]}


def _kinds() -> list[dict]:
    return [{"kind": k.code, "label": k.label, "wording": wording(k.code)} for k in KINDS.values()]


async def person_consents(pool: asyncpg.Pool, *, claimed: list[Mapping], now: datetime) -> dict:
    """The wording in force and the state of each of the person's co-owner accounts."""
    async with pool.acquire() as conn:
        accounts = [a for a in await person_accounts(conn, claimed) if a.role == COPROPRIETAIRE and not a.closed]
        states = await states_at(conn, [a.account_id for a in accounts], now)
    return {"wording_version": WORDING_VERSION, "kinds": _kinds(),
            "accounts": [{"account_id": str(a.account_id), "tenant_id": str(a.tenant_id),
                          "consents": states[a.account_id]} for a in accounts]}


async def change_consent(pool: asyncpg.Pool, *, claimed: list[Mapping], person_id: str, change: ConsentIn,
                         now: datetime, ip: str | None, request_id: str | None) -> dict:
    """Record one change (given or revoked) for one of the person's co-owner accounts.

    ``changed`` is False when the state already was the one asked (nothing is recorded). The
    wording version must be the one in force: a page shown before a change of wording is refused
    (``409``), since the register must hold the text the person actually saw."""
    if change.wording_version != WORDING_VERSION:
        raise ConsentWordingChanged()
    try:
        person = uuid.UUID(str(person_id))
    except ValueError:
        raise DocumentNotFound("No such account") from None
    async with pool.acquire() as conn, conn.transaction():
        mine = {a.account_id: a for a in await person_accounts(conn, claimed)}
        account = mine.get(change.account_id)
        if account is None or account.closed:
            raise DocumentNotFound("No such account")
        if account.role != COPROPRIETAIRE:
            raise InvalidDocument(errors=[FieldError("account_id", "consents concern co-owner accounts")])
        await conn.execute(sql.LOCK_ACCOUNT, str(account.account_id))
        current = (await states_at(conn, [account.account_id], now))[account.account_id][change.kind]
        if current["given"] == change.given and current["since"] is not None:
            return {"changed": False, "kind": change.kind, "given": change.given, "since": current["since"]}
        row = await conn.fetchrow(sql.ACCOUNT_FOR_CONSENT, account.account_id)
        lots = [lot.model_dump() for lot in change.lots]
        text = wording(change.kind)
        await conn.fetchrow(sql.INSERT_CHANGE, account.tenant_id, account.account_id, row["ref"], person,
                            list(row["residence_ids"]), lots, change.kind, change.given, now, text,
                            WORDING_VERSION, ip)
        await write_event(conn, type=CONSENT_CHANGED_EVENT, tenant_id=account.tenant_id, correlation_id=request_id,
                          payload={"tenant_id": str(account.tenant_id), "account_id": str(account.account_id),
                                   "account_ref": row["ref"], "person_id": str(person), "kind": change.kind,
                                   "kind_label": KINDS[change.kind].label, "given": change.given,
                                   "at": now.isoformat(), "wording": text, "wording_version": WORDING_VERSION,
                                   "lots": lots, "means": "web"})
    log.info("consent.changed", account_id=str(account.account_id), kind=change.kind, given=change.given)
    return {"changed": True, "kind": change.kind, "given": change.given, "since": now.isoformat()}


async def register(pool: asyncpg.Pool, *, tenant_id: uuid.UUID, residence_ref: str, moment: datetime) -> dict:
    """The register of one residence: every change up to ``moment`` and each account's state then."""
    async with pool.acquire() as conn:
        residences = await conn.fetch(sql.RESIDENCE_IDS, tenant_id, residence_ref)
        if not residences:
            raise InvalidDocument(errors=[FieldError("residence_ref", "unknown residence")])
        ids = [r["id"] for r in residences]
        accounts = {r["id"]: r["ref"] for r in await conn.fetch(sql.RESIDENCE_ACCOUNTS, tenant_id, ids)}
        account_ids = list(accounts)
        states = await states_at(conn, account_ids, moment)
        changes = await conn.fetch(sql.CHANGES_OF, tenant_id, account_ids, moment) if account_ids else []
    return {
        "residence": {"ref": residence_ref, "name": residences[0]["name"]},
        "at": moment.isoformat(),
        "kinds": [{"kind": k.code, "label": k.label} for k in KINDS.values()],
        "accounts": sorted(({"account_ref": ref, "account_id": str(a), "consents": states[a]}
                            for a, ref in accounts.items()), key=lambda item: item["account_ref"]),
        "changes": [{"at": c["at"].isoformat(), "account_ref": c["account_ref"], "account_id": str(c["account_id"]),
                     "person_id": str(c["person_id"]), "lots": c["lots"], "kind": c["kind"],
                     "given": c["given"], "wording": c["wording"], "wording_version": c["wording_version"],
                     "means": c["means"]} for c in changes],
    }
