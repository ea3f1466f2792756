"""SQL of the identity service: named constants with $n parameters, the connection first."""
# ruff: noqa: S105  (SQL constant names mention passwords and tokens; none holds a secret)

from __future__ import annotations

from typing import NamedTuple


class AttemptQueries(NamedTuple):
    """The SQL of a password attempt reserved before its hash (``core.reserve_attempt``), for one
    table with a login gate (``failed_logins``, ``last_failed_at``, ``locked_until``)."""

    row_for_update: str  # $1: the id
    failed: str  # $1: the id, $2-$4: failures, locked_until, last_failed_at
    refund: str  # $1: the id, $2-$4: the state before the reservation, $5-$7: the state it wrote

# ---- persons ---------------------------------------------------------------------------------
INSERT_PERSON = """
INSERT INTO persons (id, email, email_key, password_hash, terms_version, terms_accepted_at, created_at,
                     password_changed_at)
VALUES ($1, $2, $3, $4, $5, $6, $6, $6)
"""
PERSON_BY_ID = "SELECT * FROM persons WHERE id = $1"
PERSON_BY_ID_FOR_UPDATE = "SELECT * FROM persons WHERE id = $1 FOR UPDATE"
# Another unverified person waiting for this address, within the first verification window after
# its creation (a resent link does not extend it) and with a live link: until when it holds it.
PENDING_UNTIL_FOR_EMAIL = """
SELECT max(p.created_at) + make_interval(secs => $3) FROM persons p
WHERE p.email_key = $1 AND p.email_verified_at IS NULL
  AND p.created_at + make_interval(secs => $3) > $2
  AND EXISTS (SELECT 1 FROM tokens t WHERE t.person_id = p.id AND t.kind = 'verify_email'
              AND t.used_at IS NULL AND t.expires_at > $2)
"""
# Serialises the activations of one address, so that two flows cannot both pass the check above.
LOCK_EMAIL_KEY = "SELECT pg_advisory_xact_lock(hashtextextended('email-key:' || $1, 0))"
VERIFIED_PERSON_BY_EMAIL = "SELECT * FROM persons WHERE email_key = $1 AND email_verified_at IS NOT NULL"
LOGIN_LOOKUP = """
SELECT p.id, p.email, p.password_hash, p.email_verified_at, p.status, p.last_login_at,
       (EXISTS (SELECT 1 FROM mfa_totp m WHERE m.person_id = p.id AND m.confirmed_at IS NOT NULL)
        OR EXISTS (SELECT 1 FROM webauthn_credentials w WHERE w.person_id = p.id)) AS has_factor,
       ARRAY(SELECT DISTINCT l.tenant_id FROM links l WHERE l.person_id = p.id AND l.status = 'active')
           AS tenant_ids
FROM (SELECT 1) AS one
LEFT JOIN LATERAL (SELECT * FROM persons WHERE email_key = $1
                   ORDER BY (email_verified_at IS NOT NULL) DESC, created_at DESC LIMIT 1) AS p ON true
"""
VERIFY_PERSON_EMAIL = "UPDATE persons SET email_verified_at = $2 WHERE id = $1 AND email_verified_at IS NULL"
DELETE_PERSON = "DELETE FROM persons WHERE id = $1"
SET_PERSON_PASSWORD = """
UPDATE persons SET password_hash = $2, password_changed_at = $3, failed_logins = 0, locked_until = NULL,
                   last_failed_at = NULL
WHERE id = $1
"""
REHASH_PERSON = "UPDATE persons SET password_hash = $2 WHERE id = $1"
PERSON_LOGIN_FAILED = "UPDATE persons SET failed_logins = $2, locked_until = $3, last_failed_at = $4 WHERE id = $1"
# Undo the failure counted for an attempt before its hash (core.reserve_attempt), only if no other
# attempt was counted since ($5-$7: the state the reservation wrote; $2-$4: the state before it).
PERSON_ATTEMPT_REFUND = """
UPDATE persons SET failed_logins = $2, last_failed_at = $3, locked_until = $4
WHERE id = $1 AND failed_logins = $5 AND last_failed_at IS NOT DISTINCT FROM $6
  AND locked_until IS NOT DISTINCT FROM $7
"""
PERSON_ATTEMPTS = AttemptQueries(PERSON_BY_ID_FOR_UPDATE, PERSON_LOGIN_FAILED, PERSON_ATTEMPT_REFUND)
# Success of a login: reset the throttle, open the session, audit; one statement.
LOGIN_SUCCEEDED = """
WITH person AS (
    UPDATE persons SET failed_logins = 0, last_failed_at = NULL, locked_until = NULL, last_login_at = $4
    WHERE id = $3
), session AS (
    INSERT INTO sessions (id_hash, ref, person_id, tenant_id, ip, created_at, last_seen_at, previous_login_at)
    VALUES ($1, $2, $3, $5, $6, $4, $4, $7)
)
INSERT INTO audit (at, tenant_id, person_id, kind, ip) VALUES ($4, $5, $3, 'login_succeeded', $6)
"""

