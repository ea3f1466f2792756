-- The register of consents to electronic notification (issue 14; docs/legal-proofs.md): loi n° 65-557
-- art. 42-1, décret n° 67-223 art. 64-1 to 64-4 (notifications and mises en demeure) and art. 35-2
-- (appels de fonds). One row per change (given or revoked), never rewritten: a trigger refuses
-- UPDATE, DELETE and TRUNCATE. The state at a date is the latest row at or before it.
CREATE TABLE consent_changes (
    id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id       uuid        NOT NULL,
    account_id      uuid        NOT NULL,
    account_ref     text        NOT NULL,
    person_id       uuid        NOT NULL,
    -- The residences and lots the account covered at that moment, as shown to the person.
    residence_ids   uuid[]      NOT NULL DEFAULT '{}',
    lots            jsonb       NOT NULL DEFAULT '[]',
    kind            text        NOT NULL CHECK (kind IN ('notifications', 'mises_en_demeure', 'appels_de_fonds')),
    given           boolean     NOT NULL,
    at              timestamptz NOT NULL,
    -- The wording shown, verbatim, and its version.
    wording         text        NOT NULL,
    wording_version text        NOT NULL,
    means           text        NOT NULL CHECK (means IN ('web')),
    ip              text
);
CREATE INDEX consent_changes_by_account ON consent_changes (account_id, kind, at DESC, id DESC);
CREATE INDEX consent_changes_by_tenant ON consent_changes (tenant_id, at);
CREATE INDEX consent_changes_by_residence ON consent_changes USING gin (residence_ids);

CREATE TRIGGER consent_changes_append_only BEFORE UPDATE OR DELETE ON consent_changes
    FOR EACH ROW EXECUTE FUNCTION refuse_rewrite();
CREATE TRIGGER consent_changes_no_truncate BEFORE TRUNCATE ON consent_changes
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_rewrite();
