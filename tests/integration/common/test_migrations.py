"""The migration runner against the real PostgreSQL."""

import asyncio

import asyncpg
import pytest

from common.db import MigrationError, Track, migrate


def write(directory, name, sql):
    (directory / name).write_text(sql, encoding="utf-8")


async def test_two_concurrent_runners_apply_each_file_once(fresh_database, tmp_path):
    # A migration that fails if run twice: the second CREATE TABLE would raise.
    write(tmp_path, "0001_people.sql", "CREATE TABLE people (id int PRIMARY KEY); SELECT pg_sleep(0.3);")
    write(tmp_path, "0002_counter.sql", "CREATE TABLE counter (n int); INSERT INTO counter VALUES (1);")
    track = [Track("demo", tmp_path)]
    first, second = await asyncio.gather(migrate(fresh_database, track), migrate(fresh_database, track))
    assert sorted(first + second) == ["demo/0001_people.sql", "demo/0002_counter.sql"]
    conn = await asyncpg.connect(fresh_database)
    try:
        assert await conn.fetchval("SELECT count(*) FROM counter") == 1
        assert await conn.fetchval("SELECT count(*) FROM schema_migrations WHERE track = 'demo'") == 2
    finally:
        await conn.close()
    assert await migrate(fresh_database, track) == []  # nothing left to do


async def test_failing_migration_leaves_no_partial_state(fresh_database, tmp_path):
    write(tmp_path, "0001_ok.sql", "CREATE TABLE ok (id int);")
    write(tmp_path, "0002_broken.sql", "CREATE TABLE half (id int); INSERT INTO missing_table VALUES (1);")
    with pytest.raises(MigrationError, match="0002_broken.sql failed"):
        await migrate(fresh_database, [Track("demo", tmp_path)])
    conn = await asyncpg.connect(fresh_database)
    try:
        assert await conn.fetchval("SELECT to_regclass('ok') IS NOT NULL")
        assert await conn.fetchval("SELECT to_regclass('half') IS NULL")  # rolled back with its file
        assert await conn.fetchval("SELECT array_agg(version) FROM schema_migrations") == [1]
    finally:
        await conn.close()
    # Fixing the file lets the next start apply it.
    write(tmp_path, "0002_broken.sql", "CREATE TABLE half (id int);")
    assert await migrate(fresh_database, [Track("demo", tmp_path)]) == ["demo/0002_broken.sql"]


async def test_changed_applied_file_is_an_error(fresh_database, tmp_path):
    write(tmp_path, "0001_a.sql", "CREATE TABLE a (id int);")
    await migrate(fresh_database, [Track("demo", tmp_path)])
    write(tmp_path, "0001_a.sql", "CREATE TABLE a (id bigint);")
    with pytest.raises(MigrationError, match="was changed after being applied"):
        await migrate(fresh_database, [Track("demo", tmp_path)])


async def test_badly_named_file_is_refused(fresh_database, tmp_path):
    write(tmp_path, "init.sql", "SELECT 1;")
    with pytest.raises(MigrationError, match="not named NNNN_words.sql"):
        await migrate(fresh_database, [Track("demo", tmp_path)])


async def test_missing_database_is_created(database_url, tmp_path):
    from common.testing import drop_test_database

    dsn = database_url.rsplit("/", 1)[0] + "/t_created_by_runner_" + tmp_path.name[-8:].lower().replace("-", "_")
    write(tmp_path, "0001_a.sql", "CREATE TABLE a (id int);")
    try:
        assert await migrate(dsn, [Track("demo", tmp_path)]) == ["demo/0001_a.sql"]
    finally:
        await drop_test_database(dsn)
