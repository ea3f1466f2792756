"""Login benchmark: throughput and latency of ``POST /v1/login`` against the hash-bound limit.

    .venv/bin/python bench/login.py [--rounds 5] [--seconds 3] [--concurrency 8] [--persons 64]
                                    [--servers 1,2,1:asyncio]

What runs (nothing faked): a real identity process (this script with ``--serve``: the app of
``python -m services.identity``, without the broker, which is not on the login path) on a fresh
PostgreSQL database, with the production argon2id parameters (OWASP: 19456 KiB, t=2, p=1)
and its default hashing pool (one thread per core, bounded queue, threads at nice +10). Persons
are inserted verified, all with one argon2id hash made with those parameters.

Measured in the same run, in ``--rounds`` rounds that alternate the references and the load
(medians reported, so that other load on the machine weighs on both sides alike):
- reference: the hash-bound limit = cores / the time of one argon2id verification in this
  process (median of 10, single-threaded); and the bare throughput of a pool of ``cores``
  threads verifying for ``--seconds`` (no HTTP, no database);
- the storm: ``--concurrency`` clients logging in back to back for ``--seconds``: throughput and
  its ratio to both references, latency p50/p99; beside it a page view (session
  introspection) every 50 ms from a process of its own (another person's browser: not a task
  queued behind the storm's clients in this process's event loop), whose p99 is compared with the
  same views, from the same kind of process and paced the same, on the idle service just before
  the storm in every round (a single back-to-back idle sample before the rounds moved from 1.3 to
  3.4 ms between runs);
- before the rounds: login latency at one client;
- after them: a burst far above the pool's capacity, which must answer 429 (busy), not queue.
The load generator shares the machine's cores with the server: read the ratios. During each
storm the CPU used by the generator, by the identity processes and by the whole machine is read
from /proc, so that what bounds the ratio is shown rather than guessed; identity's own CPU is split
per login between its event loops (each process's main thread: HTTP, token, queries, log lines and
the page views beside) and its other threads (the hashing pool), during the storm and with one
login at a time, against one verify's CPU alone and two at once in the bare pool.

``--servers`` starts one identity per entry, all measured in the same rounds (storms one after the
other): ``N`` = ``IDENTITY_WORKERS=N`` on uvloop, as ``python -m services.identity`` runs it;
``N:asyncio`` = the same on the stdlib event loop (what identity ran before uvloop).
"""

from __future__ import annotations

import argparse
import asyncio
import json
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

from bench.cpu import CpuMeter, tree_threads_cpu  # noqa: E402
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
    cpu = [0.0] * cores

    def loop(i: int) -> None:
        started_cpu = time.thread_time()
        while time.perf_counter() < deadline:
            ph.verify(stored, PASSWORD)
            counts[i] += 1
        cpu[i] = time.thread_time() - started_cpu

    started = time.perf_counter()
    with ThreadPoolExecutor(cores) as pool:
        list(pool.map(loop, range(cores)))
    # CPU time per verify with ``cores`` verifies running at once (they share caches and memory bandwidth).
    pool_reference.cpu_seconds = sum(cpu) / max(1, sum(counts))
    return sum(counts) / (time.perf_counter() - started)


def reference(settings: IdentitySettings, count: int = 30) -> tuple[float, str]:
    ph = PasswordHasher(time_cost=settings.argon2_time_cost, memory_cost=settings.argon2_memory_kib,
                        parallelism=settings.argon2_parallelism, hash_len=32, salt_len=16, type=Type.ID)
    stored = ph.hash(PASSWORD)
    times, cpu = [], []
    for _ in range(count):
        started, started_cpu = time.perf_counter(), time.thread_time()
        ph.verify(stored, PASSWORD)
        times.append(time.perf_counter() - started)
        cpu.append(time.thread_time() - started_cpu)
    reference.cpu_seconds = statistics.median(cpu)  # CPU time of one verify, whatever the neighbours take
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


