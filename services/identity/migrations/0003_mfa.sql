-- Second factor of persons (issue 15): an authenticator app (TOTP, RFC 6238), single-use
-- recovery codes, and the short-lived challenges between the password and the second factor.

-- One authenticator app per person. The secret must be usable to compute codes, so it cannot
-- be hashed: it is sealed with AES-256-GCM under IDENTITY_MFA_KEY (nonce || ciphertext || tag,
-- the person id as associated data so a sealed secret cannot be moved to another person).
-- ``last_step``: the last accepted RFC 6238 time step, so a code is accepted once (replay).
CREATE TABLE mfa_totp (
    person_id     uuid        PRIMARY KEY REFERENCES persons (id) ON DELETE CASCADE,
    secret_sealed bytea       NOT NULL,
    confirmed_at  timestamptz,                 -- NULL: enrolment started, not confirmed yet
    last_step     bigint,
    created_at    timestamptz NOT NULL
);

-- Ten codes per person, HMAC-hashed like tokens (the raw code is shown once), single use.
CREATE TABLE mfa_recovery_codes (
    hash        bytea       PRIMARY KEY,
    person_id   uuid        NOT NULL REFERENCES persons (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL,
    used_at     timestamptz
);
CREATE INDEX mfa_recovery_codes_person ON mfa_recovery_codes (person_id) WHERE used_at IS NULL;

-- The step between a right password and the second factor: HMAC of a random token, bound to the
-- person and the client IP, short-lived, single use, killed after a few wrong codes.
-- purpose 'login': a second factor opens the session; 'enrol': the agency requires a factor
-- the person has not got yet, the token lets them enrol and then opens the session.
CREATE TABLE mfa_challenges (
    hash        bytea       PRIMARY KEY,
    person_id   uuid        NOT NULL REFERENCES persons (id) ON DELETE CASCADE,
    purpose     text        NOT NULL CHECK (purpose IN ('login', 'enrol')),
    tenant_id   uuid,
    ip          text,
    failures    integer     NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);
CREATE INDEX mfa_challenges_person ON mfa_challenges (person_id) WHERE used_at IS NULL;