# ---- second factor (issue 15) ---------------------------------------------------------------
TOTP_OF_PERSON = "SELECT * FROM mfa_totp WHERE person_id = $1"
TOTP_OF_PERSON_FOR_UPDATE = "SELECT * FROM mfa_totp WHERE person_id = $1 FOR UPDATE"
# A new enrolment replaces one never confirmed, never a confirmed one.
START_TOTP = """
INSERT INTO mfa_totp (person_id, secret_sealed, created_at) VALUES ($1, $2, $3)
ON CONFLICT (person_id) DO UPDATE SET secret_sealed = $2, created_at = $3, last_step = NULL
WHERE mfa_totp.confirmed_at IS NULL
RETURNING person_id
"""
CONFIRM_TOTP = "UPDATE mfa_totp SET confirmed_at = $2, last_step = $3 WHERE person_id = $1 AND confirmed_at IS NULL"
# Replay refusal under concurrency: of two uses of one step, one moves last_step forward.
ACCEPT_TOTP_STEP = """
UPDATE mfa_totp SET last_step = $2
WHERE person_id = $1 AND confirmed_at IS NOT NULL AND (last_step IS NULL OR last_step < $2)
RETURNING person_id
"""
DELETE_TOTP = "DELETE FROM mfa_totp WHERE person_id = $1 RETURNING confirmed_at"
PERSON_HAS_FACTOR = """
SELECT EXISTS (SELECT 1 FROM mfa_totp WHERE person_id = $1 AND confirmed_at IS NOT NULL)
    OR EXISTS (SELECT 1 FROM webauthn_credentials WHERE person_id = $1)
"""
PASSKEYS_OF_PERSON = """
SELECT id, public_key, sign_count, transports, name, created_at, last_used_at FROM webauthn_credentials
WHERE person_id = $1 ORDER BY created_at
"""
PASSKEY_BY_ID = "SELECT * FROM webauthn_credentials WHERE id = $1"
INSERT_PASSKEY = """
INSERT INTO webauthn_credentials (id, person_id, public_key, sign_count, transports, name, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (id) DO NOTHING
RETURNING id
"""
# Only forward: of two uses of one signature counter value, one moves it.
PASSKEY_USED = """
UPDATE webauthn_credentials SET sign_count = $2, last_used_at = $3
WHERE id = $1 AND (sign_count < $2 OR ($2 = 0 AND sign_count = 0))
RETURNING id
"""
DELETE_PASSKEY = "DELETE FROM webauthn_credentials WHERE id = $1 AND person_id = $2 RETURNING name"
INSERT_CEREMONY = """
INSERT INTO webauthn_ceremonies (hash, purpose, person_id, challenge, ip, created_at, expires_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)
"""
CONSUME_CEREMONY = """
UPDATE webauthn_ceremonies SET used_at = $3
WHERE hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3
RETURNING person_id, challenge, ip
"""
SET_CHALLENGE_WEBAUTHN = "UPDATE mfa_challenges SET webauthn_challenge = $2 WHERE hash = $1"
PERSON_TENANTS = "SELECT DISTINCT tenant_id FROM links WHERE person_id = $1 AND status = 'active'"
PERSON_ACCOUNTS_OF_TENANT = "SELECT account_id FROM links WHERE person_id = $1 AND tenant_id = $2 AND status = 'active'"
DELETE_RECOVERY_CODES = "DELETE FROM mfa_recovery_codes WHERE person_id = $1"
INSERT_RECOVERY_CODES = """
INSERT INTO mfa_recovery_codes (hash, person_id, created_at) SELECT h, $2, $3 FROM unnest($1::bytea[]) AS h
"""
USE_RECOVERY_CODE = """
UPDATE mfa_recovery_codes SET used_at = $3 WHERE hash = $1 AND person_id = $2 AND used_at IS NULL
RETURNING hash
"""
RECOVERY_CODES_LEFT = "SELECT count(*) FROM mfa_recovery_codes WHERE person_id = $1 AND used_at IS NULL"
INSERT_CHALLENGE = """
INSERT INTO mfa_challenges (hash, person_id, purpose, tenant_id, ip, created_at, expires_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)
"""
CHALLENGE_FOR_UPDATE = """
SELECT c.*, p.email, p.status, p.failed_logins, p.last_failed_at, p.locked_until, p.last_login_at
FROM mfa_challenges c JOIN persons p ON p.id = c.person_id
WHERE c.hash = $1 AND c.used_at IS NULL AND c.expires_at > $2
FOR UPDATE OF c
"""
CHALLENGE_FAILED = """
UPDATE mfa_challenges SET failures = failures + 1,
       used_at = CASE WHEN failures + 1 >= $3 THEN $2::timestamptz ELSE NULL END
WHERE hash = $1
"""
USE_CHALLENGE = "UPDATE mfa_challenges SET used_at = $2 WHERE hash = $1"
# Every pending second step of the person (login or enrolment) ends with a new password.
END_PERSON_CHALLENGES = "UPDATE mfa_challenges SET used_at = $2 WHERE person_id = $1 AND used_at IS NULL"