async def storm(client: Client, session, emails: list[str], *, seconds: float, concurrency: int,
                probe_session: str, server_pid: int) -> dict:
    """``concurrency`` clients logging in back to back for ``seconds``, a page view every 50 ms beside
    (from a process of its own: another person's browser, not a task queued behind the storm's clients)."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    deadline = 0.0

    async def worker(n: int) -> None:
        i = n
        while time.perf_counter() < deadline:
            status, elapsed, _ = await client.login(session, emails[i % len(emails)], f"198.51.100.{n}")
            statuses[status] = statuses.get(status, 0) + 1
            if status == 200:
                latencies.append(elapsed)
            i += concurrency

    viewer = await PageViewer.start(client.base, probe_session, seconds)
    await viewer.wait_for_start()
    deadline = time.perf_counter() + seconds
    meter = CpuMeter({"server": server_pid})
    threads_before = tree_threads_cpu(server_pid)
    started = time.perf_counter()
    meter.start(started)
    await asyncio.gather(*(worker(n) for n in range(concurrency)))
    duration = time.perf_counter() - started
    cpu = meter.stop(time.perf_counter())
    loop_cpu, hashing_cpu = (after - before for after, before in zip(tree_threads_cpu(server_pid), threads_before,
                                                                      strict=True))
    probe = await viewer.views()
    logins = max(sum(statuses.values()), 1)
    return {"rate": statuses.get(200, 0) / duration, "latencies": latencies, "statuses": statuses, "probe": probe,
            "cpu": cpu, "loop_cpu_per_login": loop_cpu / logins, "hashing_cpu_per_login": hashing_cpu / logins}


class PageViewer:
    """A page view every 50 ms for ``seconds``, from a process of its own (this script with ``--view``),
    starting at an agreed moment so that the storm can start with it."""

    START_DELAY = 1.5  # seconds for the process to start (about 0.5 s here) before its first view

    def __init__(self, process, start_at: float) -> None:
        self.process, self.start_at = process, start_at

    @classmethod
    async def start(cls, base: str, probe_session: str, seconds: float) -> PageViewer:
        start_at = time.time() + cls.START_DELAY
        process = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--view", base, probe_session, repr(start_at), repr(seconds), cwd=ROOT,
            stdout=asyncio.subprocess.PIPE)
        return cls(process, start_at)

    async def wait_for_start(self) -> None:
        await asyncio.sleep(max(0.0, self.start_at - time.time()))

    async def views(self) -> list[float]:
        out, _ = await self.process.communicate()
        assert self.process.returncode == 0, "the page viewer failed"
        return json.loads(out)


def view_pages(base: str, probe_session: str, start_at: float, seconds: float) -> None:
    """The page viewer's process: print the latencies of its views as JSON."""
    async def views() -> list[float]:
        client, probe = Client(base), []
        async with aiohttp.ClientSession() as session:
            await client.introspect(session, probe_session)  # the connection opened before the clock starts
            if time.time() > start_at:
                raise SystemExit("the page viewer started late: raise PageViewer.START_DELAY")
            await asyncio.sleep(start_at - time.time())
            deadline = time.perf_counter() + seconds
            while time.perf_counter() < deadline:
                probe.append(await client.introspect(session, probe_session))
                await asyncio.sleep(0.05)
        return probe

    print(json.dumps(asyncio.run(views())))


async def idle_probes(client: Client, *, seconds: float, probe_session: str) -> list[float]:
    """The storm's page views, from the same kind of process and paced the same, with no login traffic:
    the idle reference taken in every round, beside the storm it is compared with."""
    viewer = await PageViewer.start(client.base, probe_session, seconds)
    return await viewer.views()


def _server_spec(spec: str) -> tuple[int, str]:
    workers, _, loop = spec.partition(":")
    if loop not in ("", "uvloop", "asyncio"):
        raise ValueError(f"unknown event loop {loop!r} in --servers")
    return int(workers), loop or "uvloop"


