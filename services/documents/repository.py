"""SQL of the documents service (asyncpg, ``$n`` parameters); the connection comes first."""

from __future__ import annotations

import uuid
from datetime import date, datetime

import asyncpg

# --- directory projection -------------------------------------------------------------------

UPSERT_RESIDENCE = """
INSERT INTO residences (id, tenant_id, ref, name) VALUES ($1, $2, $3, $4)
ON CONFLICT (id) DO UPDATE SET tenant_id = EXCLUDED.tenant_id, ref = EXCLUDED.ref, name = EXCLUDED.name,
                               updated_at = now()
WHERE (residences.tenant_id, residences.ref, residences.name)
      IS DISTINCT FROM (EXCLUDED.tenant_id, EXCLUDED.ref, EXCLUDED.name)
"""

# An event older than the state already applied changes nothing (late retries, reordering).
UPSERT_ACCOUNT = """
INSERT INTO accounts (id, tenant_id, ref, role, council, status, residence_ids, event_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (id) DO UPDATE SET tenant_id = EXCLUDED.tenant_id, ref = EXCLUDED.ref, role = EXCLUDED.role,
    council = EXCLUDED.council, status = EXCLUDED.status, residence_ids = EXCLUDED.residence_ids,
    event_at = EXCLUDED.event_at, updated_at = now()
WHERE accounts.event_at <= EXCLUDED.event_at
"""

# The set-based forms for a tenancy.accounts_upserted batch, with the same rules as the two
# above: residences (distinct ids) overwritten when different, accounts only by an event at
# least as recent as the applied one. residence_ids come as '{uuid,...}' texts ($7).
UPSERT_RESIDENCES = """
INSERT INTO residences (id, tenant_id, ref, name)
SELECT i.id, $2, i.ref, i.name FROM unnest($1::uuid[], $3::text[], $4::text[]) AS i(id, ref, name)
ON CONFLICT (id) DO UPDATE SET tenant_id = EXCLUDED.tenant_id, ref = EXCLUDED.ref, name = EXCLUDED.name,
                               updated_at = now()
WHERE (residences.tenant_id, residences.ref, residences.name)
      IS DISTINCT FROM (EXCLUDED.tenant_id, EXCLUDED.ref, EXCLUDED.name)
"""

UPSERT_ACCOUNTS = """
INSERT INTO accounts (id, tenant_id, ref, role, council, status, residence_ids, event_at)
SELECT i.id, $2, i.ref, i.role, i.council, i.status, i.residence_ids::uuid[], $8
FROM unnest($1::uuid[], $3::text[], $4::text[], $5::boolean[], $6::text[], $7::text[])
     AS i(id, ref, role, council, status, residence_ids)
ON CONFLICT (id) DO UPDATE SET tenant_id = EXCLUDED.tenant_id, ref = EXCLUDED.ref, role = EXCLUDED.role,
    council = EXCLUDED.council, status = EXCLUDED.status, residence_ids = EXCLUDED.residence_ids,
    event_at = EXCLUDED.event_at, updated_at = now()
WHERE accounts.event_at <= EXCLUDED.event_at
"""

CLOSE_ACCOUNT = """
INSERT INTO accounts (id, tenant_id, ref, role, status, event_at) VALUES ($1, $2, $3, '', 'closed', $4)
ON CONFLICT (id) DO UPDATE SET status = 'closed', event_at = EXCLUDED.event_at, updated_at = now()
WHERE accounts.event_at <= EXCLUDED.event_at
"""

ACCOUNTS_BY_IDS = """
SELECT id, tenant_id, role, council, status, residence_ids FROM accounts WHERE id = ANY($1::uuid[])
"""

# A ref reused after a closure resolves to the live account first.
ACCOUNT_BY_REF = """
SELECT id, role, status FROM accounts WHERE tenant_id = $1 AND ref = $2
ORDER BY status = 'closed', updated_at DESC LIMIT 1
"""

RESIDENCE_BY_REF = "SELECT id FROM residences WHERE tenant_id = $1 AND ref = $2 ORDER BY updated_at DESC LIMIT 1"

AUDIENCE_ACCOUNT_IDS = """
SELECT id, ref FROM accounts
WHERE tenant_id = $1 AND residence_ids @> ARRAY[$2::uuid] AND role = 'coproprietaire' AND status <> 'closed'
  AND (council OR NOT $3::boolean)
ORDER BY id
"""

# --- documents --------------------------------------------------------------------------------

INSERT_DOCUMENT = """
INSERT INTO documents (id, tenant_id, category, title, doc_date, year, audience_kind, audience_id, audience_key,
                       size, sha256, crc32, content_type, filename, published_at, published_by_staff)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
ON CONFLICT (audience_key, category, sha256) WHERE withdrawn_at IS NULL DO NOTHING
RETURNING id, tenant_id, category, title, doc_date, year, audience_kind, audience_id, audience_key,
    size, sha256, crc32, content_type, filename, published_at, withdrawn_at
"""

