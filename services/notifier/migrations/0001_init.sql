-- One row per (event, recipient): what happened to that email. The row saying 'sent' is
-- written in the same transaction as the consumer's processed_events row (or, for document
-- digests, the deletion of the pending items), so a committed 'sent' means accepted by SMTP.
CREATE TABLE deliveries (
    event_id    uuid        NOT NULL,
    recipient   text        NOT NULL,               -- lower-cased email address
    event_type  text        NOT NULL,
    tenant_id   uuid,
    message_id  text        NOT NULL,
    status      text        NOT NULL CHECK (status IN ('sent', 'retrying', 'failed')),
    attempts    integer     NOT NULL DEFAULT 0,
    last_error  text,
    sent_at     timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, recipient)
);
-- Operators look for what is not delivered; sent rows are the vast majority.
CREATE INDEX deliveries_undelivered ON deliveries (updated_at) WHERE status <> 'sent';

-- Documents published for a person, waiting for the digest window to close. The consumer
-- inserts them in its transaction; the flusher sends one email per (person, tenant) and
-- deletes them in the transaction that records the delivery.
CREATE TABLE digest_items (
    event_id    uuid        NOT NULL,
    person_id   uuid        NOT NULL,
    tenant_id   uuid        NOT NULL,
    email       text        NOT NULL,
    document    jsonb       NOT NULL,               -- {document_id, title, category_label, date}
    created_at  timestamptz NOT NULL,
    due_at      timestamptz NOT NULL,               -- created_at + digest window
    attempts    integer     NOT NULL DEFAULT 0,
    retry_at    timestamptz,                        -- set after a temporary SMTP failure
    last_error  text,
    PRIMARY KEY (event_id, person_id)
);
CREATE INDEX digest_items_group ON digest_items (person_id, tenant_id, created_at);
CREATE INDEX digest_items_due ON digest_items (due_at);
