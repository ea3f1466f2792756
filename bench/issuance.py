"""Bulk issuance of provisional credentials: how long ``POST /internal/provisional-credentials``
takes for N accounts, and what another agency's person gets from ``POST /v1/login`` meanwhile.

    LOG_LEVEL=WARNING .venv/bin/python bench/issuance.py [--accounts 1000,5000]

What runs: the identity app (``create_app`` without the broker, which is not on either path) in
this process, on a fresh PostgreSQL database, with the production argon2id parameters and the
default hashing pool. One verified person (argon2id hash of those parameters) logs in, once
every 100 ms, from this process, for as long as each issuance runs: the issuance must neither
make them wait behind it nor answer 429 (busy). One run per size: read it beside a run of the
other code made in the same minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

import aiohttp
import asyncpg
from aiohttp import web

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from argon2 import PasswordHasher, Type  # noqa: E402

from common.db import migrate  # noqa: E402
from common.internal_auth import issue_token  # noqa: E402
from common.testing import create_test_database, drop_test_database, free_port  # noqa: E402
from services.identity.__main__ import TRACKS  # noqa: E402
from services.identity.app import create_app  # noqa: E402
from services.identity.settings import IdentitySettings  # noqa: E402

ADMIN_DSN = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
SECRET = "bench-internal-secret-0123456789abcdef"
PASSWORD = "Vue-sur-mer-42"
LOGIN_EVERY = 0.1  # seconds between the starts of two logins


def headers(tenant_id: str, ip: str) -> dict:
    token = issue_token(SECRET, issuer="gateway", audience="identity", tid=tenant_id, tcc="CBENCH", tsc="SBENCH",
                        ip=ip)
    return {"Authorization": f"Internal {token}"}


async def add_person(dsn: str, settings: IdentitySettings) -> str:
    """A verified person whose password hash has the production parameters."""
    ph = PasswordHasher(time_cost=settings.argon2_time_cost, memory_cost=settings.argon2_memory_kib,
                        parallelism=settings.argon2_parallelism, hash_len=32, salt_len=16, type=Type.ID)
    email = f"bench.{uuid.uuid4().hex[:8]}@example.org"
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("INSERT INTO persons (id, email, email_key, password_hash, email_verified_at, created_at)"
                           " VALUES ($1, $2, $2, $3, now(), now())", uuid.uuid4(), email, ph.hash(PASSWORD))
    finally:
        await conn.close()
    return email


async def issue_while_logging_in(session: aiohttp.ClientSession, base: str, *, accounts: int, email: str) -> dict:
    """Issue ``accounts`` credentials; meanwhile log ``email`` in back to back (another tenant, another IP)."""
    tenant_id = str(uuid.uuid4())
    body = {"tenant_id": tenant_id, "accounts": [{"account_id": str(uuid.uuid4()), "role": "locataire"}
                                                 for _ in range(accounts)]}

    async def issue() -> tuple[int, float]:
        started = time.perf_counter()
        async with session.post(f"{base}/internal/provisional-credentials", json=body,
                                headers=headers(tenant_id, "198.51.100.1")) as response:
            await response.read()
            return response.status, time.perf_counter() - started

    task = asyncio.create_task(issue())
    statuses: collections.Counter = collections.Counter()
    latencies: list[float] = []
    while not task.done():
        started = time.perf_counter()
        async with session.post(f"{base}/v1/login", json={"email": email, "password": PASSWORD},
                                headers=headers(str(uuid.uuid4()), "198.51.100.2")) as response:
            await response.read()
            statuses[response.status] += 1
        latencies.append(time.perf_counter() - started)
        # Paced: a person, not a loop of instant 429s that would take the issuance's CPU.
        await asyncio.sleep(max(0.0, LOGIN_EVERY - latencies[-1]))
    status, seconds = await task
    return {"accounts": accounts, "status": status, "seconds": round(seconds, 2), "logins": dict(statuses),
            "login_p50_ms": round(1000 * statistics.median(latencies), 1) if latencies else None,
            "login_max_ms": round(1000 * max(latencies), 1) if latencies else None}


async def run(sizes: list[int]) -> None:
    dsn = await create_test_database(ADMIN_DSN, prefix="bench_issuance")
    runner = None
    try:
        await migrate(dsn, TRACKS)
        settings = IdentitySettings(database_url=dsn, tenancy_url=None, environment="test",
                                    internal_auth_secret=SECRET)  # production argon2id parameters
        email = await add_person(dsn, settings)
        runner = web.AppRunner(create_app(settings, with_broker=False), access_log=None)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        base = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600)) as session:
            for size in sizes:
                print(await issue_while_logging_in(session, base, accounts=size, email=email), flush=True)
    finally:
        if runner is not None:
            await runner.cleanup()
        await drop_test_database(dsn)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", default="1000,5000", help="comma-separated issuance sizes")
    args = parser.parse_args()
    asyncio.run(run([int(n) for n in args.accounts.split(",")]))


if __name__ == "__main__":
    main()
