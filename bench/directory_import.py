"""Directory import benchmark: 50,000 accounts through the tenancy service vs a bare COPY.

    .venv/bin/python bench/directory_import.py [--accounts 50000] [--runs 3]

What runs (nothing faked): the tenancy app in its own process (this script with ``--serve``:
``create_app(settings, relay=False)`` under ``web.run_app``; the relay is left out so that the
publication of the previous run's 50,000 events does not compete for the 2 cores: its cost is
measured by the relay benchmark) on a fresh PostgreSQL database, called over HTTP with the
internal token the gateway would send.

Measured in the same run, per run (a new tenant each time), medians reported:
- reference: ``COPY`` (asyncpg ``copy_records_to_table``) of the same 50,000 account rows, with
  their lot ids, into a table shaped like ``accounts`` (same indexes);
- ``PUT /api/v1/directory`` (JSON) creating the 50,000 accounts (validation, cross-checks, upsert,
  50,000 ``tenancy.account_upserted`` events in the outbox), then the same document again
  (all ``unchanged``);
- ``PUT /api/v1/directory/accounts`` (CSV, streamed) creating them in another tenant, then again;
- the service's RSS: before, peak during each import (VmHWM, reset through /proc/PID/clear_refs),
  and after each run (flat memory = no growth from run to run).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

import aiohttp
import asyncpg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common.internal_auth import issue_token  # noqa: E402
from common.testing import create_test_database, drop_test_database, free_port, wait_until  # noqa: E402

ADMIN_DSN = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
SECRET = "bench-internal-secret-0123456789abcdef"
LOTS_PER_RESIDENCE = 100


def serve(port: int, dsn: str) -> None:
    """The tenancy app without its relay (see the module docstring)."""
    from aiohttp import web

    from common.logging import configure_logging
    from common.settings import load_settings
    from services.tenancy.app import create_app
    from services.tenancy.settings import TenancySettings

    settings = load_settings(TenancySettings, database_url=dsn, port=port)
    configure_logging("bench-tenancy", level="WARNING", json=True)
    web.run_app(create_app(settings, relay=False), host="127.0.0.1", port=port, print=None, access_log=None)


def _headers(**claims) -> dict[str, str]:
    return {"Authorization": "Internal " + issue_token(SECRET, issuer="gateway", audience="tenancy",
                                                       ttl_seconds=600, **claims)}


def make_directory(n: int) -> tuple[dict, list[dict]]:
    """Residences and lots (one per account), and ``n`` accounts; every tenth one has a second lot."""
    residences = [{"ref": f"R{r}", "name": f"Résidence {r}", "address": f"{r} rue des Lilas, 75012 Paris"}
                  for r in range(n // LOTS_PER_RESIDENCE + 1)]
    lots = [{"ref": f"L{i}", "residence_ref": f"R{i // LOTS_PER_RESIDENCE}", "number": str(i), "kind": "appartement"}
            for i in range(n)]
    roles = ("coproprietaire", "bailleur", "locataire")
    accounts = [{"ref": f"C{i:06d}", "role": roles[i % 3], "display_name": f"M. Prénom{i} Nom{i}",
                 "email": f"personne{i}@example.org" if i % 4 else None,
                 "lot_refs": [f"L{i}"] + ([f"L{(i + 1) % n}"] if i % 10 == 0 else []),
                 "council": i % 3 == 0 and i % 7 == 0}
                for i in range(n)]
    return {"residences": residences, "lots": lots}, accounts


def to_csv(accounts: list[dict]) -> bytes:
    lines = ["ref;role;display_name;email;lot_refs;council"]
    lines += [f"{a['ref']};{a['role']};{a['display_name']};{a['email'] or ''};{','.join(a['lot_refs'])};"
              f"{1 if a['council'] else 0}" for a in accounts]
    return ("\n".join(lines) + "\n").encode()


def rss_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def reset_peak(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")


async def copy_reference(dsn: str, tenant_id: uuid.UUID, accounts: list[dict]) -> float:
    """COPY the same account rows (with lot ids) into a fresh table shaped like ``accounts``."""
    conn = await asyncpg.connect(dsn)
    try:
        lot_ids = {r["ref"]: r["id"] for r in await conn.fetch("SELECT ref, id FROM lots WHERE tenant_id = $1",
                                                               tenant_id)}
        table = "copy_ref_" + uuid.uuid4().hex[:8]
        # The table name is generated above from hex digits only.
        await conn.execute(f"CREATE TABLE {table} (LIKE accounts INCLUDING ALL)")  # sql-identifier-checked
        records = [(uuid.uuid4(), tenant_id, a["ref"], a["role"], a["display_name"], a["email"], a["council"],
                    "active", sorted(lot_ids[r] for r in a["lot_refs"])) for a in accounts]
        started = time.perf_counter()
        await conn.copy_records_to_table(table, records=records, columns=(
            "id", "tenant_id", "ref", "role", "display_name", "email", "council", "status", "lot_ids"))
        elapsed = time.perf_counter() - started
        await conn.execute(f"DROP TABLE {table}")  # sql-identifier-checked
        return elapsed
    finally:
        await conn.close()


async def timed_put(session: aiohttp.ClientSession, url: str, body: bytes, headers: dict) -> tuple[float, dict]:
    started = time.perf_counter()
    async with session.put(url, data=body, headers=headers) as response:
        answer = await response.json()
        assert response.status == 200, answer
    return time.perf_counter() - started, answer


async def main(n: int, runs: int) -> None:
    dsn = await create_test_database(ADMIN_DSN, prefix="bench_directory")
    port = free_port()
    env = {**os.environ, "INTERNAL_AUTH_SECRET": SECRET}
    from common.db import migrate
    from services.tenancy.app import TRACKS

    await migrate(dsn, TRACKS)
    server = await asyncio.create_subprocess_exec(sys.executable, __file__, "--serve", str(port), dsn, env=env,
                                                  cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    results: dict[str, list[float]] = {k: [] for k in ("copy", "json_created", "json_unchanged", "csv_created",
                                                       "csv_unchanged")}
    peaks: dict[str, list[int]] = {"json": [], "csv": []}
    after_run: list[int] = []
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600)) as session:
            async def up() -> bool:
                try:
                    async with session.get(base + "/health/live") as response:
                        return response.status == 200
                except aiohttp.ClientError:
                    return False

            await wait_until(up, timeout=30, message="tenancy up")
            structure, accounts = make_directory(n)
            json_body = json.dumps({"accounts": accounts}, ensure_ascii=False).encode()
            csv_body = to_csv(accounts)
            structure_body = json.dumps(structure, ensure_ascii=False).encode()
            print(f"{n} accounts: JSON {len(json_body) / 1e6:.1f} MB, CSV {len(csv_body) / 1e6:.1f} MB; "
                  f"{len(structure['residences'])} residences, {len(structure['lots'])} lots")
            rss_start = rss_kib(server.pid, "VmRSS")

            async def new_tenant() -> str:
                body = {"client_code": "B" + uuid.uuid4().hex[:10], "societe_code": "01", "name": "Bench",
                        "kind": "syndic"}
                async with session.post(base + "/api/v1/tenants", json=body, headers=_headers(act="operator")) as r:
                    tenant_id = (await r.json())["id"]
                await timed_put(session, base + "/api/v1/directory", structure_body,
                                {**_headers(act="agency", tid=tenant_id), "Content-Type": "application/json"})
                return tenant_id

            for run in range(runs):
                tenant = await new_tenant()
                results["copy"].append(await copy_reference(dsn, uuid.UUID(tenant), accounts))
                headers = {**_headers(act="agency", tid=tenant), "Content-Type": "application/json"}
                reset_peak(server.pid)
                elapsed, answer = await timed_put(session, base + "/api/v1/directory", json_body, headers)
                assert answer["accounts"]["created"] == n, answer
                results["json_created"].append(elapsed)
                elapsed, answer = await timed_put(session, base + "/api/v1/directory", json_body, headers)
                assert answer["accounts"]["unchanged"] == n, answer
                results["json_unchanged"].append(elapsed)
                peaks["json"].append(rss_kib(server.pid, "VmHWM"))

                tenant = await new_tenant()
                headers = {**_headers(act="agency", tid=tenant), "Content-Type": "text/csv"}
                reset_peak(server.pid)
                elapsed, answer = await timed_put(session, base + "/api/v1/directory/accounts", csv_body, headers)
                assert answer["accounts"]["created"] == n, answer
                results["csv_created"].append(elapsed)
                elapsed, answer = await timed_put(session, base + "/api/v1/directory/accounts", csv_body, headers)
                assert answer["accounts"]["unchanged"] == n, answer
                results["csv_unchanged"].append(elapsed)
                peaks["csv"].append(rss_kib(server.pid, "VmHWM"))
                after_run.append(rss_kib(server.pid, "VmRSS"))
                print(f"run {run + 1}: " + ", ".join(f"{k} {v[-1]:.3f}s" for k, v in results.items()))
    finally:
        server.terminate()
        try:
            await asyncio.wait_for(server.wait(), 30)
        except TimeoutError:
            server.kill()
        await drop_test_database(dsn)

    med = {k: statistics.median(v) for k, v in results.items()}
    print(f"\nmedians over {runs} runs (seconds) and ratio to the COPY reference:")
    for key, value in med.items():
        print(f"  {key:15s} {value:7.3f}s  {value / med['copy']:5.1f}x")
    print(f"service RSS: start {rss_start / 1024:.0f} MB; peak during JSON imports "
          f"{[round(p / 1024) for p in peaks['json']]} MB; during CSV imports {[round(p / 1024) for p in peaks['csv']]}"
          f" MB; after each run {[round(r / 1024) for r in after_run]} MB")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        serve(int(sys.argv[2]), sys.argv[3])
        sys.exit(0)
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()
    asyncio.run(main(options.accounts, options.runs))
