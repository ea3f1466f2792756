"""SQL of the tenancy service: named constants with ``$n`` parameters, the connection passed in.

Bulk directory writes are set-based (arrays unnested, a COPY into a temporary table, one
``INSERT ... ON CONFLICT ... WHERE changed``), never one round trip per row. Per-row arrays
(``lot_refs``, ``lot_ids``) are joined through ``unnest(...)``, never ``= ANY(column)``: with the
latter the planner may scan all of the tenant's lots for every account (measured: 3 ms per row).
"""

from __future__ import annotations

from typing import Any

import asyncpg

INSERT_TENANT = """
INSERT INTO tenants (id, client_code, societe_code, name, kind, support, branding,
                     password_min_length, credential_ttl_days, api_key_prefix, api_key_hash)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
RETURNING id, client_code, societe_code, name, kind, status, support, branding,
       password_min_length, credential_ttl_days, mfa_requirement, created_at, updated_at
"""

SELECT_TENANT = """
SELECT id, client_code, societe_code, name, kind, status, support, branding,
       password_min_length, credential_ttl_days, mfa_requirement, created_at, updated_at
FROM tenants WHERE id = $1
"""

SELECT_TENANT_BY_CODES = """
SELECT id, client_code, societe_code, name, kind, status, support, branding,
       password_min_length, credential_ttl_days, mfa_requirement, created_at, updated_at
FROM tenants WHERE client_code = $1 AND societe_code = $2
"""

SELECT_TENANT_BY_KEY_PREFIX = "SELECT id, status, api_key_hash FROM tenants WHERE api_key_prefix = $1"

# $6/$8: whether the setting is present in the PATCH (null is a value for password_min_length).
UPDATE_TENANT = """
UPDATE tenants SET
    name = COALESCE($2, name),
    support = COALESCE($3, support),
    branding = COALESCE($4, branding),
    status = COALESCE($5, status),
    password_min_length = CASE WHEN $6 THEN $7 ELSE password_min_length END,
    credential_ttl_days = CASE WHEN $8 THEN $9 ELSE credential_ttl_days END,
    mfa_requirement = COALESCE($10, mfa_requirement),
    updated_at = now()
WHERE id = $1
RETURNING id, client_code, societe_code, name, kind, status, support, branding,
       password_min_length, credential_ttl_days, mfa_requirement, created_at, updated_at
"""

ROTATE_API_KEY = """
UPDATE tenants SET api_key_prefix = $2, api_key_hash = $3, api_key_created_at = now(), updated_at = now()
WHERE id = $1
RETURNING id
"""

INSERT_AUDIT = "INSERT INTO audit (tenant_id, actor, staff_id, kind, detail) VALUES ($1, $2, $3, $4, $5)"
AUDIT_OF_TENANT = """
SELECT id, at, actor, staff_id, kind, detail FROM audit WHERE tenant_id = $1 ORDER BY id DESC LIMIT $2
"""

# For the bulk import's transaction only: JIT compilation costs more than it saves on these
# statements (measured: ~0.3 s of a 50,000-account import), and the per-account aggregations
# sort in memory instead of spilling to disk.
TUNE_BULK_TRANSACTION = "SET LOCAL jit = off; SET LOCAL work_mem = '64MB'"

# Serializes the directory writes of one tenant (imports, closes) without blocking readers.
LOCK_TENANT = "SELECT status FROM tenants WHERE id = $1 FOR NO KEY UPDATE"

SELECT_TENANT_STATUS = "SELECT status FROM tenants WHERE id = $1"

SELECT_RESIDENCE_REFS = """
SELECT r.ref FROM unnest($2::text[]) AS i(ref) JOIN residences r ON r.tenant_id = $1 AND r.ref = i.ref
"""


UPSERT_RESIDENCES = """
INSERT INTO residences AS r (tenant_id, ref, name, address)
SELECT $1, i.ref, i.name, i.address
FROM unnest($2::text[], $3::text[], $4::text[]) AS i(ref, name, address)
ON CONFLICT (tenant_id, ref) DO UPDATE
    SET name = EXCLUDED.name, address = EXCLUDED.address, updated_at = now()
    WHERE (r.name, r.address) IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.address)
RETURNING r.id, (r.xmax = 0) AS created
"""

UPSERT_LOTS = """
INSERT INTO lots AS l (tenant_id, ref, residence_id, number, kind)
SELECT $1, i.ref, r.id, i.number, i.kind
FROM unnest($2::text[], $3::text[], $4::text[], $5::text[]) AS i(ref, residence_ref, number, kind)
JOIN residences r ON r.tenant_id = $1 AND r.ref = i.residence_ref
ON CONFLICT (tenant_id, ref) DO UPDATE
    SET residence_id = EXCLUDED.residence_id, number = EXCLUDED.number, kind = EXCLUDED.kind, updated_at = now()
    WHERE (l.residence_id, l.number, l.kind) IS DISTINCT FROM (EXCLUDED.residence_id, EXCLUDED.number, EXCLUDED.kind)
RETURNING l.id, l.ref, (l.xmax = 0) AS created
"""

