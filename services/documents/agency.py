"""The agency's reading use cases: its documents (published and withdrawn) and the 2019-502 check.

Served as ``GET /api/v1/documents`` and ``GET /api/v1/documents/compliance`` (extensions of
AGENCY-API.md): the console and the agency's own software read the same routes. The audience is
answered as it was given at upload (refs), from documents' projection of the directory.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import date, datetime

import asyncpg

from services.documents import repository as repo
from services.documents.categories import CATEGORIES
from services.documents.compliance import LEGAL_CATEGORIES, DocFact, ResidenceFacts, assess, summary
from services.documents.consent_register import paper_accounts
from services.documents.consents import kind_for_category
from services.documents.errors import FieldError, InvalidDocument
from services.documents.schemas import AgencyListQuery, ComplianceQuery

__all__ = ["audience_as_given", "compliance", "list_agency_documents"]

_FAR_FUTURE = datetime.fromisoformat("9999-12-31T00:00:00+00:00")
_ACCOUNT_LEGAL = [c.code for c in LEGAL_CATEGORIES if c.audience == "ACCOUNT"]


def _encode_cursor(row: asyncpg.Record) -> str:
    raw = f"{row['published_at'].isoformat()}|{row['id']}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        moment, _, ident = raw.partition("|")
        parsed = datetime.fromisoformat(moment)
        if parsed.tzinfo is None:
            raise ValueError("naive cursor")
        return parsed, uuid.UUID(ident)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidDocument(errors=[FieldError("cursor", "invalid cursor")]) from None


def _like(q: str | None) -> str | None:
    if not q:
        return None
    return "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def audience_as_given(row: asyncpg.Record) -> dict:
    """A document's audience as the agency gave it at upload (needs ``account_ref``/``residence_ref``)."""
    if row["audience_kind"] == "account":
        return {"account_ref": row["account_ref"]}
    audience = {"residence_ref": row["residence_ref"]}
    if row["audience_kind"] == "residence_council":
        audience["council_only"] = True
    return audience


def _item(row: asyncpg.Record) -> dict:
    category = CATEGORIES.get(row["category"])
    return {
        "id": str(row["id"]), "title": row["title"], "category": row["category"],
        "category_label": category.label if category else row["category"], "date": row["doc_date"].isoformat(),
        "audience": audience_as_given(row), "sha256": row["sha256"], "size": row["size"],
        "content_type": row["content_type"], "filename": row["filename"],
        "published_at": row["published_at"].isoformat(),
        "withdrawn_at": row["withdrawn_at"].isoformat() if row["withdrawn_at"] else None,
        # The console user who published / withdrew it; None: the agency's software (its API key).
        "published_by_staff": str(row["published_by_staff"]) if row["published_by_staff"] else None,
        "withdrawn_by_staff": str(row["withdrawn_by_staff"]) if row["withdrawn_by_staff"] else None,
    }


async def list_agency_documents(pool: asyncpg.Pool, *, tenant_id: uuid.UUID, query: AgencyListQuery) -> dict:
    """``{"items", "next_cursor", "residences": [{"ref", "name"}]}``: newest published first."""
    if query.category is not None and query.category not in CATEGORIES:
        raise InvalidDocument(errors=[FieldError("category", "unknown category")])
    published_before, id_before = _decode_cursor(query.cursor) if query.cursor else (_FAR_FUTURE, repo.MAX_UUID)
    async with pool.acquire() as conn:
        residence_ids = None
        if query.residence_ref is not None:
            residence_ids = [r["id"] for r in await conn.fetch(repo.RESIDENCE_IDS_BY_REF, tenant_id,
                                                                query.residence_ref)]
        rows = [] if residence_ids == [] else await conn.fetch(
            repo.AGENCY_LIST, tenant_id, published_before, id_before, query.category, query.year, query.status,
            _like(query.q), residence_ids, query.limit + 1)
        residences = await conn.fetch(repo.TENANT_RESIDENCES, tenant_id)
        more = len(rows) > query.limit
        rows = rows[:query.limit]
        by_post = {r["id"]: await _to_send_by_post(conn, r) for r in rows if kind_for_category(r["category"])}
    return {"items": [{**_item(r), "to_send_by_post": by_post.get(r["id"])} for r in rows],
            "next_cursor": _encode_cursor(rows[-1]) if more else None,
            "residences": [{"ref": r["ref"], "name": r["name"]} for r in residences]}


async def _to_send_by_post(conn: asyncpg.Connection, row: asyncpg.Record) -> int:
    """How many accounts of a convocation's or fund call's audience had not consented to electronic
    notification when it was published (docs/legal-proofs.md): the agency must post it to them."""
    audience = [r["account_id"] for r in await conn.fetch(repo.AUDIENCE_OF, row["id"])]
    return len(await paper_accounts(conn, category=row["category"], account_ids=audience,
                                    moment=row["published_at"]))


def _fact(row: asyncpg.Record) -> DocFact:
    return DocFact(doc_date=row["doc_date"], published_on=row["published_on"])


async def compliance(pool: asyncpg.Pool, *, tenant_id: uuid.UUID, query: ComplianceQuery, today: date) -> dict:
    """The 2019-502 check of one residence (``residence_ref``) or of every residence of the tenant."""
    async with pool.acquire() as conn:
        rows = await conn.fetch(repo.RESIDENCE_IDS_BY_REF, tenant_id, query.residence_ref)
        if not rows and query.residence_ref is not None:
            raise InvalidDocument(errors=[FieldError("residence_ref", "unknown residence")])
        names = {r["ref"]: r["name"] for r in await conn.fetch(repo.TENANT_RESIDENCES, tenant_id)}
        # A ref is one residence for the agency, even if the projection holds several ids for it.
        ids_by_ref: dict[str, set[uuid.UUID]] = {}
        for r in rows:
            ids_by_ref.setdefault(r["ref"], set()).add(r["id"])
        ref_of = {rid: ref for ref, ids in ids_by_ref.items() for rid in ids}
        all_ids = list(ref_of)
        facts = {ref: ResidenceFacts() for ref in ids_by_ref}
        for r in await conn.fetch(repo.RESIDENCE_DOCUMENT_FACTS, tenant_id, all_ids):
            facts[ref_of[r["audience_id"]]].shared.setdefault(r["category"], []).append(_fact(r))
        accounts = await conn.fetch(repo.RESIDENCE_COPROPRIETAIRES, tenant_id, all_ids)
        for account in accounts:
            for rid in account["residence_ids"]:
                if rid in ref_of:
                    facts[ref_of[rid]].accounts.setdefault(account["id"], {})
        keys = [f"a:{a['id']}" for a in accounts]
        for r in await conn.fetch(repo.ACCOUNT_DOCUMENT_FACTS, keys, _ACCOUNT_LEGAL) if keys else []:
            for residence in facts.values():
                if r["audience_id"] in residence.accounts:
                    residence.accounts[r["audience_id"]].setdefault(r["category"], []).append(_fact(r))
    residences = []
    for ref in sorted(facts):
        ag_date, items = assess(facts[ref], today=today)
        residences.append({"ref": ref, "name": names.get(ref, ref), "ag_date": ag_date.isoformat() if ag_date else None,
                           "summary": summary(items), "items": [item.to_json() for item in items]})
    return {"today": today.isoformat(), "residences": residences}