# ---- credentials -----------------------------------------------------------------------------
INSERT_CREDENTIAL = """
INSERT INTO credentials (id, tenant_id, account_id, role, display_name, suggested_email, login, password_hash,
                         status, issued_at, expires_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'issued', $9, $10)
"""
CREDENTIAL_BY_LOGIN = "SELECT * FROM credentials WHERE login = $1"
CREDENTIAL_BY_ID_FOR_UPDATE = "SELECT * FROM credentials WHERE id = $1 FOR UPDATE"
CREDENTIAL_FAILED = "UPDATE credentials SET failed_attempts = $2, locked_until = $3 WHERE id = $1"
CREDENTIAL_RESET_FAILURES = "UPDATE credentials SET failed_attempts = 0, locked_until = NULL WHERE id = $1"
# Undo the failure counted before the hash, only if no other attempt was counted since.
CREDENTIAL_ATTEMPT_REFUND = """
UPDATE credentials SET failed_attempts = $2, locked_until = $3
WHERE id = $1 AND failed_attempts = $4 AND locked_until IS NOT DISTINCT FROM $5
"""
SET_CREDENTIAL_STATUS = """
UPDATE credentials SET status = $2, person_id = $3,
       ended_at = CASE WHEN $2 IN ('issued', 'activating') THEN NULL ELSE $4::timestamptz END
WHERE id = $1
"""
REVOKE_LIVE_CREDENTIALS = """
UPDATE credentials SET status = 'revoked', ended_at = $2
WHERE account_id = $1 AND status IN ('issued', 'activating')
RETURNING id, person_id, status
"""
ACTIVATE_PERSON_CREDENTIALS = """
UPDATE credentials SET status = 'activated', ended_at = $2
WHERE person_id = $1 AND status = 'activating'
"""
# $2: only these accounts (NULL: the whole tenant).
CREDENTIAL_STATES = """
SELECT DISTINCT ON (c.account_id) c.account_id, c.status, c.expires_at, l.status AS link_status
FROM credentials c LEFT JOIN links l ON l.account_id = c.account_id
WHERE c.tenant_id = $1 AND ($2::uuid[] IS NULL OR c.account_id = ANY($2))
ORDER BY c.account_id, c.issued_at DESC
"""
LINKED_ACCOUNTS_OF_TENANT = """
SELECT account_id, status, via, linked_at FROM links
WHERE tenant_id = $1 AND ($2::uuid[] IS NULL OR account_id = ANY($2))
"""

