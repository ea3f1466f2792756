"""Where the gateway hop's latency goes at one client, read from the services' own access lines.

    .venv/bin/python bench/hop_latency.py [--requests 1500] [--rounds 3]

What runs (nothing faked): the five real processes (tests/e2e/system.py), a tenant onboarded through
the public API, then one client sending ``GET /api/v1/tenants/{id}`` back to back, ``--requests`` at a
time, alternating directly at tenancy (an internal token signed ahead of time) and through the
gateway (the operator token), ``--rounds`` times. Every service writes one access line per request
with the time its middlewares held it (``duration_ms``, common/http.py), so each latency splits in
parts measured in the same requests, with no clock shared between processes:

- direct:  client latency = tenancy's handling + one HTTP exchange (client and tenancy's HTTP work,
           the kernel, two process wake-ups);
- gateway: client latency = the gateway's handling + one exchange between client and gateway, and
           the gateway's handling = tenancy's handling + a second exchange (gateway to tenancy) + the
           gateway's own work (authentication, token, headers).

Medians over all requests of a side. A busy host moves every part; the split holds within a run.
The CPU each process used per request of each side is read from /proc (bench/cpu.py) around the
same requests. ``--floor`` adds a third side, the bare aiohttp proxy of bench/hop_floor.py in front of
tenancy (no middleware, the gateway's kept connections): what the gateway's CPU per forwarded read
would be without authentication, routing, token, access line, metrics and response headers.
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
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.cpu import tree_cpu
from bench.gateway import Signer, start_floor
from tests.e2e.system import OPERATOR_TOKEN, System


async def drive(system: System, requests: int, rounds: int, floor: tuple[str, int] | None
                ) -> tuple[dict[str, list[float]], dict[str, dict[str, float]]]:
    """Client latencies (ms) per side, the sides alternating round by round, and the CPU (ms) each
    process used per request of each side."""
    tenant = system.new_tenant(name="Syndic de la Mesure")
    path = f"/api/v1/tenants/{tenant.id}"
    signer = Signer()
    tenancy = system.by_name("tenancy")
    direct_headers = lambda: signer.header("tenancy", act="operator", ip="127.0.0.1")  # noqa: E731
    sides = {
        "direct": (tenancy.url + path, direct_headers, {}),
        "gateway": (system.base_url + path, lambda: {"Authorization": f"Bearer {OPERATOR_TOKEN}"},
                    {"gateway": system.gateway.process.pid}),
    }
    if floor is not None:  # the floor passes the direct request's internal token on as it came
        sides["bare proxy"] = (floor[0] + path, direct_headers, {"bare proxy": floor[1]})
    latencies: dict[str, list[float]] = {side: [] for side in sides}
    cpu: dict[str, dict[str, float]] = {side: {} for side in sides}
    async with aiohttp.ClientSession() as http:
        for _ in range(rounds):
            for side, (url, headers, hop) in sides.items():
                pids = {**hop, "tenancy": tenancy.process.pid}
                before = {name: tree_cpu(pid) for name, pid in pids.items()}
                for _ in range(requests):
                    started = time.perf_counter()
                    async with http.get(url, headers=headers()) as response:
                        await response.read()
                        assert response.status == 200, (url, response.status)
                    latencies[side].append((time.perf_counter() - started) * 1000)
                for name, pid in pids.items():
                    used = (tree_cpu(pid) - before[name]) * 1000 / (requests * rounds)
                    cpu[side][name] = cpu[side].get(name, 0.0) + used
    return latencies, cpu


def handling_times(log: Path, route_prefix: str) -> list[float]:
    """``duration_ms`` of the successful API reads in one service's access lines, in order."""
    durations = []
    for line in log.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if (entry.get("event") == "http.request" and entry.get("status") == 200
                and str(entry.get("route", "")).startswith(route_prefix)):
            durations.append(entry["duration_ms"])
    return durations


def report(latencies: dict[str, list[float]], cpu: dict[str, dict[str, float]], gateway: list[float],
           tenancy: list[float], requests: int, rounds: int) -> str:
    # tenancy's lines come in the order they were sent: per round, the direct ones, the forwarded ones,
    # then (with --floor) the bare proxy's.
    width = len(latencies)
    assert len(tenancy) == width * requests * rounds and len(gateway) == requests * rounds, (len(tenancy), len(gateway))
    direct_handling = [d for r in range(rounds) for d in tenancy[width * r * requests:(width * r + 1) * requests]]
    forwarded_handling = [d for r in range(rounds)
                          for d in tenancy[(width * r + 1) * requests:(width * r + 2) * requests]]
    median = statistics.median
    direct, through = median(latencies["direct"]), median(latencies["gateway"])
    at_gateway, at_tenancy_direct, at_tenancy_forwarded = median(gateway), median(direct_handling), median(
        forwarded_handling)
    rows = [
        ("client latency, direct", direct),
        ("client latency, through the gateway", through),
        ("**added by the hop**", through - direct),
        ("tenancy's handling, direct", at_tenancy_direct),
        ("tenancy's handling, forwarded", at_tenancy_forwarded),
        ("gateway's handling (tenancy's answer included)", at_gateway),
        ("one exchange client <-> tenancy (direct latency - tenancy's handling)", direct - at_tenancy_direct),
        ("one exchange client <-> gateway (latency - gateway's handling)", through - at_gateway),
        ("gateway -> tenancy and the gateway's own work (gateway's handling - tenancy's)",
         at_gateway - at_tenancy_forwarded),
    ]
    if "bare proxy" in latencies:
        rows.append(("added by the bare aiohttp proxy", median(latencies["bare proxy"]) - direct))
    rows += [(f"CPU per request, {side}: {name}", used)
             for side, by_name in cpu.items() for name, used in by_name.items()]
    lines = ["| part (p50, one client) | ms |", "|---|---|"]
    lines += [f"| {name} | {value:.3f} |" for name, value in rows]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1500, help="requests per side and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--floor", action="store_true", help="also through the bare aiohttp proxy of hop_floor.py")
    args = parser.parse_args()
    database_url = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    amqp_url = os.environ.get("TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
    with tempfile.TemporaryDirectory(prefix="bench-hop-latency-") as workdir:
        logs = Path(workdir) / "logs"
        system = System(database_url=database_url, amqp_url=amqp_url, workdir=Path(workdir), logs_dir=logs)
        floor = None
        try:
            system.start()
            if args.floor:
                floor, base = start_floor("aiohttp", system.by_name("tenancy").url, Path(workdir))
            latencies, cpu = asyncio.run(drive(system, args.requests, args.rounds,
                                               (base, floor.pid) if floor else None))
        except BaseException:
            print(system.logs(30), file=sys.stderr)
            raise
        finally:
            if floor is not None:
                floor.terminate()
                floor.wait(30)
            system.stop()
        print(report(latencies, cpu, handling_times(logs / "gateway.log", "/api/v1/"),
                     handling_times(logs / "tenancy.log", "/api/v1/tenants/"), args.requests, args.rounds))
    print(f"load average at the end: {os.getloadavg()[0]:.2f} (1 min) on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