# lot_ids arrive resolved, sorted and as an array literal (directory_import._sorted_ids): resolving them
# here with a subquery per account cost a third of this statement (EXPLAIN ANALYZE, 50,000
# accounts: 347 of 1,057 ms).
CREATE_ACCOUNT_INPUT = """
CREATE TEMPORARY TABLE account_input (
    ref text, role text, display_name text, email text, council boolean, lot_ids text  -- '{id,id}'
) ON COMMIT DROP
"""
ACCOUNT_INPUT_COLUMNS = ("ref", "role", "display_name", "email", "council", "lot_ids")


# The lots one chunk of accounts names, as they stand after the document's residences and lots
# were written (same transaction): what the accounts' rows (lot ids) and their events (number,
# residence ref) need; also the stored lots a wrong document is checked against. One row of
# parallel arrays, aggregated in one pass so that they line up, not one row per lot: 50,000
# records with their uuid objects kept the service's collector busy (py-spy: row decoding and the
# collections it triggered); ids as text are plain strings, which asyncpg encodes back into uuid
# for the COPY (50,000 lots, 6 alternating rounds: 0.21-0.29 s -> 0.06-0.10 s of CPU for the
# lookup and the accounts' sorted lot ids). ``= ANY`` rather than a join with ``unnest``: for 10,000 refs
# among a tenant's 50,000 lots the join hashed all 50,000 on every chunk (EXPLAIN ANALYZE; the five
# lookups of a 50,000-account import 0.29-0.47 s -> 0.22-0.36 s from the service, 3 rounds).
SELECT_LOTS_OF_ACCOUNTS = """
SELECT COALESCE(array_agg(l.ref), '{}') AS refs, COALESCE(array_agg(l.id::text), '{}') AS ids,
       COALESCE(array_agg(l.number), '{}') AS numbers, COALESCE(array_agg(r.ref), '{}') AS residence_refs
FROM lots l JOIN residences r ON r.id = l.residence_id
WHERE l.tenant_id = $1 AND l.ref = ANY($2::text[])
"""

SELECT_RESIDENCES_BY_REFS = """
SELECT r.id::text AS id, r.ref, r.name FROM residences r WHERE r.tenant_id = $1 AND r.ref = ANY($2::text[])
"""

# The accounts of one chunk (COPY'd into ``account_input``), upserted; rows equal to the stored
# ones are not written. Answers the written accounts as two parallel arrays (refs, ids as text:
# see SELECT_LOTS_OF_ACCOUNTS) and how many of them were created; their events are built by the service
# (directory_import._AccountEvents) while PostgreSQL upserts the next chunk.
UPSERT_ACCOUNTS = """
WITH upserted AS (
INSERT INTO accounts AS a (tenant_id, ref, role, display_name, email, council, lot_ids, status)
SELECT $1, i.ref, i.role, i.display_name, i.email, i.council, i.lot_ids::uuid[], 'active'
FROM account_input i
ON CONFLICT (tenant_id, ref) DO UPDATE
    SET role = EXCLUDED.role, display_name = EXCLUDED.display_name, email = EXCLUDED.email,
        council = EXCLUDED.council, lot_ids = EXCLUDED.lot_ids, status = 'active', closed_at = NULL,
        updated_at = now()
    WHERE (a.role, a.display_name, a.email, a.council, a.lot_ids, a.status)
          IS DISTINCT FROM (EXCLUDED.role, EXCLUDED.display_name, EXCLUDED.email, EXCLUDED.council,
                            EXCLUDED.lot_ids, 'active')
RETURNING a.id, a.ref, (a.xmax = 0) AS created
)
SELECT COALESCE(array_agg(ref), '{}') AS refs, COALESCE(array_agg(id::text), '{}') AS ids,
       count(*) FILTER (WHERE created) AS created
FROM upserted
"""

# Active accounts whose view changed without their own row changing: one of their lots moved or
# was renumbered ($2), or one of their residences was renamed ($3); with what their event needs,
# their lots as [ref, number, residence ref, residence id, residence name].
SELECT_TOUCHED_ACCOUNTS = """
SELECT a.id::text AS id, a.ref, a.role, a.display_name, a.council, a.status,
       COALESCE((SELECT json_agg(json_build_array(l.ref, l.number, r.ref, r.id, r.name))
                 FROM unnest(a.lot_ids) AS u(id) JOIN lots l ON l.id = u.id
                 JOIN residences r ON r.id = l.residence_id), '[]') AS lots
FROM accounts a
WHERE a.tenant_id = $1 AND a.status = 'active'
  AND a.lot_ids && (SELECT array_agg(l.id) FROM lots l WHERE l.id = ANY($2::uuid[]) OR l.residence_id = ANY($3::uuid[]))
ORDER BY a.ref
"""

