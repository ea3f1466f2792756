-- An event the broker could not route (no queue bound yet) stays pending and is retried with
-- backoff: the relay skips it until next_attempt_at. See docs/events.md.
ALTER TABLE outbox ADD COLUMN next_attempt_at timestamptz;
