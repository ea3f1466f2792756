-- Proof of availability (issue 14; docs/legal-proofs.md): who could see each document when it was
-- published, and every access to it. Both tables are append-only AT THE DATABASE: a trigger
-- refuses UPDATE, DELETE and TRUNCATE whoever the role, so neither a bug nor a hurried operator
-- can rewrite the evidence. Documents themselves are never deleted (withdrawal is a date), and
-- their facts (hash, size, audience, publication time) can no longer change once written.

CREATE FUNCTION refuse_rewrite() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'append-only: % on % is refused', TG_OP, TG_TABLE_NAME USING ERRCODE = 'P0001';
END
$$;

-- The accounts in the audience at publication (a residence audience is expanded to the
-- coproprietaire or council accounts of that moment; later arrivals see the document too, but
-- they were not in the audience it was published to).
CREATE TABLE document_audience (
    document_id uuid NOT NULL REFERENCES documents (id),
    account_id  uuid NOT NULL,
    account_ref text NOT NULL,
    PRIMARY KEY (document_id, account_id)
);
CREATE INDEX document_audience_by_account ON document_audience (account_id);

-- Every view or download of a document by a person (success or not). account_id is the account
-- that granted the access (NULL when none did any more: a withdrawn document, a closed account).
CREATE TABLE document_access (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    document_id uuid        NOT NULL REFERENCES documents (id),
    tenant_id   uuid        NOT NULL,
    person_id   uuid        NOT NULL,
    account_id  uuid,
    at          timestamptz NOT NULL,
    kind        text        NOT NULL CHECK (kind IN ('view', 'download', 'archive')),
    success     boolean     NOT NULL
);
CREATE INDEX document_access_by_document ON document_access (document_id, at);
CREATE INDEX document_access_by_account ON document_access (account_id, at);
CREATE INDEX document_access_by_person ON document_access (person_id, document_id) WHERE success;

CREATE TRIGGER document_audience_append_only BEFORE UPDATE OR DELETE ON document_audience
    FOR EACH ROW EXECUTE FUNCTION refuse_rewrite();
CREATE TRIGGER document_audience_no_truncate BEFORE TRUNCATE ON document_audience
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_rewrite();
CREATE TRIGGER document_access_append_only BEFORE UPDATE OR DELETE ON document_access
    FOR EACH ROW EXECUTE FUNCTION refuse_rewrite();
CREATE TRIGGER document_access_no_truncate BEFORE TRUNCATE ON document_access
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_rewrite();

-- A document row is never deleted, and the only change allowed is its withdrawal (once).
CREATE FUNCTION guard_document_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.withdrawn_at IS NULL AND NEW.withdrawn_at IS NOT NULL
       AND (NEW.id, NEW.tenant_id, NEW.category, NEW.title, NEW.doc_date, NEW.year, NEW.audience_kind,
            NEW.audience_id, NEW.audience_key, NEW.size, NEW.sha256, NEW.crc32, NEW.content_type, NEW.filename,
            NEW.published_at)
           IS NOT DISTINCT FROM
           (OLD.id, OLD.tenant_id, OLD.category, OLD.title, OLD.doc_date, OLD.year, OLD.audience_kind,
            OLD.audience_id, OLD.audience_key, OLD.size, OLD.sha256, OLD.crc32, OLD.content_type, OLD.filename,
            OLD.published_at) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'append-only: only the withdrawal of a document may be recorded' USING ERRCODE = 'P0001';
END
$$;
CREATE TRIGGER documents_only_withdrawal BEFORE UPDATE ON documents
    FOR EACH ROW EXECUTE FUNCTION guard_document_update();
CREATE TRIGGER documents_no_delete BEFORE DELETE ON documents
    FOR EACH ROW EXECUTE FUNCTION refuse_rewrite();
CREATE TRIGGER documents_no_truncate BEFORE TRUNCATE ON documents
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_rewrite();
