"""Documents benchmark: listing with 1,000,000 documents, downloads, and memory on big files.

    .venv/bin/python bench/documents.py [--documents 1000000] [--accounts 10000] [--samples 2000]

What runs (nothing faked): a fresh PostgreSQL database migrated with the documents migrations and
filled with COPY (1,000,000 documents over 10,000 accounts in 20 tenants: one of 100,000 documents,
one of 10,000, the rest spread; half to one account, 40 % to a residence's co-owners, 10 % to its
council); the documents service in its own process (``python -m services.documents``, filesystem
storage) called over HTTP with the internal token the gateway sends; and, for the download
reference, aiohttp's ``web.FileResponse`` serving the same blob file from another process
(this script with ``--fileserver``).

Measured in the same run:
- listing for persons with 10 accounts (mixed tenants and roles), page 1 with facets, p50/p99:
  at the service function (``reading.list_documents``) next to a primary-key lookup of one
  document on the same pool, and over HTTP next to ``POST /v1/documents/{id}/link`` (a
  primary-key read through the same stack); the service's own latency histogram for p99;
- persons with 10 accounts in the 100,000-document tenant vs in the 10,000-document tenant;
- EXPLAIN (ANALYZE, BUFFERS) of the listing query for a big-tenant person;
- a 20 MB file downloaded at ``/files/<token>`` vs FileResponse (sequential, one connection);
- the service's RSS (VmHWM) while a 200 MB file is uploaded and downloaded.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import aiohttp
import asyncpg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common.db import create_pool, migrate  # noqa: E402
from common.internal_auth import issue_token  # noqa: E402
from common.testing import create_test_database, drop_test_database, free_port, wait_until  # noqa: E402
from services.documents import reading  # noqa: E402
from services.documents import repository as repo  # noqa: E402
from services.documents.app import TRACKS  # noqa: E402
from services.documents.categories import CATEGORIES  # noqa: E402
from services.documents.domain import Audience, AudienceKind  # noqa: E402
from services.documents.schemas import ListQuery  # noqa: E402

ADMIN_DSN = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
SECRET = "bench-internal-secret-0123456789abcdef"
ACCOUNTS_PER_RESIDENCE = 20
BY_AUDIENCE = {"ALL": [c for c in CATEGORIES.values() if c.audience == "ALL"],
               "CS": [c for c in CATEGORIES.values() if c.audience == "CS"]}
BY_ROLE = {role: [c for c in CATEGORIES.values() if c.audience == "ACCOUNT" and c.role == role]
           for role in ("coproprietaire", "bailleur", "locataire")}
FIRST_DAY = date(2016, 1, 1)
DAYS = (date(2026, 11, 27) - FIRST_DAY).days
EVENT_AT = datetime(2026, 1, 1, tzinfo=UTC)


def fileserver(port: int, path: str) -> None:
    """The reference: aiohttp's FileResponse serving one file."""
    from aiohttp import web

    async def handler(request):
        return web.FileResponse(path)

    app = web.Application()
    app.router.add_get("/file", handler)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


# --- data -------------------------------------------------------------------------------------

