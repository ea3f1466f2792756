-- The payload is written once (by the producer's transaction) and read once (by the relay, which
-- publishes it as it came): it is never queried inside. json keeps the producer's text as it is
-- instead of parsing it into jsonb, and lz4 compresses a large payload (a directory batch is
-- ~300 KB) several times faster than the default pglz. Measured on the 50,000-account directory
-- import statement (upsert + 50 batch events), 5 rounds side by side: 893 ms (jsonb, pglz),
-- 808 ms (jsonb, lz4), 741 ms (json, lz4). docs/benchmarks.md, "Directory import".
ALTER TABLE outbox ALTER COLUMN payload TYPE json USING payload::json,
                   ALTER COLUMN payload SET COMPRESSION lz4;
