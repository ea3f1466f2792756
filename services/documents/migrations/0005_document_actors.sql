-- Who in the agency's console published or withdrew a document (the staff member's id, from the
-- internal token's sid; NULL when the agency's own software did it with its API key). The guard of
-- 0003 is widened so that the publisher can never be rewritten, and the withdrawer is set only
-- together with the withdrawal.
ALTER TABLE documents ADD COLUMN published_by_staff uuid, ADD COLUMN withdrawn_by_staff uuid;

CREATE OR REPLACE FUNCTION guard_document_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.withdrawn_at IS NULL AND NEW.withdrawn_at IS NOT NULL AND OLD.withdrawn_by_staff IS NULL
       AND (NEW.id, NEW.tenant_id, NEW.category, NEW.title, NEW.doc_date, NEW.year, NEW.audience_kind,
            NEW.audience_id, NEW.audience_key, NEW.size, NEW.sha256, NEW.crc32, NEW.content_type, NEW.filename,
            NEW.published_at, NEW.published_by_staff)
           IS NOT DISTINCT FROM
           (OLD.id, OLD.tenant_id, OLD.category, OLD.title, OLD.doc_date, OLD.year, OLD.audience_kind,
            OLD.audience_id, OLD.audience_key, OLD.size, OLD.sha256, OLD.crc32, OLD.content_type, OLD.filename,
            OLD.published_at, OLD.published_by_staff) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'append-only: only the withdrawal of a document may be recorded' USING ERRCODE = 'P0001';
END
$$;
