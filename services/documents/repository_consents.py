"""SQL of the consent register (asyncpg, ``$n`` parameters). Split from repository.py to keep both small."""

from __future__ import annotations

INSERT_CHANGE = """
INSERT INTO consent_changes (tenant_id, account_id, account_ref, person_id, residence_ids, lots, kind, given, at,
                             wording, wording_version, means, ip)
VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10, $11, 'web', $12)
RETURNING id, at
"""

# The latest change of each (account, kind) at or before $2, for these accounts ($1).
STATE_AT = """
SELECT DISTINCT ON (account_id, kind) account_id, kind, given, at
FROM consent_changes
WHERE account_id = ANY($1::uuid[]) AND at <= $2
ORDER BY account_id, kind, at DESC, id DESC
"""

# Serializes the changes of one account (a double click records one change, not two).
LOCK_ACCOUNT = "SELECT pg_advisory_xact_lock(hashtextextended($1::text, 14))"

ACCOUNT_FOR_CONSENT = """
SELECT id, tenant_id, ref, role, status, residence_ids FROM accounts WHERE id = $1
"""

RESIDENCE_IDS = "SELECT id, name FROM residences WHERE tenant_id = $1 AND ref = $2"

# The co-owner accounts of a residence today, and any account with a change recorded for it.
RESIDENCE_ACCOUNTS = """
SELECT id, ref FROM accounts
WHERE tenant_id = $1 AND role = 'coproprietaire' AND residence_ids && $2::uuid[]
UNION
SELECT DISTINCT account_id, account_ref FROM consent_changes WHERE tenant_id = $1 AND residence_ids && $2::uuid[]
"""

CHANGES_OF = """
SELECT c.at, c.account_id, c.account_ref, c.person_id, c.lots, c.kind, c.given, c.wording, c.wording_version,
       c.means
FROM consent_changes c
WHERE c.tenant_id = $1 AND c.account_id = ANY($2::uuid[]) AND c.at <= $3
ORDER BY c.at, c.id
"""
