"""PostgreSQL: database creation, connection pool lifetime and the migration runner.

Migrations are numbered ``.sql`` files (``0001_init.sql``...) grouped in *tracks*: the shared
``common`` track (outbox, processed events) and one per service. Each file runs in its own
transaction, under a PostgreSQL advisory lock so that replicas starting together apply each
file exactly once. An applied file whose content changed is an error, never silently skipped.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from aiohttp import web

from common.logging import get_logger

__all__ = [
    "COMMON_MIGRATIONS",
    "POOL",
    "MigrationError",
    "Track",
    "create_pool",
    "ensure_database",
    "install_pool",
    "migrate",
    "pool_context",
    "pool_ready_check",
]

log = get_logger(__name__)

COMMON_MIGRATIONS = Path(__file__).parent / "migrations"
_MIGRATION_LOCK_ID = 0x6D6F6E63  # "monc": one lock id for all migration runners
_FILE_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class MigrationError(RuntimeError):
    """A migration file is malformed, failed, or was changed after being applied."""


@dataclass(frozen=True)
class Track:
    """A named sequence of migration files in one directory."""

    name: str
    directory: Path


def _with_database(dsn: str, database: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path="/" + database))


def database_name(dsn: str) -> str:
    return urlsplit(dsn).path.lstrip("/")


async def ensure_database(dsn: str) -> None:
    """Create the database named in ``dsn`` if it does not exist (idempotent, race-safe)."""
    name = database_name(dsn)
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
        raise MigrationError(f"refusing to create database with unusual name {name!r}")
    admin = await asyncpg.connect(_with_database(dsn, "postgres"))
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            try:
                # Identifiers cannot be parameters; the name was checked against a strict pattern above.
                await admin.execute(f'CREATE DATABASE "{name}"')  # sql-identifier-checked
                log.info("database.created", database=name)
            except (asyncpg.DuplicateDatabaseError, asyncpg.UniqueViolationError):
                pass  # another replica created it between our check and our CREATE
    finally:
        await admin.close()


async def keep_session(_conn: asyncpg.Connection) -> None:
    """Release a pooled connection without asyncpg's reset query (one round trip per use saved).

    asyncpg still rolls back a transaction left open before calling this. The default reset would
    also drop LISTENs, session advisory locks, cursors and SET values: no pooled connection takes
    any (the relay LISTENs and the migrations lock on connections of their own; SET LOCAL,
    ``pg_advisory_xact_lock`` and ``ON COMMIT DROP`` tables end with their transaction).
    """


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 10, warm: Sequence[str] = (),
                      reset=keep_session, **kwargs) -> asyncpg.Pool:
    """An asyncpg pool whose connections decode json/jsonb as Python objects.

    ``warm``: statements prepared on every new connection, so that the first request served by it
    does not pay asyncpg's type introspection (5-15 ms for array columns) in the middle of a burst.
    """
    async def init(conn: asyncpg.Connection) -> None:
        await _init_connection(conn)
        for statement in warm:
            try:
                await conn.prepare(statement)
            except asyncpg.PostgresError as exc:  # an optimisation only: never a reason to refuse a connection
                log.warning("db.warm_failed", error=type(exc).__name__)

    return await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size, init=init, reset=reset, **kwargs)


def _json_dumps(value) -> str:
    return json.dumps(value, default=str, ensure_ascii=False)


async def _init_connection(conn: asyncpg.Connection) -> None:
    """json/jsonb columns read and written as Python objects (uuids and dates as strings)."""
    for kind in ("json", "jsonb"):
        await conn.set_type_codec(kind, encoder=_json_dumps, decoder=json.loads, schema="pg_catalog")


def pool_context(key: web.AppKey, dsn_of: Callable[[web.Application], str], **pool_kwargs):
    """A cleanup context opening a pool stored under ``key`` and closing it on shutdown."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        pool = await create_pool(dsn_of(app), **pool_kwargs)
        app[key] = pool
        yield
        await pool.close()

    return ctx


_CREATE_VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    track      text        NOT NULL,
    version    integer     NOT NULL,
    name       text        NOT NULL,
    checksum   text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (track, version)
)
"""


def _files(track: Track) -> list[tuple[int, Path]]:
    found = []
    for path in sorted(track.directory.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if not match:
            raise MigrationError(f"{track.name}: migration file {path.name} is not named NNNN_words.sql")
        found.append((int(match.group(1)), path))
    versions = [v for v, _ in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"{track.name}: two migration files share a number")
    return found


async def migrate(dsn: str, tracks: Sequence[Track], *, create: bool = True) -> list[str]:
    """Apply every pending migration of ``tracks`` in order; return the names applied."""
    if create:
        await ensure_database(dsn)
    conn = await asyncpg.connect(dsn)
    applied_now: list[str] = []
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK_ID)
        try:
            await conn.execute(_CREATE_VERSION_TABLE)
            for track in tracks:
                applied = {
                    r["version"]: r["checksum"]
                    for r in await conn.fetch("SELECT version, checksum FROM schema_migrations WHERE track = $1",
                                              track.name)
                }
                for version, path in _files(track):
                    sql = path.read_text(encoding="utf-8")
                    checksum = hashlib.sha256(sql.encode()).hexdigest()
                    if version in applied:
                        if applied[version] != checksum:
                            raise MigrationError(
                                f"{track.name}/{path.name} was changed after being applied; add a new migration instead"
                            )
                        continue
                    try:
                        async with conn.transaction():
                            await conn.execute(sql)
                            await conn.execute(
                                "INSERT INTO schema_migrations (track, version, name, checksum)"
                                " VALUES ($1, $2, $3, $4)",
                                track.name, version, path.name, checksum,
                            )
                    except asyncpg.PostgresError as exc:
                        raise MigrationError(f"{track.name}/{path.name} failed: {exc}") from exc
                    applied_now.append(f"{track.name}/{path.name}")
                    log.info("migration.applied", track=track.name, file=path.name)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK_ID)
    finally:
        await conn.close()
    return applied_now


def pool_ready_check(key: web.AppKey):
    """A readiness check that the pool under ``key`` can run a query."""

    async def check(app: web.Application) -> None:
        async with app[key].acquire(timeout=1.5) as conn:
            await conn.fetchval("SELECT 1")

    return check


POOL = web.AppKey("pool", asyncpg.Pool)


def install_pool(app: web.Application, dsn: str, **pool_kwargs) -> None:
    """Give ``app`` its database pool (``app[POOL]``) and a ``database`` readiness check."""
    from common.http import READY_CHECKS

    app.cleanup_ctx.append(pool_context(POOL, lambda _app: dsn, **pool_kwargs))
    app[READY_CHECKS]["database"] = pool_ready_check(POOL)
