-- Tenants (agencies / syndics), their API key, and their directory: residences, lots, accounts.

CREATE TABLE tenants (
    id                  uuid        PRIMARY KEY,
    client_code         text        NOT NULL,
    societe_code        text        NOT NULL,
    name                text        NOT NULL,
    kind                text        NOT NULL CHECK (kind IN ('syndic', 'gerance', 'mixte')),
    status              text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
    support             jsonb       NOT NULL DEFAULT '{}',
    branding            jsonb       NOT NULL DEFAULT '{}',
    password_min_length integer,
    credential_ttl_days integer     NOT NULL DEFAULT 60,
    -- One agency API key per tenant: a short public prefix to find it, the SHA-256 of the whole key
    -- (the key carries 256 random bits, so a fast hash is enough). Rotation overwrites both.
    api_key_prefix      text        NOT NULL,
    api_key_hash        bytea       NOT NULL,
    api_key_created_at  timestamptz NOT NULL DEFAULT now(),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    -- The gateway resolves every login page with this pair: one index lookup.
    CONSTRAINT tenants_codes_key UNIQUE (client_code, societe_code),
    CONSTRAINT tenants_api_key_prefix_key UNIQUE (api_key_prefix)
);

CREATE TABLE residences (
    id         uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id  uuid        NOT NULL REFERENCES tenants (id),
    ref        text        NOT NULL,
    name       text        NOT NULL,
    address    text        NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT residences_ref_key UNIQUE (tenant_id, ref)
);

CREATE TABLE lots (
    id           uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id    uuid        NOT NULL REFERENCES tenants (id),
    ref          text        NOT NULL,
    residence_id uuid        NOT NULL REFERENCES residences (id),
    number       text        NOT NULL,
    kind         text        NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT lots_ref_key UNIQUE (tenant_id, ref)
);

CREATE TABLE accounts (
    id           uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id    uuid        NOT NULL REFERENCES tenants (id),
    ref          text        NOT NULL,
    role         text        NOT NULL CHECK (role IN ('coproprietaire', 'bailleur', 'locataire')),
    display_name text        NOT NULL,
    email        text,
    council      boolean     NOT NULL DEFAULT false,
    status       text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'closed')),
    -- The account's lots, sorted, so that "did the lots change" is one array comparison in the
    -- bulk upsert. Lots are never deleted, so no foreign key is lost in practice.
    lot_ids      uuid[]      NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    closed_at    timestamptz,
    CONSTRAINT accounts_ref_key UNIQUE (tenant_id, ref)
);
-- Accounts touched when a lot or a residence changes.
CREATE INDEX accounts_lot_ids ON accounts USING gin (lot_ids);
