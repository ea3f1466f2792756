-- Transactional outbox: events are written here in the business transaction and published
-- by the relay (common/relay.py). See docs/events.md.
CREATE TABLE outbox (
    id             uuid        PRIMARY KEY,
    type           text        NOT NULL,
    version        integer     NOT NULL DEFAULT 1,
    occurred_at    timestamptz NOT NULL,
    tenant_id      uuid,
    correlation_id text,
    payload        jsonb       NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    attempts       integer     NOT NULL DEFAULT 0,
    last_error     text,
    published_at   timestamptz
);
-- The relay only ever scans unpublished rows, oldest first.
CREATE INDEX outbox_pending ON outbox (created_at) WHERE published_at IS NULL;
CREATE INDEX outbox_published ON outbox (published_at) WHERE published_at IS NOT NULL;

-- Wake the relay as soon as a transaction that wrote an event commits.
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('outbox', '');
    RETURN NULL;
END $$;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();

-- Consumers record every event id they handled, in the handler's transaction (idempotency).
CREATE TABLE processed_events (
    consumer     text        NOT NULL,
    event_id     uuid        NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