# ---- links -----------------------------------------------------------------------------------
INSERT_LINK = """
INSERT INTO links (person_id, tenant_id, account_id, role, status, via, credential_id, linked_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
"""
LINK_BY_ACCOUNT = "SELECT * FROM links WHERE account_id = $1"
ACCOUNT_KNOWN_IN_OTHER_TENANT = """
SELECT EXISTS (SELECT 1 FROM links WHERE account_id = $1 AND tenant_id <> $2)
    OR EXISTS (SELECT 1 FROM credentials WHERE account_id = $1 AND tenant_id <> $2)
"""
ACTIVATE_PERSON_LINKS = """
UPDATE links SET status = 'active', linked_at = $2 WHERE person_id = $1 AND status = 'pending'
RETURNING tenant_id, account_id, role, via
"""
DELETE_LINK = "DELETE FROM links WHERE account_id = $1 RETURNING person_id, tenant_id, status"
# Re-checked on the row as committed when a verification updated it meanwhile: an active link stays.
DELETE_PENDING_LINK = "DELETE FROM links WHERE account_id = $1 AND person_id = $2 AND status = 'pending' RETURNING 1"
COUNT_PERSON_LINKS = "SELECT count(*) FROM links WHERE person_id = $1"
RECIPIENTS = """
SELECT p.id AS person_id, p.email, array_agg(l.account_id ORDER BY l.account_id) AS account_ids
FROM links l JOIN persons p ON p.id = l.person_id
WHERE l.account_id = ANY($1::uuid[]) AND l.tenant_id = $2 AND l.status = 'active' AND p.email_verified_at IS NOT NULL
      AND p.status = 'active'
GROUP BY p.id, p.email ORDER BY p.email_key
"""

# ---- flows -----------------------------------------------------------------------------------
INSERT_FLOW = """
INSERT INTO flows (id_hash, credential_id, intent, step, email, person_id, client_code, societe_code,
                   created_at, last_seen_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)
"""
FLOW_FOR_UPDATE = """
SELECT f.*, c.tenant_id, c.account_id, c.role, c.display_name, c.suggested_email, c.login,
       c.status AS credential_status, c.expires_at AS credential_expires_at, c.person_id AS credential_person_id
FROM flows f JOIN credentials c ON c.id = f.credential_id
WHERE f.id_hash = $1 AND f.last_seen_at > $2
FOR UPDATE OF f
"""
UPDATE_FLOW = """
UPDATE flows SET step = $2, email = $3, person_id = $4, last_seen_at = $5 WHERE id_hash = $1
"""
FLOWS_OF_PERSON_DONE = "UPDATE flows SET step = 'done' WHERE person_id = $1 AND step = 'pending_verification'"
DELETE_FLOWS_OF_CREDENTIAL = "DELETE FROM flows WHERE credential_id = $1"

# ---- tokens ----------------------------------------------------------------------------------
INSERT_TOKEN = """
INSERT INTO tokens (hash, kind, person_id, email, tenant_id, created_at, expires_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)
"""
SUPERSEDE_TOKENS = "UPDATE tokens SET used_at = $3 WHERE person_id = $1 AND kind = $2 AND used_at IS NULL"
# Atomic consume: of two parallel uses exactly one sees used_at IS NULL.
CONSUME_TOKEN = """
UPDATE tokens SET used_at = $3
WHERE hash = $1 AND kind = $2 AND used_at IS NULL AND expires_at > $3
RETURNING person_id, email, tenant_id
"""
PEEK_TOKEN = """
SELECT person_id, email, tenant_id FROM tokens
WHERE hash = $1 AND kind = $2 AND used_at IS NULL AND expires_at > $3
"""