class Server:
    """One identity (``IDENTITY_WORKERS`` processes on one port) and what was measured against it."""

    def __init__(self, spec: str) -> None:
        self.spec = spec
        self.workers, self.loop = _server_spec(spec)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.rounds: list[dict] = []
        self.process = None

    async def start(self, dsn: str) -> None:
        env = {**os.environ, "IDENTITY_DATABASE_URL": dsn, "IDENTITY_PORT": str(self.port),
               "IDENTITY_TENANCY_URL": "", "IDENTITY_WORKERS": str(self.workers), "BENCH_LOOP": self.loop,
               "INTERNAL_AUTH_SECRET": SECRET, "LOG_LEVEL": "WARNING", "ENVIRONMENT": "development",
               "EVENTS_EXCHANGE": f"bench.login.{uuid.uuid4().hex[:8]}"}
        self.log_file = open(Path(tempfile.gettempdir()) / f"bench-login-{self.port}.log", "wb")  # noqa: ASYNC230
        self.process = await asyncio.create_subprocess_exec(sys.executable, __file__, "--serve", cwd=ROOT, env=env,
                                                            stdout=self.log_file, stderr=self.log_file)

    async def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            await asyncio.wait_for(self.process.wait(), 40)
        except TimeoutError:
            self.process.kill()
        self.log_file.close()


