"""Gateway hop benchmark: the same work through the gateway and directly against the services.

    .venv/bin/python bench/gateway.py [--seconds 2] [--rounds 5] [--concurrency 8] [--documents 30]
                                      [--private-broker] [--pairs page,listing,api] [--gateway-workers 2]

What runs (nothing faked): the five real processes (tests/e2e/system.py: fresh databases, RabbitMQ,
an SMTP sink), a tenant onboarded through the public API, one account with ``--documents`` PDFs, a
person activated through the gateway's pages (email link read from the sink) and logged in.
Then, for each pair, latency at one client (p50/p99) and throughput at ``--concurrency`` clients,
``--rounds`` short phases per side, alternating, the median of each figure kept:

- page:     ``GET /login?client&societe`` (welcome page)   vs tenancy ``GET /internal/tenants/resolve``
- listing:  ``GET /dashboard`` (accounts + document listing page) vs the three calls it needs, made
            directly in sequence: identity introspect, tenancy accounts lookup, documents listing
- api:      ``GET /api/v1/tenants/{id}`` (operator token, forwarded) vs the same path at tenancy
- agency:   ``GET /api/v1/agency`` (the agency's API key, verified by tenancy or kept by the gateway,
            then forwarded) vs the same path at tenancy (not in the default pairs)

``--gateway-workers N`` (N > 1) starts a second gateway beside the first, same environment but
``GATEWAY_WORKERS=N`` (N processes on its port, SO_REUSEPORT); every pair is then measured through
both gateways in the same alternating rounds. ``--pairs`` keeps only some pairs.
``--floors`` also measures the api pair through the two floors of ``bench/hop_floor.py`` (a byte
relay, and a bare aiohttp proxy on the gateway's kept connections), started beside the gateway, in the
same alternating rounds: how much of the hop is the host, how much the framework, how much the gateway.
``--key-cache-off`` also measures every pair through a second gateway with
``GATEWAY_API_KEY_CACHE_SECONDS=0`` (an agency's key verified by tenancy on every request), in the same
alternating rounds.
``--private-broker`` starts a RabbitMQ node of the bench's own (tests/integration/events/rabbit_node.py)
instead of using TEST_AMQP_URL. Direct requests carry an internal token signed ahead of time
(refreshed every 20 s), so the reference is the services' own cost. Every process shares this
machine's cores with the load generator: read the ratios, not the absolute numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import re
import statistics
import sys
import tempfile
import time
import urllib.request
from html import unescape
from pathlib import Path
from urllib.parse import urlencode

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.cpu import CpuMeter
from common.internal_auth import issue_token
from tests.e2e.system import INTERNAL_SECRET, OPERATOR_TOKEN, System, link_in

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
PASSWORD = "Bench-1!motdepasse"


class Signer:
    """Internal tokens for the direct requests, signed ahead of time like a warm client would."""

    def __init__(self) -> None:
        self._cache: dict = {}

    def header(self, audience: str, **claims) -> dict:
        key = (audience, repr(sorted(claims.items())))
        entry = self._cache.get(key)
        if entry is None or entry[0] < time.monotonic():
            token = issue_token(INTERNAL_SECRET, issuer="gateway", audience=audience, **claims)
            entry = (time.monotonic() + 20, {"Authorization": f"Internal {token}"})
            self._cache[key] = entry
        return entry[1]


async def _form_post(session: aiohttp.ClientSession, base: str, path: str, query: str, data: dict) -> str:
    page = await session.get(f"{base}/login/form?{query}")
    csrf = CSRF.search(await page.text()).group(1)
    response = await session.post(f"{base}{path}?{query}", data={**data, "csrf_token": csrf},
                                  headers={"Origin": base}, allow_redirects=True)
    assert response.status < 400, (path, response.status, await response.text())
    return str(response.url)


async def prepare(system: System, documents: int) -> dict:
    """A tenant, an account with documents, an activated and logged-in person."""
    tenant = system.new_tenant(name="Syndic du Banc d'Essai")
    email = f"bench-{os.getpid()}@example.org"
    tenant.put_directory({
        "residences": [{"ref": "R1", "name": "Résidence du Banc", "address": "1 rue du Test, 75001 Paris"}],
        "lots": [{"ref": "L1", "residence_ref": "R1", "number": "1", "kind": "appartement"}],
        "accounts": [{"ref": "C1", "role": "coproprietaire", "display_name": "M. Banc", "email": email,
                      "lot_refs": ["L1"], "council": False}]})
    credentials = tenant.issue_credentials("C1")["C1"]
    for number in range(documents):
        tenant.upload_pdf(title=f"Appel de fonds {number}", category="LOT_APPEL", audience={"account_ref": "C1"},
                          date=f"20{20 + number % 6}-0{1 + number % 9}-15")
    base = system.base_url
    query = urlencode({"client": tenant.client_code, "societe": tenant.societe_code})
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as session:
        await _form_post(session, base, "/activation", query,
                         {"login": credentials["login"], "password": credentials["password"]})
        await _form_post(session, base, "/activation/email", query, {"email": email})
        await _form_post(session, base, "/activation/password", query,
                         {"password": PASSWORD, "confirmation": PASSWORD, "accept_terms": "yes"})
        mail = await asyncio.to_thread(system.wait_for_email, email, subject="Confirmation")
        link = unescape(link_in(mail, "/activation/verify"))
        token = re.search(r"token=([^&]+)", link).group(1)
        await session.get(link)
        await _form_post(session, base, "/activation/verify", query, {"token": token})
        landed = await _form_post(session, base, "/login/form", query, {"email": email, "password": PASSWORD})
        assert "/dashboard" in landed, landed
        cookies = {c.key: c.value for c in jar}
    return {"tenant": tenant, "query": query, "cookies": cookies, "session_id": cookies["moncompte_session"]}


async def measure(make_request, *, seconds: float, concurrency: int, pids: dict[str, int]) -> dict:
    """p50/p99 at one client, then requests per second at ``concurrency`` clients (and who used the CPU)."""
    for _ in range(50):
        await make_request()
    latencies = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        await make_request()
        latencies.append(time.perf_counter() - started)
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker():
        nonlocal done
        while time.perf_counter() < deadline:
            await make_request()
            done += 1

    meter = CpuMeter(pids)
    started = time.perf_counter()
    meter.start(started)
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    cpu = meter.stop(time.perf_counter())
    quantiles = statistics.quantiles(latencies, n=100)
    return {"p50": statistics.median(latencies) * 1000, "p99": quantiles[98] * 1000, "rps": done / elapsed,
            **{f"cpu_{name}": value for name, value in cpu.items()}}


def _median(runs: list[dict]) -> dict:
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


async def run(system: System, args, gateways: list[tuple[str, str, int]],
              floors: list[tuple[str, str, int]]) -> list[tuple[str, dict, dict]]:
    ctx = await prepare(system, args.documents)
    tenant, query, session_id = ctx["tenant"], ctx["query"], ctx["session_id"]
    svc = {name: system.by_name(name).url for name in ("identity", "tenancy", "documents")}
    signer = Signer()
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar()) as http:
        cookie = {"Cookie": "; ".join(f"{k}={v}" for k, v in ctx["cookies"].items())}
        tenant_claims = {"tid": tenant.id, "tcc": tenant.client_code, "tsc": tenant.societe_code, "ip": "127.0.0.1"}
        introspected = await (await http.post(f"{svc['identity']}/v1/sessions/introspect",
                                              json={"session_id": session_id},
                                              headers=signer.header("identity", **tenant_claims))).json()
        acc = [{"tenant_id": a["tenant_id"], "account_id": a["account_id"], "role": a["role"]}
               for a in introspected["accounts"]]
        person_claims = {**tenant_claims, "pid": introspected["person_id"], "sref": introspected["session_ref"],
                         "acc": acc}

        async def fetch(method, url, *, expect=200, **kwargs):
            async with http.request(method, url, allow_redirects=False, **kwargs) as response:
                await response.read()
                assert response.status == expect, (url, response.status)

        async def page_gateway(gw):
            await fetch("GET", f"{gw}/login?{query}")

        async def page_direct():
            await fetch("GET", f"{svc['tenancy']}/internal/tenants/resolve?{query}",
                        headers=signer.header("tenancy"))

        async def listing_gateway(gw):
            await fetch("GET", f"{gw}/dashboard?{query}", headers=cookie)

        async def listing_direct():
            await fetch("POST", f"{svc['identity']}/v1/sessions/introspect", json={"session_id": session_id},
                        headers=signer.header("identity", **tenant_claims))
            await fetch("POST", f"{svc['tenancy']}/internal/accounts/lookup",
                        json={"account_ids": [a["account_id"] for a in acc]},
                        headers=signer.header("tenancy", **person_claims))
            await fetch("GET", f"{svc['documents']}/v1/documents?limit=50",
                        headers=signer.header("documents", **person_claims))

        async def api_gateway(gw):
            await fetch("GET", f"{gw}/api/v1/tenants/{tenant.id}",
                        headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"})

        async def api_direct(base=svc["tenancy"]):
            await fetch("GET", f"{base}/api/v1/tenants/{tenant.id}",
                        headers=signer.header("tenancy", act="operator", ip="127.0.0.1"))

        async def agency_gateway(gw):
            await fetch("GET", f"{gw}/api/v1/agency", headers={"Authorization": f"Bearer {tenant.api.token}"})

        async def agency_direct():
            await fetch("GET", f"{svc['tenancy']}/api/v1/agency",
                        headers=signer.header("tenancy", act="agency", tid=tenant.id, ip="127.0.0.1"))

        pairs = [("page", "page: welcome vs tenant resolve", page_gateway, page_direct),
                 ("listing", "listing: dashboard vs introspect+lookup+listing", listing_gateway, listing_direct),
                 ("api", "api: GET /api/v1/tenants/{id} forwarded vs direct", api_gateway, api_direct),
                 ("agency", "agency: GET /api/v1/agency with its key, forwarded vs direct", agency_gateway,
                  agency_direct)]
        wanted = set(args.pairs.split(","))
        results = []
        for key, name, through, direct in pairs:
            if key not in wanted:
                continue
            # Short phases, alternating, medians kept: the other tenants of this machine come and go.
            # A floor carries the direct request (its internal token) to the floor's port.
            hops = [(label, base, pid, through) for label, base, pid in gateways]
            if key == "api":
                hops += [(label, base, pid, api_direct) for label, base, pid in floors]
            gw_runs: dict[str, list] = {label: [] for label, _, _, _ in hops}
            direct_runs = []
            services = {name: system.by_name(name).process.pid for name in ("identity", "tenancy", "documents")}
            for _ in range(args.rounds):
                direct_runs.append(await measure(direct, seconds=args.seconds, concurrency=args.concurrency,
                                                 pids=services))
                for label, base, pid, request_through in hops:
                    request = functools.partial(request_through, base)
                    gw_runs[label].append(await measure(request, seconds=args.seconds, concurrency=args.concurrency,
                                                        pids={"gateway": pid, **services}))
            for label, _, _, _ in hops:
                results.append((f"{name} ({label})", _median(gw_runs[label]), _median(direct_runs)))
    return results


def start_second_gateway(system: System, name: str, workdir: Path, **settings: str):
    """A gateway like the system's own, on its own ports, with these ``GATEWAY_`` settings changed."""
    import subprocess

    from common.testing import free_port

    env = system.process_environment(system.gateway)
    port = free_port()
    env.update(GATEWAY_PORT=str(port), GATEWAY_METRICS_PORT=str(free_port()))
    env.update({f"GATEWAY_{key.upper()}": value for key, value in settings.items()})
    log = (workdir / f"{name}.log").open("ab")
    process = subprocess.Popen([sys.executable, "-m", "gateway"], cwd=Path(__file__).resolve().parents[1],
                               env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(base + "/health/ready", timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    break
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{name} did not start; see {workdir}/{name}.log")
        time.sleep(0.3)
    return process, base


def start_floor(kind: str, tenancy_url: str, workdir: Path):
    """One of bench/hop_floor.py's proxies in front of tenancy, on a port of its own."""
    import socket
    import subprocess

    from common.testing import free_port

    port = free_port()
    upstream = tenancy_url.removeprefix("http://").rstrip("/")
    log = (workdir / f"floor-{kind}.log").open("ab")
    process = subprocess.Popen([sys.executable, str(Path(__file__).with_name("hop_floor.py")), kind,
                                "--port", str(port), "--upstream", upstream],
                               stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"floor {kind} did not start; see {workdir}/floor-{kind}.log") from None
            time.sleep(0.2)
    return process, f"http://127.0.0.1:{port}"


def report(results, args) -> str:
    lines = [f"| pair | p50 gateway / direct (ms) | added p50 (ms) | p99 gateway / direct (ms) | "
             f"rps gateway / direct at {args.concurrency} clients | throughput ratio |"
             " cores used at 8 clients, gateway side: generator / gateway / services / others |"
             " direct side: generator / services / others |",
             "|---|---|---|---|---|---|---|---|"]
    for name, gw, direct in results:
        def services(m):
            return sum(m[f"cpu_{n}"] for n in ("identity", "tenancy", "documents"))

        lines.append(f"| {name} | {gw['p50']:.2f} / {direct['p50']:.2f} | {gw['p50'] - direct['p50']:+.2f} | "
                     f"{gw['p99']:.2f} / {direct['p99']:.2f} | {gw['rps']:.0f} / {direct['rps']:.0f} | "
                     f"{gw['rps'] / direct['rps']:.2f} | {gw['cpu_generator']:.2f} / {gw['cpu_gateway']:.2f} / "
                     f"{services(gw):.2f} / {gw['cpu_others']:.2f} | {direct['cpu_generator']:.2f} / "
                     f"{services(direct):.2f} / {direct['cpu_others']:.2f} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="length of one measuring phase")
    parser.add_argument("--rounds", type=int, default=5, help="alternating phases per side (medians kept)")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--documents", type=int, default=30)
    parser.add_argument("--private-broker", action="store_true")
    parser.add_argument("--pairs", default="page,listing,api", help="which pairs to measure (comma-separated)")
    parser.add_argument("--floors", action="store_true",
                        help="also measure the api pair through a byte relay and a bare aiohttp proxy")
    parser.add_argument("--gateway-workers", type=int, default=1,
                        help="also measure a second gateway with GATEWAY_WORKERS=N (N > 1)")
    parser.add_argument("--key-cache-off", action="store_true",
                        help="also measure a second gateway with GATEWAY_API_KEY_CACHE_SECONDS=0")
    args = parser.parse_args()
    database_url = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    amqp_url = os.environ.get("TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
    with tempfile.TemporaryDirectory(prefix="bench-gateway-") as workdir:
        node = None
        if args.private_broker:
            from tests.integration.events.rabbit_node import RabbitNode

            node = RabbitNode(Path(workdir) / "rabbit")
            asyncio.run(node.start())
            amqp_url = node.amqp_url
        system = System(database_url=database_url, amqp_url=amqp_url, workdir=Path(workdir),
                        logs_dir=Path(workdir) / "logs")
        extra = []
        try:
            system.start()
            gateways = [("gateway x1", system.base_url, system.gateway.process.pid)]
            if args.gateway_workers > 1:
                second, base = start_second_gateway(system, f"gateway-x{args.gateway_workers}", Path(workdir),
                                                    workers=str(args.gateway_workers))
                extra.append(second)
                gateways.append((f"gateway x{args.gateway_workers}", base, second.pid))
            if args.key_cache_off:
                second, base = start_second_gateway(system, "gateway-no-key-cache", Path(workdir),
                                                    api_key_cache_seconds="0")
                extra.append(second)
                gateways.append(("gateway, key cache off", base, second.pid))
            floors = []
            if args.floors:
                for kind, label in (("relay", "floor: byte relay"), ("aiohttp", "floor: bare aiohttp proxy")):
                    process, base = start_floor(kind, system.by_name("tenancy").url, Path(workdir))
                    extra.append(process)
                    floors.append((label, base, process.pid))
            results = asyncio.run(run(system, args, gateways, floors))
        except BaseException:
            print(system.logs(30), file=sys.stderr)
            raise
        finally:
            for process in extra:
                process.terminate()
                process.wait(30)
            system.stop()
            if node is not None:
                asyncio.run(node.stop())
    print(report(results, args))
    print(f"load average at the end: {os.getloadavg()[0]:.2f} (1 min) on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
