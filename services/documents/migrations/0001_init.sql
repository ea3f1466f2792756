-- Documents service schema: the directory projection (fed by tenancy events) and document metadata.

-- Residences of every tenant, so that an agency's residence_ref resolves to an id.
CREATE TABLE residences (
    id         uuid        PRIMARY KEY,
    tenant_id  uuid        NOT NULL,
    ref        text        NOT NULL,
    name       text        NOT NULL DEFAULT '',
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX residences_by_ref ON residences (tenant_id, ref);

-- Accounts as tenancy last described them. event_at is the occurred_at of the last event
-- applied: an older event arriving late (retries) never overwrites a newer state.
CREATE TABLE accounts (
    id            uuid        PRIMARY KEY,
    tenant_id     uuid        NOT NULL,
    ref           text        NOT NULL,
    role          text        NOT NULL,
    council       boolean     NOT NULL DEFAULT false,
    status        text        NOT NULL,
    residence_ids uuid[]      NOT NULL DEFAULT '{}',
    event_at      timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX accounts_by_ref ON accounts (tenant_id, ref);
-- Resolving a residence audience to account ids (documents.document_published).
CREATE INDEX accounts_by_residence ON accounts USING gin (residence_ids);

CREATE TABLE documents (
    id            uuid        PRIMARY KEY,
    tenant_id     uuid        NOT NULL,
    category      text        NOT NULL,
    title         text        NOT NULL,
    doc_date      date        NOT NULL,
    year          integer     NOT NULL,
    audience_kind text        NOT NULL CHECK (audience_kind IN ('account', 'residence_all', 'residence_council')),
    audience_id   uuid        NOT NULL,
    -- 'a:<account id>', 'r:<residence id>' (all co-owners) or 'c:<residence id>' (council):
    -- a person's visible documents are exactly those whose key is in their set of keys.
    audience_key  text        NOT NULL,
    size          bigint      NOT NULL,
    sha256        text        NOT NULL,
    crc32         bigint      NOT NULL,
    content_type  text        NOT NULL,
    filename      text        NOT NULL,
    published_at  timestamptz NOT NULL,
    withdrawn_at  timestamptz
);
-- Listing: one index range per audience key, already in the page order (ARCHITECTURE.md 9:
-- the sort keys right after the equality column, keyset pagination, no count per page).
-- The year filter is a range on doc_date, so it uses the same index.
CREATE INDEX documents_listing ON documents (audience_key, doc_date DESC, id DESC) WHERE withdrawn_at IS NULL;
CREATE INDEX documents_listing_category ON documents (audience_key, category, doc_date DESC, id DESC)
    WHERE withdrawn_at IS NULL;
-- Idempotent upload: the same content, category and audience is one live document.
CREATE UNIQUE INDEX documents_same_content ON documents (audience_key, category, sha256) WHERE withdrawn_at IS NULL;
CREATE INDEX documents_by_tenant ON documents (tenant_id, published_at DESC);

-- Facet counts per audience key, kept in the upload/withdraw transaction: the filters' counts
-- for a person are a sum over their few keys instead of a scan of every visible document.
CREATE TABLE document_counts (
    audience_key text    NOT NULL,
    category     text    NOT NULL,
    year         integer NOT NULL,
    n            integer NOT NULL,
    PRIMARY KEY (audience_key, category, year)
);
