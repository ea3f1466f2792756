"""SQL of the notifier, as named constants with ``$n`` parameters (asyncpg)."""

from __future__ import annotations

# A copy of an event handled again after its email went out finds 'sent' here. Two copies
# handled at the same moment never both get this far: the consumer's processed_events insert
# (same primary key) makes the second wait for the first's commit, then skips it.
GET_DELIVERY_STATUS = "SELECT status FROM deliveries WHERE event_id = $1 AND recipient = $2"

_UPSERT = """
INSERT INTO deliveries (event_id, recipient, event_type, tenant_id, message_id, status, attempts, last_error,
                        sent_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $8, $9)
ON CONFLICT (event_id, recipient) DO UPDATE
SET status = EXCLUDED.status, attempts = deliveries.attempts + 1, message_id = EXCLUDED.message_id,
    last_error = COALESCE(EXCLUDED.last_error, deliveries.last_error), sent_at = EXCLUDED.sent_at,
    updated_at = EXCLUDED.updated_at
"""
# $1 event_id, $2 recipient, $3 type, $4 tenant, $5 message_id, $6 status, $7 error, $8 sent_at, $9 now
UPSERT_DELIVERY = _UPSERT

# The same for every event of a digest at once: arrays of event ids, one recipient.
UPSERT_DIGEST_DELIVERIES = """
INSERT INTO deliveries (event_id, recipient, event_type, tenant_id, message_id, status, attempts, last_error,
                        sent_at, updated_at)
SELECT e, $2, 'documents.document_published', $3, $4, $5, 1, $6, $7, $8 FROM unnest($1::uuid[]) AS e
ON CONFLICT (event_id, recipient) DO UPDATE
SET status = EXCLUDED.status, attempts = deliveries.attempts + 1, message_id = EXCLUDED.message_id,
    last_error = COALESCE(EXCLUDED.last_error, deliveries.last_error), sent_at = EXCLUDED.sent_at,
    updated_at = EXCLUDED.updated_at
"""

# One pending item per recipient, unless this event was already delivered to that address.
INSERT_DIGEST_ITEMS = """
INSERT INTO digest_items (event_id, person_id, tenant_id, email, document, created_at, due_at)
SELECT $1, r.person_id, $2, r.email, $3, $4, $5
FROM unnest($6::uuid[], $7::text[]) AS r(person_id, email)
WHERE NOT EXISTS (SELECT 1 FROM deliveries d
                  WHERE d.event_id = $1 AND d.recipient = lower(r.email) AND d.status = 'sent')
ON CONFLICT (event_id, person_id) DO NOTHING
"""

DUE_DIGEST_GROUPS = """
SELECT person_id, tenant_id FROM digest_items
GROUP BY person_id, tenant_id
HAVING min(due_at) <= $1 AND COALESCE(max(retry_at), '-infinity') <= $1
ORDER BY min(due_at)
LIMIT $2
"""

LOCK_DIGEST_GROUP = """
SELECT event_id, email, document, created_at, due_at, attempts, retry_at FROM digest_items
WHERE person_id = $1 AND tenant_id = $2
ORDER BY created_at, event_id
FOR UPDATE SKIP LOCKED
"""

DELETE_DIGEST_ITEMS = "DELETE FROM digest_items WHERE person_id = $1 AND event_id = ANY($2::uuid[])"

DEFER_DIGEST_ITEMS = """
UPDATE digest_items SET attempts = $3, retry_at = $4, last_error = $5
WHERE person_id = $1 AND event_id = ANY($2::uuid[])
"""
