-- Identity: persons, links to tenancy accounts, provisional credentials, activation flows,
-- single-use tokens, sessions, throttling windows and the security audit log.

CREATE TABLE persons (
    id                 uuid        PRIMARY KEY,
    email              text        NOT NULL,
    email_key          text        NOT NULL,          -- case-folded: the uniqueness key
    password_hash      text        NOT NULL,
    email_verified_at  timestamptz,
    terms_version      text,
    terms_accepted_at  timestamptz,
    status             text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    failed_logins      integer     NOT NULL DEFAULT 0,
    last_failed_at     timestamptz,
    locked_until       timestamptz,
    last_login_at      timestamptz,
    password_changed_at timestamptz,
    created_at         timestamptz NOT NULL
);
-- An email belongs to at most one verified person. Pending (unverified) persons do not own
-- their email yet, so nobody can squat an address by starting an activation with it.
CREATE UNIQUE INDEX persons_verified_email ON persons (email_key) WHERE email_verified_at IS NOT NULL;
CREATE INDEX persons_email ON persons (email_key);

CREATE TABLE credentials (
    id               uuid        PRIMARY KEY,
    tenant_id        uuid        NOT NULL,
    account_id       uuid        NOT NULL,
    role             text        NOT NULL,
    display_name     text        NOT NULL DEFAULT '',
    suggested_email  text,
    login            text        NOT NULL UNIQUE,
    password_hash    text        NOT NULL,
    status           text        NOT NULL CHECK (status IN ('issued', 'activating', 'activated', 'merged',
                                                            'revoked', 'expired')),
    failed_attempts  integer     NOT NULL DEFAULT 0,
    locked_until     timestamptz,
    person_id        uuid        REFERENCES persons (id) ON DELETE SET NULL,
    issued_at        timestamptz NOT NULL,
    expires_at       timestamptz NOT NULL,
    ended_at         timestamptz
);
CREATE INDEX credentials_account ON credentials (account_id, issued_at DESC);
CREATE INDEX credentials_tenant ON credentials (tenant_id);
-- One live credential per account: re-issue revokes the earlier one in the same transaction.
CREATE UNIQUE INDEX credentials_live_per_account ON credentials (account_id)
    WHERE status IN ('issued', 'activating');

CREATE TABLE links (
    person_id   uuid        NOT NULL REFERENCES persons (id) ON DELETE CASCADE,
    tenant_id   uuid        NOT NULL,
    account_id  uuid        NOT NULL,
    role        text        NOT NULL,
    status      text        NOT NULL CHECK (status IN ('pending', 'active')),
    via         text        NOT NULL CHECK (via IN ('activation', 'merge')),
    credential_id uuid      REFERENCES credentials (id) ON DELETE SET NULL,
    linked_at   timestamptz NOT NULL,
    PRIMARY KEY (account_id)            -- an account belongs to one person at most
);
CREATE INDEX links_person ON links (person_id);
CREATE INDEX links_tenant ON links (tenant_id);

CREATE TABLE flows (
    id_hash        bytea       PRIMARY KEY,
    credential_id  uuid        NOT NULL REFERENCES credentials (id) ON DELETE CASCADE,
    intent         text        NOT NULL CHECK (intent IN ('activate', 'merge')),
    step           text        NOT NULL,
    email          text,
    person_id      uuid        REFERENCES persons (id) ON DELETE SET NULL,
    client_code    text,
    societe_code   text,
    merge_failures integer     NOT NULL DEFAULT 0,
    merge_locked_until timestamptz,
    created_at     timestamptz NOT NULL,
    last_seen_at   timestamptz NOT NULL
);
CREATE INDEX flows_credential ON flows (credential_id);

CREATE TABLE tokens (
    hash        bytea       PRIMARY KEY,
    kind        text        NOT NULL CHECK (kind IN ('verify_email', 'reset_password')),
    person_id   uuid        NOT NULL REFERENCES persons (id) ON DELETE CASCADE,
    email       text        NOT NULL,
    tenant_id   uuid,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);
CREATE INDEX tokens_person ON tokens (person_id, kind) WHERE used_at IS NULL;

CREATE TABLE sessions (
    id_hash           bytea       PRIMARY KEY,
    ref               text        NOT NULL UNIQUE,
    person_id         uuid        NOT NULL REFERENCES persons (id) ON DELETE CASCADE,
    tenant_id         uuid,
    ip                text,
    created_at        timestamptz NOT NULL,
    last_seen_at      timestamptz NOT NULL,
    previous_login_at timestamptz,
    ended_at          timestamptz
);
CREATE INDEX sessions_person ON sessions (person_id) WHERE ended_at IS NULL;

-- Fixed-window counters: key like 'login-ip:203.0.113.9' or 'resend:<flow>'.
CREATE TABLE throttle (
    key         text        PRIMARY KEY,
    count       integer     NOT NULL,
    started_at  timestamptz NOT NULL,
    last_at     timestamptz NOT NULL
);

CREATE TABLE audit (
    id          bigserial   PRIMARY KEY,
    at          timestamptz NOT NULL,
    tenant_id   uuid,
    person_id   uuid,
    account_id  uuid,
    kind        text        NOT NULL,
    ip          text,
    detail      jsonb       NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_tenant ON audit (tenant_id, id DESC);
CREATE INDEX audit_person ON audit (person_id, id DESC);