# ---- sessions --------------------------------------------------------------------------------
# A page view in one read: the live session, its active person and their active links. The idle
# expiry is moved only when the last recorded activity is older than $5 (a minute by default), so
# most page views write nothing: no transaction id, no WAL flush waited for behind a login storm.
INTROSPECT_SESSION = """
WITH live AS (
    SELECT id_hash, ref, person_id, previous_login_at, last_seen_at FROM sessions
    WHERE id_hash = $1 AND ended_at IS NULL AND last_seen_at > $3 AND created_at > $4
), touched AS (
    UPDATE sessions s SET last_seen_at = $2 FROM live
    WHERE s.id_hash = live.id_hash AND live.last_seen_at <= $5
)
SELECT live.ref, live.previous_login_at, p.id AS person_id, p.email, a.tenant_ids, a.account_ids, a.roles,
       a.linked_ats
FROM live JOIN persons p ON p.id = live.person_id AND p.status = 'active'
CROSS JOIN LATERAL (
    SELECT array_agg(l.tenant_id ORDER BY l.linked_at, l.account_id) AS tenant_ids,
           array_agg(l.account_id ORDER BY l.linked_at, l.account_id) AS account_ids,
           array_agg(l.role ORDER BY l.linked_at, l.account_id) AS roles,
           array_agg(l.linked_at ORDER BY l.linked_at, l.account_id) AS linked_ats
    FROM links l WHERE l.person_id = p.id AND l.status = 'active'
) a
"""
END_SESSION = "UPDATE sessions SET ended_at = $2 WHERE id_hash = $1 AND ended_at IS NULL"
END_PERSON_SESSIONS = """
UPDATE sessions SET ended_at = $2
WHERE person_id = $1 AND ended_at IS NULL AND ref IS DISTINCT FROM $3
"""
LIST_SESSIONS = """
SELECT ref, created_at, last_seen_at, ip FROM sessions
WHERE person_id = $1 AND ended_at IS NULL AND last_seen_at > $2 AND created_at > $3
ORDER BY last_seen_at DESC
"""

# ---- throttle windows ------------------------------------------------------------------------
WINDOW_FOR_UPDATE = "SELECT count, started_at, last_at FROM throttle WHERE key = $1 FOR UPDATE"
ENSURE_WINDOW = """
INSERT INTO throttle (key, count, started_at, last_at) VALUES ($1, 0, $2, $2) ON CONFLICT (key) DO NOTHING
"""
SAVE_WINDOW = "UPDATE throttle SET count = $2, started_at = $3, last_at = $4 WHERE key = $1"
# Give back a hit counted before the outcome was known (a right password is no failure).
WINDOW_REFUND = "UPDATE throttle SET count = count - 1 WHERE key = $1 AND count > 0"
WINDOW_BY_KEY = "SELECT count, started_at, last_at FROM throttle WHERE key = $1"

# ---- audit -----------------------------------------------------------------------------------
INSERT_AUDIT = """
INSERT INTO audit (at, tenant_id, person_id, account_id, kind, ip, detail, staff_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
"""
AUDIT_OF_TENANT = """
SELECT id, at, tenant_id, person_id, account_id, kind, ip, detail FROM audit
WHERE tenant_id = $1 AND ($2::bigint IS NULL OR id < $2) AND ($3::uuid IS NULL OR person_id = $3)
ORDER BY id DESC LIMIT $4
"""


