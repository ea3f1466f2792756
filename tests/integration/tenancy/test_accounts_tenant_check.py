"""accounts.tenant_id -> tenants is checked per statement (migration 0003) instead of by a foreign
key per row: the same rule, each violation a foreign_key_violation (23503)."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from tests.integration.tenancy.conftest import Tenancy

ACCOUNT = "INSERT INTO accounts (tenant_id, ref, role, display_name) VALUES ($1, $2, 'coproprietaire', 'X')"


async def test_an_account_of_an_unknown_tenant_is_refused_even_among_valid_ones(tenancy: Tenancy):
    tenant = uuid.UUID((await tenancy.onboard())["id"])
    conn = await asyncpg.connect(tenancy.dsn)
    try:
        await conn.execute(ACCOUNT, tenant, "C1")
        with pytest.raises(asyncpg.ForeignKeyViolationError):
            await conn.execute(ACCOUNT, uuid.uuid4(), "C2")
        with pytest.raises(asyncpg.ForeignKeyViolationError):
            await conn.execute("INSERT INTO accounts (tenant_id, ref, role, display_name)"
                               " SELECT unnest($1::uuid[]), unnest($2::text[]), 'locataire', 'Y'",
                               [tenant, uuid.uuid4(), tenant], ["C3", "C4", "C5"])
        assert await conn.fetchval("SELECT array_agg(ref ORDER BY ref) FROM accounts") == ["C1"]
        await conn.execute("INSERT INTO accounts (tenant_id, ref, role, display_name) SELECT $1, 'C9', 'bailleur', 'Z'"
                           " WHERE false", tenant)  # an insert of no row passes
    finally:
        await conn.close()


async def test_an_account_keeps_its_tenant_and_a_tenant_with_accounts_stays(tenancy: Tenancy):
    tenant = uuid.UUID((await tenancy.onboard())["id"])
    other = uuid.UUID((await tenancy.onboard())["id"])
    empty = uuid.UUID((await tenancy.onboard())["id"])
    conn = await asyncpg.connect(tenancy.dsn)
    try:
        await conn.execute(ACCOUNT, tenant, "C1")
        with pytest.raises(asyncpg.ForeignKeyViolationError):
            await conn.execute("UPDATE accounts SET tenant_id = $1 WHERE ref = 'C1'", other)
        await conn.execute("UPDATE accounts SET tenant_id = $1, display_name = 'W' WHERE ref = 'C1'", tenant)
        with pytest.raises(asyncpg.ForeignKeyViolationError):
            await conn.execute("DELETE FROM tenants WHERE id = $1", tenant)
        with pytest.raises(asyncpg.ForeignKeyViolationError):
            await conn.execute("UPDATE tenants SET id = $2 WHERE id = $1", tenant, uuid.uuid4())
        await conn.execute("UPDATE tenants SET name = 'Autre nom' WHERE id = $1", tenant)  # not the key: fine
        await conn.execute("DELETE FROM tenants WHERE id = $1", empty)  # no account: as the foreign key allowed
        assert await conn.fetchval("SELECT count(*) FROM tenants WHERE id = $1", tenant) == 1
    finally:
        await conn.close()


async def test_a_tenant_deleted_concurrently_waits_for_the_insert_then_is_refused(tenancy: Tenancy):
    tenant = uuid.UUID((await tenancy.onboard())["id"])
    writer, deleter = await asyncpg.connect(tenancy.dsn), await asyncpg.connect(tenancy.dsn)
    try:
        tx = writer.transaction()
        await tx.start()
        await writer.execute(ACCOUNT, tenant, "C1")  # holds the tenant row FOR KEY SHARE until commit
        delete = asyncio.create_task(deleter.execute("DELETE FROM tenants WHERE id = $1", tenant))
        await asyncio.sleep(0.3)
        assert not delete.done()  # blocked by the lock, as with the foreign key
        await tx.commit()
        with pytest.raises(asyncpg.ForeignKeyViolationError):
            await delete
    finally:
        await writer.close()
        await deleter.close()
