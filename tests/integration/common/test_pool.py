"""The services' database pool: release without the reset query, statements warmed per connection."""

from __future__ import annotations

from common.db import create_pool

ARRAYS = "SELECT array_agg(x) AS ids, array_agg(now()) AS ats FROM unnest($1::uuid[]) AS x"


async def test_a_transaction_left_open_is_rolled_back_on_release(fresh_database):
    pool = await create_pool(fresh_database, min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            await conn.execute("CREATE TABLE kept (n int)")
        async with pool.acquire() as conn:
            await conn.execute("BEGIN")
            await conn.execute("INSERT INTO kept VALUES (1)")
        async with pool.acquire() as conn:  # the same connection (max_size=1)
            assert not conn.is_in_transaction()
            assert await conn.fetchval("SELECT count(*) FROM kept") == 0
            # No reset query: a session setting survives (no pooled code may rely on session state).
            await conn.execute("SET application_name = 'kept'")
        async with pool.acquire() as conn:
            assert await conn.fetchval("SHOW application_name") == "kept"
    finally:
        await pool.close()


async def test_warmed_statements_need_no_type_lookup_on_first_use(fresh_database):
    for warm, lookups_expected in (((), True), ((ARRAYS,), False)):
        pool = await create_pool(fresh_database, min_size=1, max_size=1, warm=warm)
        try:
            async with pool.acquire() as conn:
                queries: list[str] = []
                conn.add_query_logger(lambda record, seen=queries: seen.append(record.query))
                await conn.fetchrow(ARRAYS, [])
                lookups = [q for q in queries if "typeinfo" in q]
                assert bool(lookups) is lookups_expected, queries
        finally:
            await pool.close()


async def test_a_statement_that_cannot_be_warmed_does_not_refuse_the_connection(fresh_database):
    pool = await create_pool(fresh_database, min_size=1, max_size=1, warm=("SELECT * FROM no_such_table",))
    try:
        assert await pool.fetchval("SELECT 1") == 1
    finally:
        await pool.close()
