"""Soak run: simulated people walking the pages for a fixed time against the whole system.

    .venv/bin/python bench/soak.py [--people 20] [--seconds 180] [--documents 20] [--private-broker]
    .venv/bin/python bench/soak.py --smoke          # 5 people, 20 s (tests/resilience/test_soak_smoke.py)

What runs (nothing faked): the five real processes (tests/e2e/system.py: fresh databases, RabbitMQ,
an SMTP sink), one tenant onboarded through the public API with a residence, ``--documents`` PDFs
published to it and provisional credentials for six accounts per person. Each person activates an
account through the pages (provisional credentials, email, password, the link from the email), then
loops login -> dashboard listing -> download (bytes checked) -> logout, and activates a fresh
account every fifth round while there are some left. All people run concurrently.

Reported: error count (must be 0), p50/p99 per step, the resident memory (RSS) of every service at
start and end, and at the end the outbox backlog of each producer and the depth of every consumer
queue (must drain to 0). Exit status 1 if an error happened or something did not drain.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aio_pika
import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.system import System, Tenant
from tests.resilience.support import StepFailed, Walker, unique_email

ACTIVATE_EVERY = 25


def rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def memory(system: System) -> dict[str, float]:
    return {s.name: rss_mib(s.process.pid) for s in system.services if s.process and s.process.poll() is None}


def prepare(system: System, people: int, documents: int, seconds: float) -> tuple[Tenant, list[tuple[str, str]]]:
    """A tenant, one residence with an account per credential, its documents, the credentials."""
    tenant = system.new_tenant(name="Syndic de l'Endurance")
    # Enough fresh accounts for an activation every ACTIVATE_EVERY rounds for the whole run.
    refs = [f"S{n}" for n in range(people * max(6, int(seconds / 4)))]
    tenant.put_directory({
        "residences": [{"ref": "R1", "name": "Résidence de l'Endurance", "address": "1 rue du Test, 75001 Paris"}],
        "lots": [{"ref": f"L{r}", "residence_ref": "R1", "number": str(n + 1), "kind": "appartement"}
                 for n, r in enumerate(refs)],
        "accounts": [{"ref": r, "role": "coproprietaire", "display_name": f"M. {r}", "lot_refs": [f"L{r}"],
                      "council": False} for r in refs],
    })
    for number in range(documents):
        tenant.upload_pdf(title=f"Procès-verbal {number}", category="AG_PV", audience={"residence_ref": "R1"},
                          date=f"20{20 + number % 6}-0{1 + number % 9}-12")
    issued = tenant.issue_credentials(*refs)
    return tenant, [(issued[r]["login"], issued[r]["password"]) for r in refs]


class Run:
    def __init__(self, system: System, tenant: Tenant, credentials: list, seconds: float) -> None:
        self.system, self.tenant, self.credentials = system, tenant, list(credentials)
        self.deadline = time.monotonic() + seconds
        self.timings: dict[str, list[float]] = {}
        self.samples: list[tuple[str, float, float]] = []
        self.errors: list[str] = []
        self.rounds = 0
        self.activations = 0

    async def person(self, number: int) -> None:
        walker: Walker | None = None
        email = ""
        round_ = 0
        while time.monotonic() < self.deadline:
            try:
                if walker is None or (round_ % ACTIVATE_EVERY == 0 and self.credentials):
                    if walker is not None:
                        self._keep(walker)
                        await walker.close()
                    if not self.credentials:
                        break
                    login, password = self.credentials.pop()
                    walker, email = Walker(self.system.base_url, self.tenant), unique_email(f"soak{number}")
                    await walker.activate(self.system, login, password, email)
                    self.activations += 1
                await walker.login(email)
                listed = await walker.listing()
                if not listed:
                    raise StepFailed("listing", 200, "no document listed")
                body = await walker.download(listed[round_ % len(listed)])
                if not body.startswith(b"%PDF"):
                    raise StepFailed("download", 200, "not the PDF")
                await walker.logout()
                self.rounds += 1
            except Exception as exc:  # counted and reported; the person goes on with a fresh session
                self.errors.append(f"person {number}: {exc!r}"[:400])
                if walker is not None:
                    await walker.close()
                walker = None
            round_ += 1
        if walker is not None:
            self._keep(walker)
            await walker.close()

    def _keep(self, walker: Walker) -> None:
        for step, values in walker.timings.items():
            self.timings.setdefault(step, []).extend(values)
        self.samples.extend(walker.samples)


async def drained(system: System, timeout: float, unroutable: dict) -> dict[str, int]:
    """Wait until every outbox and consumer queue is empty (or ``timeout``); return what is left."""
    names = set()
    for service in system.services:
        if service.log_path and service.log_path.exists():
            names.update(re.findall(r'"queue": "(' + re.escape(system.exchange) + r'\.[^"]+)"',
                                    service.log_path.read_text(errors="replace")))
    deadline = time.monotonic() + timeout
    while True:
        left: dict[str, int] = {}
        for name in ("identity", "tenancy", "documents"):
            conn = await asyncpg.connect(system.by_name(name).database_url)
            try:
                # Events of a type no queue is bound to stay pending by design (docs/events.md,
                # "Unroutable events"): reported apart, they are not a backlog.
                left[f"outbox {name}"] = await conn.fetchval(
                    "SELECT count(*) FROM outbox WHERE published_at IS NULL"
                    " AND coalesce(last_error, '') NOT LIKE 'unroutable%'")
                unroutable[name] = await conn.fetchval(
                    "SELECT string_agg(DISTINCT type, ',') FROM outbox WHERE published_at IS NULL"
                    " AND last_error LIKE 'unroutable%'")
            finally:
                await conn.close()
        conn = await asyncpg.connect(system.by_name("notifier").database_url)
        try:
            left["notifier digest items"] = await conn.fetchval("SELECT count(*) FROM digest_items")
        finally:
            await conn.close()
        connection = await aio_pika.connect(system.amqp_url)
        async with connection:
            channel = await connection.channel()
            for queue in sorted(names):
                declared = await channel.declare_queue(queue, passive=True)
                left[f"queue {queue.removeprefix(system.exchange + '.')}"] = declared.declaration_result.message_count
        if not any(left.values()) or time.monotonic() > deadline:
            return left
        await asyncio.sleep(0.5)


def percentile(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0] * 1000 if values else float("nan")
    return statistics.quantiles(values, n=100)[q - 1] * 1000


def report(run: Run, args, rss_start: dict, rss_end: dict, left: dict, elapsed: float, unroutable: dict) -> str:
    lines = [f"soak: {args.people} people, {args.seconds:.0f} s, {args.documents} documents; "
             f"{run.rounds} rounds (login, listing, download, logout), {run.activations} activations in "
             f"{elapsed:.0f} s; load average {os.getloadavg()[0]:.1f}",
             f"errors: {len(run.errors)}", "",
             "| step | count | p50 ms | p99 ms | p50 last third / first third |", "|---|---:|---:|---:|---:|"]
    started = run.deadline - args.seconds
    for step in ("activation", "activation.email", "activation.password", "verify", "login", "listing",
                 "download", "logout"):
        values = run.timings.get(step, [])
        # Drift: the same step's median at the end of the run against its beginning (1.0 = no drift).
        first = [v for s, v, at in run.samples if s == step and at < started + args.seconds / 3]
        last = [v for s, v, at in run.samples if s == step and at >= started + 2 * args.seconds / 3]
        drift = statistics.median(last) / statistics.median(first) if first and last else float("nan")
        lines.append(f"| {step} | {len(values)} | {percentile(values, 50):.1f} | {percentile(values, 99):.1f} "
                     f"| {drift:.2f} |")
    lines += ["", "| service | RSS start MiB | RSS end MiB |", "|---|---:|---:|"]
    for name in sorted(rss_start):
        lines.append(f"| {name} | {rss_start[name]:.0f} | {rss_end.get(name, float('nan')):.0f} |")
    lines += ["", "left at the end (must be 0): " + ", ".join(f"{k} {v}" for k, v in sorted(left.items()))]
    never = {k: v for k, v in unroutable.items() if v}
    if never:
        lines.append("pending because no queue is bound to their type (not a backlog): "
                     + ", ".join(f"{k}: {v}" for k, v in sorted(never.items())))
    lines += [f"  {e}" for e in run.errors[:10]]
    return "\n".join(lines)


async def soak(system: System, args) -> tuple[str, bool]:
    tenant, credentials = await asyncio.to_thread(prepare, system, args.people, args.documents, args.seconds)
    rss_start = memory(system)
    run = Run(system, tenant, credentials, args.seconds)
    started = time.monotonic()
    await asyncio.gather(*(run.person(n) for n in range(args.people)))
    elapsed = time.monotonic() - started
    unroutable: dict[str, str | None] = {}
    left = await drained(system, timeout=60, unroutable=unroutable)
    rss_end = memory(system)
    ok = not run.errors and not any(left.values()) and not system.dead_services() and run.rounds > 0
    return report(run, args, rss_start, rss_end, left, elapsed, unroutable), ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=180)
    parser.add_argument("--documents", type=int, default=20)
    parser.add_argument("--smoke", action="store_true", help="5 people, 20 s, 5 documents")
    parser.add_argument("--private-broker", action="store_true", help="a RabbitMQ node of the run's own")
    args = parser.parse_args()
    if args.smoke:
        args.people, args.seconds, args.documents = 5, 20, 5
    database_url = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    amqp_url = os.environ.get("TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
    with tempfile.TemporaryDirectory(prefix="soak-") as workdir:
        node = None
        if args.private_broker:
            from tests.integration.events.rabbit_node import RabbitNode

            node = RabbitNode(Path(workdir) / "rabbit")
            asyncio.run(node.start())
            amqp_url = node.amqp_url
        system = System(database_url=database_url, amqp_url=amqp_url, workdir=Path(workdir),
                        extra_env={"IDENTITY_LOGIN_DELAY_AFTER_FAILURES": "1000",
                                   "IDENTITY_LOGIN_LOCK_AFTER_FAILURES": "2000"})
        try:
            system.start()
            text, ok = asyncio.run(soak(system, args))
        finally:
            system.stop()
            if node is not None:
                asyncio.run(node.stop(kill=True))
    print(text)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
