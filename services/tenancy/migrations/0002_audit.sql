-- What the agency (its API key, or a staff member in the console) and the operator changed of the
-- tenant itself: help contact, branding, API keys. Append-only; identity keeps the audit of access.
CREATE TABLE audit (
    id         bigserial   PRIMARY KEY,
    at         timestamptz NOT NULL DEFAULT now(),
    tenant_id  uuid        NOT NULL REFERENCES tenants (id),
    actor      text        NOT NULL CHECK (actor IN ('operator', 'agency')),
    staff_id   uuid,
    kind       text        NOT NULL,
    detail     jsonb       NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_tenant ON audit (tenant_id, id DESC);