def plan_tenants(documents: int, accounts: int) -> list[dict]:
    """20 tenants: 100k documents, 10k documents, and 18 sharing the rest; accounts pro rata."""
    rest = documents - 110_000
    sizes = [100_000, 10_000] + [rest // 18 + (1 if i < rest % 18 else 0) for i in range(18)]
    shares = [max(ACCOUNTS_PER_RESIDENCE, accounts * size // documents) for size in sizes]
    for index in range(accounts - sum(shares)):  # the rounding remainder, one each to the spread tenants
        shares[2 + index % 18] += 1
    return [{"id": uuid.uuid4(), "documents": size, "accounts": share}
            for size, share in zip(sizes, shares, strict=True)]


async def load(dsn: str, tenants: list[dict], rng: random.Random) -> dict:
    conn = await asyncpg.connect(dsn)
    try:
        account_rows, residence_rows = [], []
        for tenant in tenants:
            residences = [uuid.UUID(int=rng.getrandbits(128)) for _ in range(max(1, tenant["accounts"]
                                                                                 // ACCOUNTS_PER_RESIDENCE))]
            tenant["residences"] = residences
            tenant["account_list"] = []
            for index, residence in enumerate(residences):
                residence_rows.append((residence, tenant["id"], f"R{index}", f"Résidence {index}"))
            for index in range(tenant["accounts"]):
                draw = rng.random()
                role = "coproprietaire" if draw < 0.7 else "bailleur" if draw < 0.85 else "locataire"
                council = role == "coproprietaire" and rng.random() < 0.1
                account = {"id": uuid.UUID(int=rng.getrandbits(128)), "tenant_id": tenant["id"], "role": role,
                           "council": council, "residence": residences[index % len(residences)], "ref": f"C{index}"}
                tenant["account_list"].append(account)
                account_rows.append((account["id"], tenant["id"], account["ref"], role, council, "active",
                                     [account["residence"]], EVENT_AT))
        await conn.copy_records_to_table("residences", records=residence_rows,
                                         columns=["id", "tenant_id", "ref", "name"])
        await conn.copy_records_to_table("accounts", records=account_rows,
                                         columns=["id", "tenant_id", "ref", "role", "council", "status",
                                                  "residence_ids", "event_at"])
        # Secondary indexes are built once after the load (the migration's own definitions).
        definitions = [r["indexdef"] for r in await conn.fetch(
            "SELECT indexdef FROM pg_indexes WHERE tablename = 'documents' AND indexname <> 'documents_pkey'")]
        names = [r["indexname"] for r in await conn.fetch(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'documents' AND indexname <> 'documents_pkey'")]
        for name in names:
            await conn.execute("DROP INDEX " + _identifier(name))  # sql-identifier-checked
        started = time.perf_counter()
        await conn.copy_to_table("documents", source=_document_csv(tenants, rng), format="csv",
                                 columns=["id", "tenant_id", "category", "title", "doc_date", "year",
                                          "audience_kind", "audience_id", "audience_key", "size", "sha256",
                                          "crc32", "content_type", "filename", "published_at"])
        copied = time.perf_counter() - started
        for definition in definitions:
            await conn.execute(definition)
        await conn.execute(FACETS_FROM_DOCUMENTS)
        await conn.execute("VACUUM ANALYZE documents")
        await conn.execute("VACUUM ANALYZE accounts")
        await conn.execute("VACUUM ANALYZE document_facets")
        total = time.perf_counter() - started
        return {"copy_seconds": copied, "load_seconds": total}
    finally:
        await conn.close()


# What the upload transactions maintain one document at a time, computed for the whole load.
FACETS_FROM_DOCUMENTS = """
WITH c AS (
    SELECT audience_key, jsonb_object_agg(category, n) AS categories FROM (
        SELECT audience_key, category, count(*) AS n FROM documents WHERE withdrawn_at IS NULL GROUP BY 1, 2) AS x
    GROUP BY audience_key),
y AS (
    SELECT audience_key, jsonb_object_agg(year::text, n) AS years FROM (
        SELECT audience_key, year, count(*) AS n FROM documents WHERE withdrawn_at IS NULL GROUP BY 1, 2) AS x
    GROUP BY audience_key)
INSERT INTO document_facets (audience_key, categories, years)
SELECT c.audience_key, c.categories, y.years FROM c JOIN y USING (audience_key)
"""


def _identifier(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise ValueError(name)
    return name


async def _document_csv(tenants: list[dict], rng: random.Random):
    batch = []
    for tenant in tenants:
        accounts, residences = tenant["account_list"], tenant["residences"]
        for index in range(tenant["documents"]):
            draw = rng.random()
            if draw < 0.5:
                account = rng.choice(accounts)
                category = rng.choice(BY_ROLE[account["role"]])
                audience = Audience(AudienceKind.ACCOUNT, account["id"])
            elif draw < 0.9:
                category = rng.choice(BY_AUDIENCE["ALL"])
                audience = Audience(AudienceKind.RESIDENCE_ALL, rng.choice(residences))
            else:
                category = rng.choice(BY_AUDIENCE["CS"])
                audience = Audience(AudienceKind.RESIDENCE_COUNCIL, rng.choice(residences))
            day = FIRST_DAY + timedelta(days=rng.randrange(DAYS))
            batch.append(f"{uuid.UUID(int=rng.getrandbits(128))},{tenant['id']},{category.code},"
                         f"{category.code} n°{index},{day.isoformat()},{day.year},{audience.kind.value},"
                         f"{audience.target_id},{audience.key},120000,{rng.getrandbits(256):064x},0,"
                         f"application/pdf,document.pdf,{day.isoformat()}T09:00:00+00:00\n")
            if len(batch) >= 20_000:
                yield "".join(batch).encode()
                batch = []
    if batch:
        yield "".join(batch).encode()


# --- measurement helpers ------------------------------------------------------------------------

def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(values: list[float]) -> dict:
    return {"p50": statistics.median(values) * 1000, "p99": percentile(values, 0.99) * 1000}


def person_token(accounts: list[dict]) -> str:
    claims = [{"tenant_id": str(a["tenant_id"]), "account_id": str(a["id"]), "role": a["role"]} for a in accounts]
    token = issue_token(SECRET, issuer="gateway", audience="documents", pid=str(uuid.uuid4()), acc=claims,
                        ttl_seconds=3600)
    return "Internal " + token


def agency_token(tenant_id) -> str:
    return "Internal " + issue_token(SECRET, issuer="gateway", audience="documents", act="agency",
                                     tid=str(tenant_id), ttl_seconds=3600)


def claims_of(accounts: list[dict]) -> list[dict]:
    return [{"tenant_id": str(a["tenant_id"]), "account_id": str(a["id"])} for a in accounts]


async def interleaved(functions: dict, samples: int) -> dict[str, dict]:
    """p50/p99 (ms) of each function, called in turn within every round: the machine is shared,
    so each comparison sees the same load drift instead of one side getting a quiet minute."""
    for _ in range(min(50, samples)):  # warm-up: prepared statements, caches
        for fn in functions.values():
            await fn()
    durations: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(samples):
        for name, fn in functions.items():
            started = time.perf_counter()
            await fn()
            durations[name].append(time.perf_counter() - started)
    return {name: summary(values) for name, values in durations.items()}


def rss_hwm(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) // 1024
    return 0


def rss_now(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) // 1024
    return 0


def reset_hwm(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")


async def download_rate(session: aiohttp.ClientSession, url: str, runs: int) -> float:
    """MB/s over ``runs`` sequential full downloads (body read and dropped)."""
    total, started = 0, time.perf_counter()
    for _ in range(runs):
        async with session.get(url) as response:
            assert response.status == 200, response.status
            async for chunk in response.content.iter_chunked(1 << 20):
                total += len(chunk)
    return total / (time.perf_counter() - started) / 1e6


# --- the run ---------------------------------------------------------------------------------------

async def main(args) -> None:
    rng = random.Random(20261127)
    dsn = await create_test_database(ADMIN_DSN, prefix="bench_documents")
    work = Path(tempfile.mkdtemp(prefix="bench-documents-"))
    processes: list[subprocess.Popen] = []
    try:
        await migrate(dsn, TRACKS)
        tenants = plan_tenants(args.documents, args.accounts)
        started = time.perf_counter()
        loaded = await load(dsn, tenants, rng)
        print(f"generated {args.documents:,} documents over {sum(t['accounts'] for t in tenants):,} accounts "
              f"in {time.perf_counter() - started:.0f} s (COPY {loaded['copy_seconds']:.0f} s, "
              f"indexes + counts + vacuum included {loaded['load_seconds']:.0f} s)")
        port, file_port = free_port(), free_port()
        env = {**os.environ, "DOCUMENTS_DATABASE_URL": dsn, "DOCUMENTS_PORT": str(port),
               "DOCUMENTS_STORAGE_DIR": str(work / "blobs"), "DOCUMENTS_MAX_UPLOAD_BYTES": str(300 * 1024 * 1024),
               "DOCUMENTS_URL_TTL_SECONDS": "3600", "DOCUMENTS_CONSUMER_ENABLED": "false",
               "INTERNAL_AUTH_SECRET": SECRET, "EVENTS_EXCHANGE": f"bench.{uuid.uuid4().hex[:8]}",
               "LOG_LEVEL": "WARNING", "LOG_JSON": "true", "SHUTDOWN_TIMEOUT_SECONDS": "5"}
        server = start_process([sys.executable, "-m", "services.documents", "serve"], env)
        processes.append(server)
        base = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as session:
            async def ready():
                try:
                    async with session.get(base + "/health/live") as response:
                        return response.status == 200
                except aiohttp.ClientError:
                    return False

            await wait_until(ready, timeout=30, message="documents to start")
            await listing_benchmarks(dsn, tenants, rng, session, base, args.samples)
            await file_benchmarks(tenants, session, base, work, file_port, server.pid, processes)
    finally:
        for process in processes:
            stop_process(process)
        await drop_test_database(dsn)
        await asyncio.to_thread(shutil.rmtree, work, True)


def pick(accounts: list[dict], rng: random.Random, n: int = 10) -> list[dict]:
    return rng.sample(accounts, n)


async def listing_benchmarks(dsn, tenants, rng, session, base, samples) -> None:
    everyone = [a for t in tenants for a in t["account_list"]]
    mixed = [pick(everyone, rng) for _ in range(200)]
    big = [pick(tenants[0]["account_list"], rng) for _ in range(200)]
    small = [pick(tenants[1]["account_list"], rng) for _ in range(200)]
    pool = await create_pool(dsn, min_size=1, max_size=2)
    try:
        async with pool.acquire() as conn:
            ids = [r["id"] for r in await conn.fetch("SELECT id FROM documents TABLESAMPLE SYSTEM (1) LIMIT 5000")]
        query = ListQuery()
        counter = iter(range(10**9))

        async def pk_lookup():
            async with pool.acquire() as conn:
                await conn.fetchrow(repo.GET_DOCUMENT, ids[next(counter) % len(ids)])

        def lister(persons):
            async def run():
                await reading.list_documents(pool, claimed=claims_of(persons[next(counter) % len(persons)]),
                                             query=query)
            return run

        async with pool.acquire() as conn:
            mixed_keys = [sorted(reading.audience_keys(await reading.person_accounts(conn, claims_of(p))))
                          for p in mixed]

        async def page_only():
            async with pool.acquire() as conn:
                await repo.list_page(conn, keys=mixed_keys[next(counter) % len(mixed_keys)], before=None, year=None,
                                     category=None, pattern=None, limit=21)

        measured = await interleaved({"pk": pk_lookup, "page": page_only, "mixed": lister(mixed), "big": lister(big),
                                      "small": lister(small)}, samples)
        pk, page, fn_mixed, fn_big, fn_small = (measured[k] for k in ("pk", "page", "mixed", "big", "small"))
        sizes = [len((await reading.list_documents(pool, claimed=claims_of(p), query=query))["items"]) for p in mixed]
        visible = []
        for persons in (mixed[:20], big[:20], small[:20]):
            total = 0
            for p in persons:
                result = await reading.list_documents(pool, claimed=claims_of(p), query=query)
                total += sum(result["facets"]["categories"].values())
            visible.append(total / len(persons))
        print("\n## service function (in process, one pool)")
        print(f"primary-key lookup of one document: p50 {pk['p50']:.3f} ms, p99 {pk['p99']:.3f} ms")
        print(f"the page query alone (SQL, {statistics.mean(len(k) for k in mixed_keys):.1f} audience keys on "
              f"average): p50 {page['p50']:.3f} ms, p99 {page['p99']:.3f} ms -> p50 ratio "
              f"{page['p50'] / pk['p50']:.2f}x")
        print(f"listing page 1 + facets, 10 mixed accounts: p50 {fn_mixed['p50']:.3f} ms, p99 {fn_mixed['p99']:.3f} ms"
              f" -> p50 ratio {fn_mixed['p50'] / pk['p50']:.2f}x the primary-key lookup (items per page "
              f"{statistics.mean(sizes):.1f}, visible documents per person {visible[0]:.0f})")
        print(f"10 accounts in the 100k tenant: p50 {fn_big['p50']:.3f} ms, p99 {fn_big['p99']:.3f} ms "
              f"(visible {visible[1]:.0f}); in the 10k tenant: p50 {fn_small['p50']:.3f} ms, "
              f"p99 {fn_small['p99']:.3f} ms (visible {visible[2]:.0f}) -> 100k/10k p50 ratio "
              f"{fn_big['p50'] / fn_small['p50']:.2f}")
        async with pool.acquire() as conn:
            accounts = await reading.person_accounts(conn, claims_of(big[0]))
            keys = sorted(reading.audience_keys(accounts))
            plan = await conn.fetch("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + repo.LIST, keys,
                                    repo.NO_DATE_HIGH, repo.MAX_UUID, repo.NO_DATE_LOW, repo.NO_DATE_HIGH, 21)
        print("\nEXPLAIN (ANALYZE, BUFFERS) listing, big-tenant person, "
              f"{len(keys)} audience keys:\n" + "\n".join("    " + r[0] for r in plan))
    finally:
        await pool.close()

    # Over HTTP, at the service.
    doc_ids = []
    for persons in mixed[:50]:
        async with session.get(base + "/v1/documents", headers={"Authorization": person_token(persons)}) as r:
            items = (await r.json())["items"]
            if items:
                doc_ids.append((persons, items[0]["id"]))
    tokens = {id(p): person_token(p) for p in mixed + big + small}
    counter = iter(range(10**9))

    def http_lister(persons):
        async def run():
            person = persons[next(counter) % len(persons)]
            async with session.get(base + "/v1/documents", headers={"Authorization": tokens[id(person)]}) as r:
                assert r.status == 200
                await r.read()
        return run

    async def http_link():
        persons, document_id = doc_ids[next(counter) % len(doc_ids)]
        async with session.post(f"{base}/v1/documents/{document_id}/link",
                                headers={"Authorization": tokens[id(persons)]}) as r:
            assert r.status == 200
            await r.read()

    async def histogram():
        async with session.get(base + "/metrics") as r:
            text = await r.text()
        buckets = {}
        for line in text.splitlines():
            if line.startswith("http_request_duration_seconds_bucket") and 'route="/v1/documents"' in line:
                le = line.split('le="')[1].split('"')[0]
                buckets[le] = float(line.rsplit(" ", 1)[1])
        return buckets

    before = await histogram()
    measured = await interleaved({"link": http_link, "mixed": http_lister(mixed), "big": http_lister(big),
                                  "small": http_lister(small)}, samples)
    after = await histogram()
    link, http_mixed, http_big, http_small = (measured[k] for k in ("link", "mixed", "big", "small"))
    total = after["+Inf"] - before.get("+Inf", 0)
    under5 = after["0.005"] - before.get("0.005", 0)
    print("\n## over HTTP (client on the same host, one keep-alive connection)")
    print(f"POST /v1/documents/{{id}}/link (primary-key read through the stack): p50 {link['p50']:.3f} ms, "
          f"p99 {link['p99']:.3f} ms")
    print(f"GET /v1/documents, 10 mixed accounts: p50 {http_mixed['p50']:.3f} ms, p99 {http_mixed['p99']:.3f} ms"
          f" -> p50 ratio {http_mixed['p50'] / link['p50']:.2f}x")
    print(f"service histogram: {under5 / total * 100:.2f} % of {total:.0f} listings (all persons, incl. warm-up) "
          f"under 5 ms at the service")
    print(f"100k tenant p50 {http_big['p50']:.3f} ms / 10k tenant p50 {http_small['p50']:.3f} ms -> ratio "
          f"{http_big['p50'] / http_small['p50']:.2f}")


async def upload(session, base, tenant, account_ref, path: Path, title: str) -> dict:
    """A streamed upload: aiohttp reads the file part from disk while sending it."""
    handle = await asyncio.to_thread(open, path, "rb")
    try:
        form = aiohttp.FormData()
        form.add_field("metadata", json.dumps({"category": "LOT_APPEL", "title": title, "date": "2026-01-02",
                                               "audience": {"account_ref": account_ref}}),
                       content_type="application/json")
        form.add_field("file", handle, filename=path.name, content_type="application/pdf")
        async with session.post(base + "/api/v1/documents", data=form,
                                headers={"Authorization": agency_token(tenant["id"])}) as r:
            assert r.status in (200, 201), await r.text()
            return await r.json()
    finally:
        handle.close()


def start_process(command: list[str], env: dict) -> subprocess.Popen:
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)


def stop_process(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def write_file(path: Path, size: int) -> None:
    with open(path, "wb") as handle:
        handle.write(b"%PDF-1.7\n")
        remaining = size - 9
        block = os.urandom(1 << 20)
        while remaining > 0:
            handle.write(block[:remaining])
            remaining -= len(block)


async def file_benchmarks(tenants, session, base, work: Path, file_port: int, pid: int, processes) -> None:
    tenant = tenants[1]
    account = next(a for a in tenant["account_list"] if a["role"] == "coproprietaire")
    twenty = work / "twenty.pdf"
    write_file(twenty, 20 * 1024 * 1024)
    answer = await upload(session, base, tenant, account["ref"], twenty, "Vingt mégaoctets")
    async with session.post(f"{base}/v1/documents/{answer['id']}/link",
                            headers={"Authorization": person_token([account])}) as r:
        url = base + (await r.json())["url"]
    sha = answer["sha256"]
    blob = work / "blobs" / sha[:2] / sha[2:4] / sha
    reference = start_process([sys.executable, __file__, "--fileserver", str(file_port), str(blob)], dict(os.environ))
    processes.append(reference)
    file_url = f"http://127.0.0.1:{file_port}/file"

    async def up():
        try:
            async with session.get(file_url) as response:
                return response.status == 200
        except aiohttp.ClientError:
            return False

    await wait_until(up, timeout=30, message="the FileResponse server")
    assert hashlib.sha256(blob.read_bytes()).hexdigest() == sha
    ours, theirs = [], []
    for _ in range(5):  # interleaved rounds, so both see the same machine load
        theirs.append(await download_rate(session, file_url, 10))
        ours.append(await download_rate(session, url, 10))
    print("\n## 20 MB download, sequential, one connection")
    print(f"FileResponse: {statistics.median(theirs):.0f} MB/s; /files/<token>: {statistics.median(ours):.0f} MB/s "
          f"-> ratio {statistics.median(ours) / statistics.median(theirs):.2f} (rounds: "
          f"{', '.join(f'{o / t:.2f}' for o, t in zip(ours, theirs, strict=True))})")

    big = work / "big.pdf"
    write_file(big, 200 * 1024 * 1024)
    idle = rss_now(pid)
    reset_hwm(pid)
    answer = await upload(session, base, tenant, account["ref"], big, "Deux cents mégaoctets")
    upload_peak = rss_hwm(pid)
    async with session.post(f"{base}/v1/documents/{answer['id']}/link",
                            headers={"Authorization": person_token([account])}) as r:
        big_url = base + (await r.json())["url"]
    reset_hwm(pid)
    rate = await download_rate(session, big_url, 1)
    download_peak = rss_hwm(pid)
    print("\n## memory of the service process with a 200 MB file")
    print(f"RSS idle {idle} MB; peak during the upload {upload_peak} MB; peak during the download "
          f"{download_peak} MB ({rate:.0f} MB/s)")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--fileserver":
        fileserver(int(sys.argv[2]), sys.argv[3])
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=1_000_000)
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--samples", type=int, default=2000)
    asyncio.run(main(parser.parse_args()))
