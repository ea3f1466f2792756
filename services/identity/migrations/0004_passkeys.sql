-- Passkeys (WebAuthn) of persons (issue 15): a second factor after the password, or a
-- passwordless login where the browser offers it. The user handle given to authenticators is the
-- person id's 16 bytes (random, no personal data).
CREATE TABLE webauthn_credentials (
    id            bytea       PRIMARY KEY,          -- the credential id chosen by the authenticator
    person_id     uuid        NOT NULL REFERENCES persons (id) ON DELETE CASCADE,
    public_key    bytea       NOT NULL,             -- COSE key: public, no need to seal it
    sign_count    bigint      NOT NULL DEFAULT 0,   -- a lower count than stored: a cloned authenticator
    transports    text[]      NOT NULL DEFAULT '{}',
    name          text        NOT NULL,
    created_at    timestamptz NOT NULL,
    last_used_at  timestamptz
);
CREATE INDEX webauthn_credentials_person ON webauthn_credentials (person_id);

-- The server-side challenge of a registration (a logged-in person) or of a passwordless login
-- (nobody yet): HMAC of a random ceremony id, single use, 5 minutes, bound to the client IP.
CREATE TABLE webauthn_ceremonies (
    hash        bytea       PRIMARY KEY,
    purpose     text        NOT NULL CHECK (purpose IN ('register', 'login')),
    person_id   uuid        REFERENCES persons (id) ON DELETE CASCADE,
    challenge   bytea       NOT NULL,
    ip          text,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);

-- The WebAuthn challenge of the step after the password, when the person answers with a passkey.
ALTER TABLE mfa_challenges ADD COLUMN webauthn_challenge bytea;