async def run(args) -> None:
    settings = IdentitySettings()  # production argon2 defaults
    cores = os.cpu_count() or 1
    _, stored = reference(settings)
    dsn = await create_test_database(ADMIN_DSN, prefix="bench_login")
    servers = [Server(spec) for spec in args.servers.split(",")]
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
            emails = [f"bench{i}.{uuid.uuid4().hex[:6]}@example.org" for i in range(args.persons)]
            for n, server in enumerate(servers):
                await server.start(dsn)  # one after the other: the first one migrates

                async def ready(base=server.base):
                    try:
                        async with session.get(f"{base}/health/ready") as response:
                            return response.status == 200
                    except aiohttp.ClientError:
                        return False

                await wait_until(ready, timeout=60, message="identity ready")
                if n == 0:
                    conn = await asyncpg.connect(dsn)
                    try:
                        await conn.executemany(
                            "INSERT INTO persons (id, email, email_key, password_hash, email_verified_at, created_at)"
                            " VALUES ($1, $2, $2, $3, now(), now())",
                            [(uuid.uuid4(), e, stored) for e in emails])
                    finally:
                        await conn.close()
                server.client = Client(server.base)
                status, _, body = await server.client.login(session, emails[0], "192.0.2.1")  # warm-up
                assert status == 200, body
                server.probe_session = body["session_id"]

            for server in servers:
                server.single = []
                before = tree_threads_cpu(server.process.pid)
                for i in range(40):
                    status, elapsed, _ = await server.client.login(session, emails[i % len(emails)], "192.0.2.2")
                    assert status == 200
                    server.single.append(elapsed)
                # The same split with one login at a time: nothing hashing beside the event loop.
                server.single_loop_cpu = (tree_threads_cpu(server.process.pid)[0] - before[0]) / 40
                server.idle_probe = [await server.client.introspect(session, server.probe_session)
                                     for _ in range(200)]

            # Rounds alternate the references and the storms, so that the other load on the machine
            # weighs on every side alike; medians are reported.
            for _ in range(args.rounds):
                one_verify, _ = reference(settings, count=10)
                verify_cpu = reference.cpu_seconds
                bare = await asyncio.to_thread(pool_reference, stored, settings, cores, args.seconds)
                for server in servers:
                    idle = await idle_probes(server.client, seconds=args.seconds, probe_session=server.probe_session)
                    result = await storm(server.client, session, emails, seconds=args.seconds,
                                         concurrency=args.concurrency, probe_session=server.probe_session,
                                         server_pid=server.process.pid)
                    # Logins per CPU-second the identity processes got, against verifies per CPU-second:
                    # the share of identity's CPU that went to hashing, whatever the machine's other load.
                    per_cpu = result["rate"] / max(result["cpu"]["server"], 1e-9)
                    server.rounds.append({"limit": cores / one_verify, "bare": bare, "efficiency": per_cpu * verify_cpu,
                                          "efficiency_pool": per_cpu * pool_reference.cpu_seconds,
                                          "verify_cpu": verify_cpu, "pool_cpu": pool_reference.cpu_seconds,
                                          "idle_probe": idle, **result})

            # Beyond saturation: a burst far above the pool's capacity answers 429 at once.
            for server in servers:
                server.burst = await asyncio.gather(
                    *(server.client.login(session, emails[i % len(emails)], f"203.0.113.{i % 250}")
                      for i in range(20 * cores * (1 + settings.hash_queue_per_worker) // 4)))
    finally:
        for server in servers:
            await server.stop()
        await drop_test_database(dsn)

    print(f"argon2id m={settings.argon2_memory_kib} t={settings.argon2_time_cost} p={settings.argon2_parallelism};"
          f" cores={cores}; {args.rounds} rounds of {args.seconds:.0f} s, {args.concurrency} clients;"
          f" load average {os.getloadavg()[0]:.2f}")
    med = statistics.median
    first = servers[0].rounds
    limit = med(r["limit"] for r in first)
    print(f"reference: cores / one verify = {limit:.1f} logins/s (one verify {cores / limit * 1000:.1f} ms);"
          f" bare pool of {cores} threads {med(r['bare'] for r in first):.1f} verifies/s")
    for server in servers:
        report(server, limit, cores)
    for server in servers[1:]:
        # Paired: the same round, storms one after the other, so the neighbours' load is nearly the same.
        paired = [r["rate"] / max(f["rate"], 1e-9) for r, f in zip(server.rounds, first, strict=True)]
        print(f"{server.spec} / {servers[0].spec}, logins/s in the same round: median {med(paired):.2f}"
              f" (rounds: {' '.join(f'{x:.2f}' for x in paired)})")


def report(server: Server, limit: float, cores: int) -> None:
    med = statistics.median
    rounds = server.rounds
    latencies = [x for r in rounds for x in r["latencies"]]
    storm_probe = [x for r in rounds for x in r["probe"]]
    statuses: dict[int, int] = {}
    for r in rounds:
        for k, v in r["statuses"].items():
            statuses[k] = statuses.get(k, 0) + v
    burst_statuses: dict[int, int] = {}
    for status, _, _ in server.burst:
        burst_statuses[status] = burst_statuses.get(status, 0) + 1
    busy_latency = [e for s, e, _ in server.burst if s == 429]
    single, idle_probe = server.single, server.idle_probe
    print(f"== identity, {server.workers} worker process(es), {server.loop}")
    to_limit = [r["rate"] / r["limit"] for r in rounds]
    to_bare = [r["rate"] / r["bare"] for r in rounds]
    print(f"login throughput {med(r['rate'] for r in rounds):.1f} logins/s;"
          f" ratio to cores/one-verify {med(to_limit):.2f} (rounds: {' '.join(f'{x:.2f}' for x in to_limit)});"
          f" ratio to the bare pool {med(to_bare):.2f} (rounds: {' '.join(f'{x:.2f}' for x in to_bare)})")
    efficiency = [r["efficiency"] for r in rounds]
    print(f"hashing share of identity's CPU: {med(efficiency):.2f} (rounds: {' '.join(f'{x:.2f}' for x in efficiency)};"
          f" logins per identity CPU-second x CPU time of one verify, {med(r['verify_cpu'] for r in rounds) * 1000:.1f}"
          " ms)")
    pooled = [r["efficiency_pool"] for r in rounds]
    print(f"  the same against one verify's CPU time in the bare pool ({cores} at once,"
          f" {med(r['pool_cpu'] for r in rounds) * 1000:.1f} ms): {med(pooled):.2f}"
          f" (rounds: {' '.join(f'{x:.2f}' for x in pooled)})")
    # Where identity's CPU went, per login: its event loops (HTTP, token, queries, logs, the page views
    # beside) and its hashing threads, against one verify's CPU alone and two at once in the bare pool.
    print(f"identity CPU per login: event loops {med(r['loop_cpu_per_login'] for r in rounds) * 1000:.2f} ms"
          f" (page views included), hashing threads {med(r['hashing_cpu_per_login'] for r in rounds) * 1000:.1f} ms"
          f" (one verify alone {med(r['verify_cpu'] for r in rounds) * 1000:.1f} ms,"
          f" in the bare pool {med(r['pool_cpu'] for r in rounds) * 1000:.1f} ms);"
          f" event loops with one login at a time {server.single_loop_cpu * 1000:.2f} ms")
    cpu = {k: med(r["cpu"][k] for r in rounds) for k in ("generator", "server", "others", "machine")}
    print(f"CPU during the storm (cores busy, medians): identity {cpu['server']:.2f}, load generator"
          f" {cpu['generator']:.2f}, everything else (PostgreSQL, other runs) {cpu['others']:.2f},"
          f" machine {cpu['machine']:.2f} of {cores}")
    print(f"login latency under the storm: p50 {_pct(latencies, .5) * 1000:.1f} ms,"
          f" p99 {_pct(latencies, .99) * 1000:.1f} ms; statuses {statuses}")
    print(f"login, 1 client: p50 {_pct(single, .5) * 1000:.1f} ms, p99 {_pct(single, .99) * 1000:.1f} ms"
          f" ({_pct(single, .5) * limit / cores:.2f}x one verify)")
    paced = [x for r in rounds for x in r["idle_probe"]]
    print(f"page (introspection) p99: idle {_pct(paced, .99) * 1000:.2f} ms ({len(paced)} views paced like the"
          f" storm's, in every round), during the storm {_pct(storm_probe, .99) * 1000:.2f} ms"
          f" ({len(storm_probe)} views; {_pct(storm_probe, .99) / _pct(paced, .99):.2f}x);"
          f" p50 idle {_pct(paced, .5) * 1000:.2f} ms, storm {_pct(storm_probe, .5) * 1000:.2f} ms"
          f" ({_pct(storm_probe, .5) / _pct(paced, .5):.2f}x)")
    print(f"  back to back before the rounds: p99 {_pct(idle_probe, .99) * 1000:.2f} ms,"
          f" p50 {_pct(idle_probe, .5) * 1000:.2f} ms ({len(idle_probe)} views)")
    print(f"burst of {len(server.burst)} at once: statuses {burst_statuses}"
          + (f"; 429 answered in p50 {_pct(busy_latency, .5) * 1000:.1f} ms" if busy_latency else ""))


def serve() -> None:
    """The identity process under test, as ``python -m services.identity`` runs it (run_service:
    migrations, then IDENTITY_WORKERS processes), without the broker: the relay and the consumer are
    not on the login path and the bench must not depend on them."""
    from common.service import run_service
    from common.settings import load_settings
    from services.identity.__main__ import TRACKS
    from services.identity.app import create_app

    if os.environ.get("BENCH_LOOP", "uvloop") == "uvloop":
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    sys.exit(run_service(name="services.identity", load_settings=lambda: load_settings(IdentitySettings),
                         create_app=lambda settings: create_app(settings, with_broker=False), tracks=TRACKS,
                         argv=["serve"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--persons", type=int, default=64)
    parser.add_argument("--servers", default="1", help="identity processes to compare, e.g. 1,2,1:asyncio")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--view", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve()
    elif args.view:
        base, probe_session, start_at, seconds = args.view
        view_pages(base, probe_session, float(start_at), float(seconds))
    else:
        asyncio.run(run(args))


if __name__ == "__main__":
    main()
