-- The agency's staff (gestionnaires, assistants): people who work for ONE tenant in its console.
-- They are not persons: a person reaches their own lots across agencies, a staff member reaches
-- one agency's data with a role. Separate tables, sessions and cookie, same hashing and throttling.
CREATE TABLE staff (
    id             uuid        PRIMARY KEY,
    tenant_id      uuid        NOT NULL,
    email          text        NOT NULL,
    email_key      text        NOT NULL,
    display_name   text        NOT NULL DEFAULT '',
    role           text        NOT NULL CHECK (role IN ('admin', 'gestionnaire')),
    status         text        NOT NULL CHECK (status IN ('invited', 'active', 'disabled')),
    password_hash  text,
    failed_logins  integer     NOT NULL DEFAULT 0,
    last_failed_at timestamptz,
    locked_until   timestamptz,
    last_login_at  timestamptz,
    invited_by     uuid,
    created_at     timestamptz NOT NULL,
    activated_at   timestamptz,
    UNIQUE (tenant_id, email_key)
);

-- Single-use invitation links (HMAC of the token, like every other secret of identity).
CREATE TABLE staff_invitations (
    hash        bytea       PRIMARY KEY,
    staff_id    uuid        NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);
CREATE INDEX staff_invitations_staff ON staff_invitations (staff_id) WHERE used_at IS NULL;

CREATE TABLE staff_sessions (
    id_hash      bytea       PRIMARY KEY,
    staff_id     uuid        NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
    tenant_id    uuid        NOT NULL,
    ip           text,
    created_at   timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL,
    ended_at     timestamptz
);
CREATE INDEX staff_sessions_staff ON staff_sessions (staff_id) WHERE ended_at IS NULL;

-- Every console action is audited with the staff member who did it.
ALTER TABLE audit ADD COLUMN staff_id uuid;
CREATE INDEX audit_staff ON audit (staff_id, id DESC) WHERE staff_id IS NOT NULL;