SAME_CONTENT = """
SELECT id, tenant_id, category, title, doc_date, year, audience_kind, audience_id, audience_key,
    size, sha256, crc32, content_type, filename, published_at, withdrawn_at FROM documents
WHERE audience_key = $1 AND category = $2 AND sha256 = $3 AND withdrawn_at IS NULL
"""

GET_DOCUMENT = """SELECT id, tenant_id, category, title, doc_date, year, audience_kind, audience_id, audience_key,
    size, sha256, crc32, content_type, filename, published_at, withdrawn_at FROM documents WHERE id = $1"""

WITHDRAW = """
UPDATE documents SET withdrawn_at = $3, withdrawn_by_staff = $4
WHERE id = $1 AND tenant_id = $2 AND withdrawn_at IS NULL
RETURNING audience_key, category, year
"""

DOCUMENT_IN_TENANT = "SELECT withdrawn_at FROM documents WHERE id = $1 AND tenant_id = $2"

# $2 category, $3 year (as text), $4 +1 (publish) or -1 (withdraw). One row per key: concurrent
# uploads to the same audience serialize on it briefly, which is what keeps the counts exact.
ADD_COUNT = """
INSERT INTO document_facets AS f (audience_key, categories, years)
VALUES ($1, jsonb_build_object($2::text, $4::int), jsonb_build_object($3::text, $4::int))
ON CONFLICT (audience_key) DO UPDATE SET
    categories = f.categories || jsonb_build_object($2::text, COALESCE((f.categories ->> $2::text)::int, 0) + $4::int),
    years = f.years || jsonb_build_object($3::text, COALESCE((f.years ->> $3::text)::int, 0) + $4::int)
"""

FACETS = "SELECT categories, years FROM document_facets WHERE audience_key = ANY($1::text[])"

# One index range per audience key, each already in page order (the LATERAL LIMIT stops each
# early); the merge sorts at most keys x limit (date, id) pairs read from the index alone
# (index-only scans: the heap is visited only for the rows of the page). $2/$3 is the keyset
# cursor, $4/$5 the year as a date range.
LIST = """
SELECT documents.id, tenant_id, category, title, documents.doc_date, year, audience_kind, audience_id, audience_key,
    size, sha256, crc32, content_type, filename, published_at, withdrawn_at
FROM (
    SELECT d.doc_date, d.id FROM unnest($1::text[]) AS k(key)
    CROSS JOIN LATERAL (
        SELECT doc_date, id FROM documents
        WHERE audience_key = k.key AND withdrawn_at IS NULL
          AND (doc_date, id) < ($2::date, $3::uuid) AND doc_date >= $4::date AND doc_date < $5::date
        ORDER BY doc_date DESC, id DESC
        LIMIT $6
    ) AS d
    ORDER BY d.doc_date DESC, d.id DESC
    LIMIT $6
) AS page
JOIN documents ON documents.id = page.id AND documents.withdrawn_at IS NULL
ORDER BY page.doc_date DESC, page.id DESC
"""
# Separate statements (not "$7 IS NULL OR category = $7") so that the planner picks the
# (audience_key, category, doc_date, id) index for them.
LIST_BY_CATEGORY = """
SELECT documents.id, tenant_id, category, title, documents.doc_date, year, audience_kind, audience_id, audience_key,
    size, sha256, crc32, content_type, filename, published_at, withdrawn_at
FROM (
    SELECT d.doc_date, d.id FROM unnest($1::text[]) AS k(key)
    CROSS JOIN LATERAL (
        SELECT doc_date, id FROM documents
        WHERE audience_key = k.key AND withdrawn_at IS NULL AND category = $7
          AND (doc_date, id) < ($2::date, $3::uuid) AND doc_date >= $4::date AND doc_date < $5::date
        ORDER BY doc_date DESC, id DESC
        LIMIT $6
    ) AS d
    ORDER BY d.doc_date DESC, d.id DESC
    LIMIT $6
) AS page
JOIN documents ON documents.id = page.id AND documents.withdrawn_at IS NULL
ORDER BY page.doc_date DESC, page.id DESC
"""
# With a text search ($8, an ILIKE pattern) the title is needed for every candidate row.
SEARCH = """
SELECT d.* FROM unnest($1::text[]) AS k(key)
CROSS JOIN LATERAL (
    SELECT id, tenant_id, category, title, doc_date, year, audience_kind, audience_id, audience_key,
    size, sha256, crc32, content_type, filename, published_at, withdrawn_at FROM documents
    WHERE audience_key = k.key AND withdrawn_at IS NULL
      AND (doc_date, id) < ($2::date, $3::uuid) AND doc_date >= $4::date AND doc_date < $5::date
      AND title ILIKE $7
    ORDER BY doc_date DESC, id DESC
    LIMIT $6
) AS d
ORDER BY d.doc_date DESC, d.id DESC
LIMIT $6
"""
SEARCH_BY_CATEGORY = """
SELECT d.* FROM unnest($1::text[]) AS k(key)
CROSS JOIN LATERAL (
    SELECT id, tenant_id, category, title, doc_date, year, audience_kind, audience_id, audience_key,
    size, sha256, crc32, content_type, filename, published_at, withdrawn_at FROM documents
    WHERE audience_key = k.key AND withdrawn_at IS NULL AND category = $8
      AND (doc_date, id) < ($2::date, $3::uuid) AND doc_date >= $4::date AND doc_date < $5::date
      AND title ILIKE $7
    ORDER BY doc_date DESC, id DESC
    LIMIT $6
) AS d
ORDER BY d.doc_date DESC, d.id DESC
LIMIT $6
"""