# ---- staff (the agency console) --------------------------------------------------------------
INSERT_STAFF = """
INSERT INTO staff (id, tenant_id, email, email_key, display_name, role, status, invited_by, created_at)
VALUES ($1, $2, $3, $4, $5, $6, 'invited', $7, $8)
ON CONFLICT (tenant_id, email_key) DO NOTHING
RETURNING id
"""
STAFF_BY_EMAIL = "SELECT * FROM staff WHERE tenant_id = $1 AND email_key = $2"
STAFF_BY_ID = "SELECT * FROM staff WHERE id = $1"
STAFF_BY_ID_FOR_UPDATE = "SELECT * FROM staff WHERE id = $1 FOR UPDATE"
REINVITE_STAFF = "UPDATE staff SET display_name = $2, role = $3, invited_by = $4 WHERE id = $1"
STAFF_OF_TENANT = """
SELECT id, email, display_name, role, status, created_at, activated_at, last_login_at FROM staff
WHERE tenant_id = $1 ORDER BY status <> 'active', lower(display_name), email_key
"""
STAFF_LOGIN_LOOKUP = """
SELECT id, tenant_id, email, password_hash, status FROM staff WHERE tenant_id = $1 AND email_key = $2
"""
STAFF_LOGIN_FAILED = "UPDATE staff SET failed_logins = $2, locked_until = $3, last_failed_at = $4 WHERE id = $1"
# As PERSON_ATTEMPT_REFUND, for a staff member's attempt.
STAFF_ATTEMPT_REFUND = """
UPDATE staff SET failed_logins = $2, last_failed_at = $3, locked_until = $4
WHERE id = $1 AND failed_logins = $5 AND last_failed_at IS NOT DISTINCT FROM $6
  AND locked_until IS NOT DISTINCT FROM $7
"""
STAFF_ATTEMPTS = AttemptQueries(STAFF_BY_ID_FOR_UPDATE, STAFF_LOGIN_FAILED, STAFF_ATTEMPT_REFUND)
STAFF_LOGIN_SUCCEEDED = """
WITH staff_row AS (
    UPDATE staff SET failed_logins = 0, locked_until = NULL, last_login_at = $4 WHERE id = $2 RETURNING id
)
INSERT INTO staff_sessions (id_hash, staff_id, tenant_id, ip, created_at, last_seen_at)
SELECT $1, id, $3, $5, $4, $4 FROM staff_row
"""
SUPERSEDE_STAFF_INVITATIONS = "UPDATE staff_invitations SET used_at = $2 WHERE staff_id = $1 AND used_at IS NULL"
INSERT_STAFF_INVITATION = """
INSERT INTO staff_invitations (hash, staff_id, created_at, expires_at) VALUES ($1, $2, $3, $4)
"""
PEEK_STAFF_INVITATION = """
SELECT s.id, s.tenant_id, s.email, s.display_name, s.role FROM staff_invitations i JOIN staff s ON s.id = i.staff_id
WHERE i.hash = $1 AND i.used_at IS NULL AND i.expires_at > $2 AND s.status = 'invited'
"""
CONSUME_STAFF_INVITATION = """
UPDATE staff_invitations SET used_at = $2
WHERE hash = $1 AND used_at IS NULL AND expires_at > $2
RETURNING staff_id
"""
ACTIVATE_STAFF = """
UPDATE staff SET password_hash = $2, status = 'active', activated_at = $3, failed_logins = 0, locked_until = NULL
WHERE id = $1 AND status = 'invited'
RETURNING id, tenant_id, email
"""
TOUCH_STAFF_SESSION = """
UPDATE staff_sessions AS ss SET last_seen_at = $2
FROM staff AS s
WHERE ss.id_hash = $1 AND ss.ended_at IS NULL AND ss.last_seen_at > $3 AND ss.created_at > $4
  AND s.id = ss.staff_id AND s.status = 'active'
RETURNING s.id, s.tenant_id, s.email, s.display_name, s.role
"""
END_STAFF_SESSION = """
UPDATE staff_sessions SET ended_at = $2 WHERE id_hash = $1 AND ended_at IS NULL RETURNING staff_id, tenant_id
"""
SET_STAFF_STATUS = """
UPDATE staff SET status = $3 WHERE id = $1 AND tenant_id = $2 AND status IN ('active', 'disabled')
RETURNING id, email, status
"""
END_STAFF_SESSIONS = "UPDATE staff_sessions SET ended_at = $2 WHERE staff_id = $1 AND ended_at IS NULL"
# A revoked invitation leaves no member behind: its links (staff_invitations, by cascade) die with it,
# and the address may be invited again later. Only an invitation not yet accepted.
REVOKE_STAFF_INVITATION = """
DELETE FROM staff WHERE id = $1 AND tenant_id = $2 AND status = 'invited' RETURNING id, email, role
"""
