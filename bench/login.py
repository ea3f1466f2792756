"""Login benchmark: throughput and latency of ``POST /v1/login`` against the hash-bound limit.

    .venv/bin/python bench/login.py [--seconds 8] [--concurrency 8] [--persons 64]

What runs (nothing faked): a real identity process (this script with ``--serve``: the app of
``python -m services.identity``, without the broker, which is not on the login path) on a fresh
PostgreSQL database, with the production argon2id parameters (OWASP: 19456 KiB, t=2, p=1)
and its default hashing pool (one thread per core, bounded queue). Persons are inserted verified,
all with one argon2id hash made with those parameters.

Measured in the same run:
- reference: the time of one argon2id verification in this process, single-threaded (median of
  30), and the hash-bound limit = cores / that time (logins per second if hashing were all);
- login at one client: p50/p99 latency;
- login at ``--concurrency`` clients for ``--seconds``: throughput, p50/p99, ratio to the limit;
- a cheap call (session introspection) at one client, idle and during the login storm: p99 ratio;
- reference 2: bare verifications per second in a pool of ``cores`` threads (no HTTP, no database);
- a burst of 20x the pool's capacity at once: how many answered 429 (busy) instead of queueing.
The reference is measured before and after the load; the better (faster) one is kept.
The load generator shares the machine's cores with the server: read the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import aiohttp
import asyncpg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from argon2 import PasswordHasher, Type  # noqa: E402

from common.internal_auth import issue_token  # noqa: E402
from common.testing import create_test_database, drop_test_database, free_port, wait_until  # noqa: E402
from services.identity.settings import IdentitySettings  # noqa: E402

ADMIN_DSN = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
SECRET = "bench-internal-secret-0123456789abcdef"
PASSWORD = "Vue-sur-mer-42"


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def pool_reference(stored: str, settings: IdentitySettings, cores: int, seconds: float = 3.0) -> float:
    """Bare argon2id verifications per second in a pool of ``cores`` threads (no HTTP, no database)."""
    ph = PasswordHasher(time_cost=settings.argon2_time_cost, memory_cost=settings.argon2_memory_kib,
                        parallelism=settings.argon2_parallelism, hash_len=32, salt_len=16, type=Type.ID)
    deadline = time.perf_counter() + seconds
    counts = [0] * cores

    def loop(i: int) -> None:
        while time.perf_counter() < deadline:
            ph.verify(stored, PASSWORD)
            counts[i] += 1

    started = time.perf_counter()
    with ThreadPoolExecutor(cores) as pool:
        list(pool.map(loop, range(cores)))
    return sum(counts) / (time.perf_counter() - started)


def reference(settings: IdentitySettings) -> tuple[float, str]:
    ph = PasswordHasher(time_cost=settings.argon2_time_cost, memory_cost=settings.argon2_memory_kib,
                        parallelism=settings.argon2_parallelism, hash_len=32, salt_len=16, type=Type.ID)
    stored = ph.hash(PASSWORD)
    times = []
    for _ in range(30):
        started = time.perf_counter()
        ph.verify(stored, PASSWORD)
        times.append(time.perf_counter() - started)
    return statistics.median(times), stored


class Client:
    def __init__(self, base: str) -> None:
        self.base = base
        self._headers: dict[str, tuple[float, dict]] = {}

    def headers(self, ip: str) -> dict:
        entry = self._headers.get(ip)
        if entry is None or entry[0] < time.monotonic():
            token = issue_token(SECRET, issuer="gateway", audience="identity", tid=str(uuid.UUID(int=1)),
                                tcc="BENCH", tsc="01", ip=ip)
            entry = (time.monotonic() + 30, {"Authorization": f"Internal {token}"})
            self._headers[ip] = entry
        return entry[1]

    async def login(self, session: aiohttp.ClientSession, email: str, ip: str) -> tuple[int, float, dict]:
        started = time.perf_counter()
        async with session.post(f"{self.base}/v1/login", json={"email": email, "password": PASSWORD},
                                headers=self.headers(ip)) as response:
            body = await response.json()
            return response.status, time.perf_counter() - started, body

    async def introspect(self, session: aiohttp.ClientSession, session_id: str) -> float:
        started = time.perf_counter()
        async with session.post(f"{self.base}/v1/sessions/introspect", json={"session_id": session_id},
                                headers=self.headers("192.0.2.250")) as response:
            assert response.status == 200, await response.text()
            await response.read()
        return time.perf_counter() - started


async def run(args) -> None:
    settings = IdentitySettings()  # production argon2 defaults
    cores = os.cpu_count() or 1
    ref_before, stored = reference(settings)
    pool_before = pool_reference(stored, settings, cores)
    dsn = await create_test_database(ADMIN_DSN, prefix="bench_login")
    port = free_port()
    env = {**os.environ, "IDENTITY_DATABASE_URL": dsn, "IDENTITY_PORT": str(port), "IDENTITY_TENANCY_URL": "",
           "INTERNAL_AUTH_SECRET": SECRET, "LOG_LEVEL": "WARNING", "ENVIRONMENT": "development",
           "EVENTS_EXCHANGE": f"bench.login.{uuid.uuid4().hex[:8]}"}
    log_file = open(Path(tempfile.gettempdir()) / f"bench-login-{port}.log", "wb")  # noqa: ASYNC230
    process = await asyncio.create_subprocess_exec(sys.executable, __file__, "--serve", cwd=ROOT,
                                                   env=env, stdout=log_file, stderr=log_file)
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
            async def ready():
                try:
                    async with session.get(f"{base}/health/ready") as response:
                        return response.status == 200
                except aiohttp.ClientError:
                    return False

            await wait_until(ready, timeout=30, message="identity ready")
            emails = [f"bench{i}.{uuid.uuid4().hex[:6]}@example.org" for i in range(args.persons)]
            conn = await asyncpg.connect(dsn)
            try:
                await conn.executemany(
                    "INSERT INTO persons (id, email, email_key, password_hash, email_verified_at, created_at)"
                    " VALUES ($1, $2, $2, $3, now(), now())",
                    [(uuid.uuid4(), e, stored) for e in emails])
            finally:
                await conn.close()
            client = Client(base)

            # Warm-up, and the session used by the "cheap call" probe.
            status, _, body = await client.login(session, emails[0], "192.0.2.1")
            assert status == 200, body
            probe_session = body["session_id"]

            single = []
            for i in range(40):
                status, elapsed, _ = await client.login(session, emails[i % len(emails)], "192.0.2.2")
                assert status == 200
                single.append(elapsed)
            idle_probe = [await client.introspect(session, probe_session) for _ in range(200)]

            # The storm: --concurrency clients logging in back to back.
            latencies: list[float] = []
            statuses: dict[int, int] = {}
            storm_probe: list[float] = []
            deadline = time.perf_counter() + args.seconds

            async def worker(n: int) -> None:
                i = n
                while time.perf_counter() < deadline:
                    status, elapsed, _ = await client.login(session, emails[i % len(emails)], f"198.51.100.{n}")
                    statuses[status] = statuses.get(status, 0) + 1
                    if status == 200:
                        latencies.append(elapsed)
                    i += args.concurrency

            async def prober() -> None:
                while time.perf_counter() < deadline:
                    storm_probe.append(await client.introspect(session, probe_session))
                    await asyncio.sleep(0.05)  # a page view every 50 ms alongside the storm

            started = time.perf_counter()
            await asyncio.gather(*(worker(n) for n in range(args.concurrency)), prober())
            duration = time.perf_counter() - started

            # Beyond saturation: a burst far above the pool's capacity answers 429 at once.
            burst = await asyncio.gather(*(client.login(session, emails[i % len(emails)], f"203.0.113.{i % 250}")
                                           for i in range(20 * cores * (1 + settings.hash_queue_per_worker) // 4)))
            burst_statuses: dict[int, int] = {}
            for status, _, _ in burst:
                burst_statuses[status] = burst_statuses.get(status, 0) + 1
            busy_latency = [e for s, e, _ in burst if s == 429]
    finally:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 15)
        except TimeoutError:
            process.kill()
        log_file.close()
        await drop_test_database(dsn)
    ref_after, _ = reference(settings)
    pool_after = pool_reference(stored, settings, cores)
    pool_limit = max(pool_before, pool_after)
    verify_s = min(ref_before, ref_after)
    limit = cores / verify_s
    ok = statuses.get(200, 0)
    throughput = ok / duration
    print(f"argon2id m={settings.argon2_memory_kib} t={settings.argon2_time_cost} p={settings.argon2_parallelism};"
          f" cores={cores}")
    print(f"reference: one verify {verify_s * 1000:.1f} ms (before {ref_before * 1000:.1f}, after"
          f" {ref_after * 1000:.1f}) -> hash-bound limit {limit:.1f} logins/s")
    print(f"reference: bare pool of {cores} threads verifying: {pool_limit:.1f} verifies/s (before {pool_before:.1f},"
          f" after {pool_after:.1f}) = {pool_limit / limit:.2f} of cores/one-verify")
    print(f"login, 1 client: p50 {_pct(single, .5) * 1000:.1f} ms, p99 {_pct(single, .99) * 1000:.1f} ms"
          f" ({_pct(single, .5) / verify_s:.2f}x one verify)")
    print(f"login, {args.concurrency} clients, {duration:.1f} s: {throughput:.1f} logins/s = {throughput / limit:.2f}"
          f" of the limit ({throughput / pool_limit:.2f} of the bare pool);"
          f" p50 {_pct(latencies, .5) * 1000:.1f} ms, p99 {_pct(latencies, .99) * 1000:.1f} ms;"
          f" statuses {statuses}")
    print(f"introspection p99: idle {_pct(idle_probe, .99) * 1000:.2f} ms, during the storm"
          f" {_pct(storm_probe, .99) * 1000:.2f} ms ({_pct(storm_probe, .99) / _pct(idle_probe, .99):.2f}x);"
          f" p50 idle {_pct(idle_probe, .5) * 1000:.2f} ms, storm {_pct(storm_probe, .5) * 1000:.2f} ms")
    print(f"burst of {len(burst)} at once: statuses {burst_statuses}"
          + (f"; 429 answered in p50 {_pct(busy_latency, .5) * 1000:.1f} ms" if busy_latency else ""))


def serve() -> None:
    """The identity process under test: the real app, settings from the environment, without the
    broker (the relay and the consumer are not on the login path; the bench must not depend on them)."""
    from aiohttp import web

    from common.db import migrate
    from common.settings import load_settings
    from services.identity.__main__ import TRACKS
    from services.identity.app import create_app

    settings = load_settings(IdentitySettings)
    asyncio.run(migrate(settings.database_url, TRACKS))
    web.run_app(create_app(settings, with_broker=False), host="127.0.0.1", port=settings.port, access_log=None,
                print=None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--persons", type=int, default=64)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve()
    else:
        asyncio.run(run(args))


if __name__ == "__main__":
    main()