MAX_UUID = uuid.UUID(int=(1 << 128) - 1)
NO_DATE_LOW = date(1, 1, 1)
NO_DATE_HIGH = date(9999, 12, 31)


async def fetch_accounts(conn: asyncpg.Connection, account_ids: list[uuid.UUID]) -> list[asyncpg.Record]:
    return await conn.fetch(ACCOUNTS_BY_IDS, account_ids)


async def list_page(conn: asyncpg.Connection, *, keys: list[str], before: tuple[date, uuid.UUID] | None,
                    year: int | None, category: str | None, pattern: str | None,
                    limit: int) -> list[asyncpg.Record]:
    """Visible documents for these audience keys, newest first, after the keyset cursor ``before``.

    ``pattern`` is an ILIKE pattern on the title (None: no text search).
    """
    cursor_date, cursor_id = before or (NO_DATE_HIGH, MAX_UUID)
    low, high = (date(year, 1, 1), date(year + 1, 1, 1)) if year else (NO_DATE_LOW, NO_DATE_HIGH)
    args = [keys, cursor_date, cursor_id, low, high, limit]
    if pattern is not None:
        if category:
            return await conn.fetch(SEARCH_BY_CATEGORY, *args, pattern, category)
        return await conn.fetch(SEARCH, *args, pattern)
    if category:
        return await conn.fetch(LIST_BY_CATEGORY, *args, category)
    return await conn.fetch(LIST, *args)


async def insert_document(conn: asyncpg.Connection, *, document_id: uuid.UUID, tenant_id: uuid.UUID, category: str,
                          title: str, doc_date: date, audience_kind: str, audience_id: uuid.UUID,
                          audience_key: str, size: int, sha256: str, crc32: int, content_type: str,
                          filename: str, published_at: datetime,
                          published_by_staff: uuid.UUID | None = None) -> asyncpg.Record | None:
    """The new row, or None when the same content is already live for this audience and category."""
    return await conn.fetchrow(INSERT_DOCUMENT, document_id, tenant_id, category, title, doc_date, doc_date.year,
                               audience_kind, audience_id, audience_key, size, sha256, crc32, content_type,
                               filename, published_at, published_by_staff)

# --- the agency's view: its documents, its residences, the 2019-502 check ---------------------

# Newest published first, keyset on (published_at, id); the filters are optional ($n IS NULL).
# $8: the residence ids a residence_ref names (NULL: any residence), matching documents published
# to the residence or its council and documents of one account of it.
AGENCY_LIST = """
SELECT d.id, d.category, d.title, d.doc_date, d.audience_kind, d.size, d.sha256, d.content_type, d.filename,
       d.published_at, d.withdrawn_at, d.published_by_staff, d.withdrawn_by_staff, a.ref AS account_ref,
       r.ref AS residence_ref
FROM documents d
LEFT JOIN accounts a ON d.audience_kind = 'account' AND a.id = d.audience_id
LEFT JOIN residences r ON d.audience_kind <> 'account' AND r.id = d.audience_id
WHERE d.tenant_id = $1
  AND (d.published_at, d.id) < ($2::timestamptz, $3::uuid)
  AND ($4::text IS NULL OR d.category = $4::text)
  AND ($5::int IS NULL OR d.year = $5::int)
  AND ($6::text IS NULL OR ($6::text = 'withdrawn') = (d.withdrawn_at IS NOT NULL))
  AND ($7::text IS NULL OR d.title ILIKE $7::text)
  AND ($8::uuid[] IS NULL OR d.audience_id = ANY($8::uuid[])
       OR (d.audience_kind = 'account' AND a.residence_ids && $8::uuid[]))
ORDER BY d.published_at DESC, d.id DESC
LIMIT $9
"""