CLOSE_ACCOUNT = """
UPDATE accounts SET status = 'closed', closed_at = now(), updated_at = now()
WHERE tenant_id = $1 AND ref = $2 AND status = 'active'
RETURNING id
"""

SELECT_ACCOUNT_ID = "SELECT id, status FROM accounts WHERE tenant_id = $1 AND ref = $2"

SELECT_ACCOUNTS_BY_REFS = """
SELECT a.id, a.ref, a.role, a.display_name, a.email, a.status
FROM unnest($2::text[]) AS i(ref) JOIN accounts a ON a.tenant_id = $1 AND a.ref = i.ref
"""

SELECT_ACTIVE_ACCOUNTS = """
SELECT id, ref, role, display_name, email FROM accounts WHERE tenant_id = $1 AND status = 'active' ORDER BY ref
"""

SELECT_ACTIVE_ACCOUNT_IDS = "SELECT id FROM accounts WHERE tenant_id = $1 AND status = 'active'"

LOOKUP_ACCOUNTS = """
SELECT a.id, a.tenant_id, a.ref, a.role, a.display_name, a.council, a.status,
       COALESCE((
           SELECT jsonb_agg(jsonb_build_object(
                      'ref', l.ref, 'number', l.number, 'kind', l.kind,
                      'residence', jsonb_build_object('id', r.id, 'ref', r.ref, 'name', r.name, 'address', r.address))
                  ORDER BY l.ref)
           FROM unnest(a.lot_ids) AS u(id) JOIN lots l ON l.id = u.id
           JOIN residences r ON r.id = l.residence_id), '[]') AS lots
FROM unnest($1::uuid[]) AS i(id) JOIN accounts a ON a.id = i.id
ORDER BY a.tenant_id, a.ref
"""


# The console's directory: one page of accounts by ref (keyset), with their lots and residences.
# $2 cursor (last ref), $3 text (in ref, name or email), $4 residence ref, $5 role, $6 limit,
# $7 only these ids, $8 none of these ids (the access-state filter, computed from identity), $9 one ref.
LIST_ACCOUNTS = """
SELECT a.id, a.ref, a.role, a.display_name, a.email, a.council, a.status,
       COALESCE((
           SELECT jsonb_agg(jsonb_build_object('ref', l.ref, 'number', l.number, 'kind', l.kind,
                                               'residence_ref', r.ref, 'residence_name', r.name) ORDER BY l.ref)
           FROM unnest(a.lot_ids) AS u(id) JOIN lots l ON l.id = u.id
           JOIN residences r ON r.id = l.residence_id), '[]') AS lots
FROM accounts a
WHERE a.tenant_id = $1
  AND ($2::text IS NULL OR a.ref > $2)
  AND ($3::text IS NULL OR strpos(lower(a.ref || ' ' || a.display_name || ' ' || coalesce(a.email, '')),
                                  lower($3)) > 0)
  AND ($4::text IS NULL OR EXISTS (
        SELECT 1 FROM unnest(a.lot_ids) AS u(id) JOIN lots l ON l.id = u.id
        JOIN residences r ON r.id = l.residence_id WHERE r.ref = $4))
  AND ($5::text IS NULL OR a.role = $5)
  AND ($7::uuid[] IS NULL OR a.id = ANY($7))
  AND ($8::uuid[] IS NULL OR NOT (a.id = ANY($8)))
  AND ($9::text IS NULL OR a.ref = $9)
ORDER BY a.ref
LIMIT $6
"""
RESIDENCES_OF_TENANT = "SELECT ref, name FROM residences WHERE tenant_id = $1 ORDER BY name, ref"

# The activation statistics per residence: which active accounts have a lot in which residence
# (an account with lots in two residences is in both; DISTINCT: several lots in one count once).
ACTIVE_ACCOUNTS_PER_RESIDENCE = """
SELECT DISTINCT r.ref AS residence_ref, a.id AS account_id
FROM accounts a
CROSS JOIN LATERAL unnest(a.lot_ids) AS u(id)
JOIN lots l ON l.id = u.id
JOIN residences r ON r.id = l.residence_id
WHERE a.tenant_id = $1 AND a.status = 'active'
"""


async def copy_account_input(conn: asyncpg.Connection, records: list[tuple[Any, ...]], *, first: bool) -> None:
    """COPY one chunk of parsed accounts into this transaction's ``account_input`` table, in place
    of the previous chunk."""
    await conn.execute(CREATE_ACCOUNT_INPUT if first else "TRUNCATE account_input")
    await conn.copy_records_to_table("account_input", records=records, columns=ACCOUNT_INPUT_COLUMNS)