# One row per ref (the latest name), in ref order.
TENANT_RESIDENCES = """
SELECT DISTINCT ON (ref) ref, name FROM residences WHERE tenant_id = $1 ORDER BY ref, updated_at DESC
"""

RESIDENCE_IDS_BY_REF = "SELECT id, ref FROM residences WHERE tenant_id = $1 AND ($2::text IS NULL OR ref = $2::text)"

# Live documents published to these residences or their councils (days in Paris time).
RESIDENCE_DOCUMENT_FACTS = """
SELECT audience_id, category, doc_date, (published_at AT TIME ZONE 'Europe/Paris')::date AS published_on
FROM documents
WHERE tenant_id = $1 AND audience_kind <> 'account' AND audience_id = ANY($2::uuid[]) AND withdrawn_at IS NULL
"""

RESIDENCE_COPROPRIETAIRES = """
SELECT id, residence_ids FROM accounts
WHERE tenant_id = $1 AND role = 'coproprietaire' AND status <> 'closed' AND residence_ids && $2::uuid[]
"""

# By audience key and category: the (audience_key, category, ...) listing index serves it.
ACCOUNT_DOCUMENT_FACTS = """
SELECT audience_id, category, doc_date, (published_at AT TIME ZONE 'Europe/Paris')::date AS published_on
FROM documents
WHERE audience_key = ANY($1::text[]) AND category = ANY($2::text[]) AND withdrawn_at IS NULL
"""

# --- proof of availability (issue 14): audience snapshot, access log ------------------------

# The audience at publication ($2 account ids, $3 their refs): append-only (migration 0003).
INSERT_AUDIENCE = """
INSERT INTO document_audience (document_id, account_id, account_ref)
SELECT $1, i.id, i.ref FROM unnest($2::uuid[], $3::text[]) AS i(id, ref)
ON CONFLICT DO NOTHING
"""

INSERT_ACCESS = """
INSERT INTO document_access (document_id, tenant_id, person_id, account_id, at, kind, success)
VALUES ($1, $2, $3, $4, $5, $6, $7)
"""

DOCUMENT_OF_TENANT = """
SELECT d.id, d.tenant_id, d.category, d.title, d.doc_date, d.audience_kind, d.audience_id, d.size, d.sha256,
       d.content_type, d.filename, d.published_at, d.withdrawn_at, a.ref AS account_ref, r.ref AS residence_ref,
       r.name AS residence_name
FROM documents d
LEFT JOIN accounts a ON d.audience_kind = 'account' AND a.id = d.audience_id
LEFT JOIN residences r ON d.audience_kind <> 'account' AND r.id = d.audience_id
WHERE d.id = $1 AND d.tenant_id = $2
"""

AUDIENCE_OF = "SELECT account_id, account_ref FROM document_audience WHERE document_id = $1 ORDER BY account_ref"

# Accesses with the ref of the account that granted them (as the projection knows it now).
ACCESSES_OF = """
SELECT x.document_id, x.at, x.person_id, x.account_id, a.ref AS account_ref, x.kind, x.success
FROM document_access x LEFT JOIN accounts a ON a.id = x.account_id
WHERE x.document_id = ANY($1::uuid[]) AND ($2::uuid IS NULL OR x.account_id = $2::uuid)
ORDER BY x.at, x.id
"""

# The documents an account was in the audience of, or opened, newest published first.
DOCUMENTS_OF_ACCOUNT = """
SELECT d.id, d.tenant_id, d.category, d.title, d.doc_date, d.audience_kind, d.audience_id, d.size, d.sha256,
       d.content_type, d.filename, d.published_at, d.withdrawn_at, a.ref AS account_ref, r.ref AS residence_ref,
       r.name AS residence_name,
       EXISTS (SELECT 1 FROM document_audience s WHERE s.document_id = d.id AND s.account_id = $2) AS in_audience
FROM documents d
LEFT JOIN accounts a ON d.audience_kind = 'account' AND a.id = d.audience_id
LEFT JOIN residences r ON d.audience_kind <> 'account' AND r.id = d.audience_id
WHERE d.tenant_id = $1
  AND d.id IN (SELECT document_id FROM document_audience WHERE account_id = $2
               UNION SELECT document_id FROM document_access WHERE account_id = $2)
ORDER BY d.published_at DESC, d.id DESC
LIMIT $3
"""

# When this person first opened each of these documents (successful accesses only).
FIRST_OPENED = """
SELECT document_id, min(at) AS opened_at FROM document_access
WHERE person_id = $1 AND document_id = ANY($2::uuid[]) AND success
GROUP BY document_id
"""
