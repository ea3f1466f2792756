"""Email pipeline benchmark: events -> notifier process -> SMTP acceptance, next to bare consume+ack.

    .venv/bin/python bench/notifier.py [--events 3000] [--rounds 3] [--latency-events 800] [--rate 40]
                                       [--sink-pipelining | --compare-pipelining] [--baseline-root DIR]
                                       [--profile FILE] [--py-spy FILE]

What runs (all local, nothing faked): PostgreSQL and RabbitMQ; a notifier process
(``python -m services.notifier``, default settings) on throwaway databases and its own exchange;
an SMTP sink in its own process (aiosmtpd, counts and drops); tenancy stood in by a small aiohttp
server in this process (branding is cached, so it is asked once).

1. Throughput: N password-reset events are preloaded into the notifier's queue, then the
   notifier starts; mails/s = N / (last - first SMTP acceptance) from the deliveries table.
   The sink counts connections and commands (per email), and the CPU time the notifier and the
   sink processes spent in the phase is read from /proc (per email).
2. References in the same round: a bare aio-pika consume + ack loop on N messages of the same
   size (same broker, same quorum-queue arguments, same prefetch) -> messages/s; and SMTP alone:
   the same sender pool pushing N copies of one prebuilt email to the same sink -> mails/s
   (with and without PIPELINING when the sink advertises it). Steps 1-2 repeat --rounds times;
   the load of a shared machine moves between rounds, so compare within a round.
3. Latency: a producer commits events to an outbox (one per transaction, at --rate per second);
   the relay (common.relay) publishes them; latency = SMTP acceptance (deliveries.sent_at) - the
   producer's commit time, p50/p99.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aio_pika
import asyncpg
from aiohttp import web

from common.consumer import declare_topology, queue_names
from common.db import create_pool, migrate
from common.events import Envelope, write_event
from common.relay import Relay
from common.service import common_track
from common.testing import create_test_database, drop_test_database, free_port
from services.notifier import rendering
from services.notifier.__main__ import TRACKS
from services.notifier.domain import EVENT_TYPES, PASSWORD_RESET, Branding, parse_payload
from services.notifier.smtp import SmtpSender

ROOT = Path(__file__).resolve().parent.parent

DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
AMQP_URL = os.environ.get("TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
PUBLIC_BASE_URL = "http://localhost:8080"
PREFETCH = 32


def sink_main(port: int, counts_path: str, pipelining: bool) -> None:
    """The SMTP sink process: accept everything, keep nothing; count connections and commands.

    SIGUSR1 writes the counts so far to ``counts_path`` (JSON). With ``pipelining`` the sink
    advertises PIPELINING (RFC 2920): aiosmtpd reads commands line by line from a buffered
    stream, so it serves pipelined groups correctly, it only does not say so by default.
    """
    import json
    from collections import Counter

    from aiosmtpd.controller import Controller

    counts: Counter[str] = Counter()

    class Count:
        async def handle_EHLO(self, server, session, envelope, hostname, responses):
            counts["EHLO"] += 1
            session.host_name = hostname
            return [*responses[:-1], "250-PIPELINING", responses[-1]] if pipelining else responses

        async def handle_MAIL(self, server, session, envelope, address, mail_options):
            counts["MAIL"] += 1
            envelope.mail_from = address
            envelope.mail_options.extend(mail_options)
            return "250 OK"

        async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
            counts["RCPT"] += 1
            envelope.rcpt_tos.append(address)
            return "250 OK"

        async def handle_DATA(self, server, session, envelope):
            counts["DATA"] += 1
            return "250 OK"

        async def handle_RSET(self, server, session, envelope):
            counts["RSET"] += 1
            return "250 OK"

        async def handle_NOOP(self, server, session, envelope, arg):
            counts["NOOP"] += 1
            return "250 OK"

    class Counting(Controller):
        def factory(self):
            counts["connections"] += 1
            return super().factory()

    wanted = {signal.SIGTERM, signal.SIGINT, signal.SIGUSR1}
    signal.pthread_sigmask(signal.SIG_BLOCK, wanted)  # before the server thread starts: it inherits the mask
    controller = Counting(Count(), hostname="127.0.0.1", port=port)
    controller.start()
    counts.clear()  # Controller.start() opens one connection of its own to check the server answers
    while signal.sigwait(wanted) == signal.SIGUSR1:
        partial = Path(counts_path + ".part")
        partial.write_text(json.dumps(counts))
        partial.replace(counts_path)
    controller.stop()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_ticks() -> tuple[int, int]:
    """(busy, total) CPU ticks of the whole machine so far (Linux /proc/stat; idle and iowait are not busy)."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return sum(values) - values[3] - values[4], sum(values)


def sink_counts(sink: subprocess.Popen, path: Path) -> dict[str, int]:
    """Ask the sink process for its counts so far (blocking, a fraction of a second)."""
    import json

    path.unlink(missing_ok=True)
    sink.send_signal(signal.SIGUSR1)
    for _ in range(100):
        if path.exists():
            return json.loads(path.read_text())
        time.sleep(0.05)
    raise TimeoutError("the sink did not write its counts")


def reset_event(tenant_id: uuid.UUID, n: int) -> Envelope:
    token = uuid.uuid4().hex
    payload = {
        "person_id": str(uuid.uuid4()), "email": f"bench.{n}.{token[:6]}@example.org", "tenant_id": str(tenant_id),
        "reset_url": f"{PUBLIC_BASE_URL}/password/reset?client=BENCH&societe=01&token={token}",
        "expires_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
    }
    return Envelope(id=uuid.uuid4(), type=PASSWORD_RESET, version=1, occurred_at=datetime.now(UTC),
                    tenant_id=tenant_id, correlation_id=uuid.uuid4().hex, payload=payload)


async def tenancy_standin(tenant_id: uuid.UUID) -> tuple[web.AppRunner, str]:
    async def tenant(request: web.Request) -> web.Response:
        return web.json_response({
            "id": str(tenant_id), "client_code": "BENCH", "societe_code": "01", "name": "Agence Bench",
            "kind": "gerance", "status": "active",
            "support": {"email": "aide@bench.fr", "phone": "01", "hours": "9-18"},
            "branding": {"primary_color": "#225588"}, "settings": {}})

    app = web.Application()
    app.router.add_get("/internal/tenants/{id}", tenant)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}"


async def publish_all(exchange: aio_pika.abc.AbstractExchange, events: list[Envelope]) -> None:
    window = 200
    for start in range(0, len(events), window):
        await asyncio.gather(*(exchange.publish(
            aio_pika.Message(e.to_bytes(), delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                             content_type="application/json", message_id=str(e.id)),
            routing_key=e.type) for e in events[start:start + window]))


async def bare_consume(channel: aio_pika.abc.AbstractChannel, body: bytes, count: int) -> float:
    """messages/s of consume + ack on a quorum queue like the notifier's."""
    name = f"bench.bare.{uuid.uuid4().hex[:8]}"
    await channel.declare_queue(name, durable=True, arguments={"x-queue-type": "quorum"})
    await asyncio.gather(*(channel.default_exchange.publish(
        aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT), routing_key=name)
        for _ in range(count)))
    connection = await aio_pika.connect(AMQP_URL)
    consume_channel = await connection.channel()
    await consume_channel.set_qos(prefetch_count=PREFETCH)
    q = await consume_channel.get_queue(name)
    done = asyncio.Event()
    seen = 0
    first = last = 0.0

    async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        nonlocal seen, first, last
        await message.ack()
        seen += 1
        last = time.perf_counter()
        if seen == 1:
            first = last
        if seen == count:
            done.set()

    await q.consume(on_message)
    await asyncio.wait_for(done.wait(), 300)
    await connection.close()
    await channel.queue_delete(name)
    return (count - 1) / (last - first)


async def smtp_only(port: int, count: int, *, pipelining: bool = True) -> float:
    """mails/s of the same sender pool pushing one prebuilt email to the same sink (no queue, no database)."""
    brand = Branding.from_tenant({"id": str(uuid.uuid4()), "client_code": "BENCH", "societe_code": "01",
                                  "name": "Agence Bench", "branding": {"primary_color": "#225588"}})
    event = reset_event(brand.id, 0)
    payload = parse_payload(event.type, event.payload)
    rendered = rendering.reset_email(payload, brand, issued_at=event.occurred_at, public_base_url=PUBLIC_BASE_URL)
    message = rendering.build_message(rendered, sender="webmaster@moncompte.immo", recipient=payload.email,
                                      message_id="<bench@moncompte.immo>", date=event.occurred_at, brand=brand)
    sender = SmtpSender(host="127.0.0.1", port=port, pool_size=8, pipelining=pipelining)
    slots = asyncio.Semaphore(PREFETCH)

    async def one() -> None:
        async with slots:
            await sender.send(message, sender="webmaster@moncompte.immo", recipient=payload.email)

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(count)))
    elapsed = time.perf_counter() - started
    await sender.close()
    return count / elapsed


async def wait_sent(pool: asyncpg.Pool, count: int, timeout: float = 900) -> None:
    deadline = time.monotonic() + timeout
    while await pool.fetchval("SELECT count(*) FROM deliveries WHERE status = 'sent'") < count:
        if time.monotonic() > deadline:
            raise TimeoutError("the notifier did not deliver everything in time")
        await asyncio.sleep(0.2)


def start_notifier(env: dict[str, str], log_path: Path, profile: str | None = None,
                   root: Path = ROOT) -> subprocess.Popen:
    log = log_path.open("ab")
    # --profile runs the notifier under cProfile (stats written when it stops).
    prefix = ["-m", "cProfile", "-o", profile] if profile else []
    return subprocess.Popen([sys.executable, *prefix, "-m", "services.notifier"], cwd=root,
                            env={**env, "PYTHONPATH": str(root)}, stdout=log, stderr=subprocess.STDOUT)


async def wait_ready(port: int, process: subprocess.Popen) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as session:
        for _ in range(600):
            if process.poll() is not None:
                raise RuntimeError("notifier exited; see its log")
            try:
                async with session.get(f"http://127.0.0.1:{port}/health/ready") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise TimeoutError("notifier not ready")


async def wait_listening(port: int) -> None:
    """Wait for the sink to listen (it counts and answers SIGUSR1 from then on)."""
    for _ in range(200):
        try:
            _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        return
    raise TimeoutError("the SMTP sink did not start")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@dataclass
class Throughput:
    """One throughput phase of a notifier process: preloaded queue -> SMTP accepted."""

    variant: str
    mails_per_second: float
    notifier_cpu_ms: float
    sink_cpu_ms: float
    machine_busy: float  # share of both cores busy during the phase (every process, ours or not)
    per_mail: dict[str, float]
    connections: int


async def throughput(args: argparse.Namespace, *, variant: str, env: dict[str, str], pool: asyncpg.Pool,
                     exchange: aio_pika.abc.AbstractExchange, sink: subprocess.Popen, counts_path: Path,
                     tenant_id: uuid.UUID, http_port: int, log_path: Path, profile: bool) -> Throughput:
    events = [reset_event(tenant_id, n) for n in range(args.events)]
    already = await pool.fetchval("SELECT count(*) FROM deliveries WHERE status = 'sent'")
    await publish_all(exchange, events)
    counts_before = await asyncio.to_thread(sink_counts, sink, counts_path)
    root = Path(args.baseline_root) if variant == "baseline" else ROOT
    notifier = start_notifier(env, log_path, args.profile if profile else None, root=root)
    try:
        await wait_ready(http_port, notifier)
        # CPU from here (the start-up imports excluded), divided by the emails sent from here.
        cpu_before = cpu_seconds(notifier.pid), cpu_seconds(sink.pid)
        machine_before = machine_ticks()
        sent_before = await pool.fetchval("SELECT count(*) FROM deliveries WHERE status = 'sent'")
        spy = None
        if args.py_spy and profile:  # a sampling profile of the throughput phase only (collapsed stacks)
            py_spy = str(Path(sys.executable).parent / "py-spy")
            spy = subprocess.Popen([py_spy, "record", "--pid", str(notifier.pid), "--format", "raw",  # noqa: ASYNC220
                                    "--rate", "250", "--output", args.py_spy, "--nonblocking"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        await wait_sent(pool, already + args.events)
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            await asyncio.to_thread(spy.wait, 30)
        cpu_after = cpu_seconds(notifier.pid), cpu_seconds(sink.pid)
        machine_after = machine_ticks()
        counts_after = await asyncio.to_thread(sink_counts, sink, counts_path)
    finally:
        notifier.send_signal(signal.SIGTERM)
        await asyncio.to_thread(notifier.wait, 40)
    first, last = await pool.fetchrow("SELECT min(sent_at), max(sent_at) FROM deliveries WHERE event_id = ANY($1)",
                                      [e.id for e in events])
    counts = {k: counts_after.get(k, 0) - counts_before.get(k, 0) for k in counts_after}
    measured = already + args.events - sent_before
    notifier_cpu, sink_cpu = ((after - before) / measured * 1000
                              for before, after in zip(cpu_before, cpu_after, strict=True))
    busy = (machine_after[0] - machine_before[0]) / max(1, machine_after[1] - machine_before[1])
    return Throughput(variant, (args.events - 1) / (last - first).total_seconds(), notifier_cpu, sink_cpu, busy,
                      {k: round(v / args.events, 2) for k, v in sorted(counts.items()) if k != "connections" and v},
                      counts.get("connections", 0))


async def main(args: argparse.Namespace) -> None:
    notifier_dsn = await create_test_database(DATABASE_URL, "bench_notifier")
    producer_dsn = await create_test_database(DATABASE_URL, "bench_producer")
    exchange_name = f"bench.events.{uuid.uuid4().hex[:8]}"
    tenant_id = uuid.uuid4()
    smtp_port, http_port = free_port(), free_port()
    counts_path = ROOT / "var" / f"bench-sink-{smtp_port}.json"
    (ROOT / "var" / "log").mkdir(parents=True, exist_ok=True)
    sink = subprocess.Popen([sys.executable, __file__, "sink", str(smtp_port), str(counts_path),  # noqa: ASYNC220
                             "1" if args.sink_pipelining else "0"], cwd=ROOT)
    runner, tenancy_url = await tenancy_standin(tenant_id)
    await wait_listening(smtp_port)
    connection = await aio_pika.connect(AMQP_URL)
    channel = await connection.channel(publisher_confirms=True)
    names = queue_names("notifier", exchange=exchange_name, retry_count=4)
    notifier = None
    log_path = ROOT / "var" / "log" / "bench-notifier.log"
    # With --compare-pipelining each round runs the notifier with SMTP_PIPELINING on, then off.
    variants = ["pipelining", "no-pipelining"] if args.compare_pipelining else ["default"]
    if args.baseline_root:  # the same rounds also run the notifier of another checkout (before a change)
        variants.append("baseline")
    try:
        await migrate(notifier_dsn, TRACKS)
        await migrate(producer_dsn, [common_track()])
        pool = await create_pool(notifier_dsn, max_size=2)
        await declare_topology(channel, names, exchange=exchange_name, routing_keys=EVENT_TYPES)
        exchange = await channel.get_exchange(exchange_name)
        env = {**os.environ, "NOTIFIER_DATABASE_URL": notifier_dsn, "NOTIFIER_TENANCY_URL": tenancy_url,
               "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp_port), "EVENTS_EXCHANGE": exchange_name,
               "PUBLIC_BASE_URL": PUBLIC_BASE_URL, "NOTIFIER_PORT": str(http_port), "LOG_JSON": "true",
               "NOTIFIER_CONSUMER_PREFETCH": str(PREFETCH), "AMQP_URL": AMQP_URL}
        envs = {"default": env, "baseline": env, "pipelining": {**env, "SMTP_PIPELINING": "true"},
                "no-pipelining": {**env, "SMTP_PIPELINING": "false"}}
        print(f"events: {args.events} per throughput phase, {args.rounds} rounds; sink advertises PIPELINING: "
              f"{args.sink_pipelining}; {args.latency_events} at {args.rate}/s (latency)", flush=True)
        results: list[tuple[int, Throughput]] = []
        references: list[tuple[float, dict[str, float]]] = []
        for n in range(1, args.rounds + 1):
            # 1. throughput from a preloaded queue, one notifier process per variant; the order
            # rotates between rounds so that no variant always runs first (or last) in a round.
            shift = (n - 1) % len(variants)
            for variant in variants[shift:] + variants[:shift]:
                result = await throughput(args, variant=variant, env=envs[variant], pool=pool, exchange=exchange,
                                          sink=sink, counts_path=counts_path, tenant_id=tenant_id,
                                          http_port=http_port, log_path=log_path,
                                          profile=n == 1 and variant == variants[0])
                results.append((n, result))
                print(f"round {n} notifier [{variant}]: {result.mails_per_second:.0f} mails/s; CPU per email: "
                      f"notifier {result.notifier_cpu_ms:.2f} ms, sink {result.sink_cpu_ms:.2f} ms; machine "
                      f"{result.machine_busy:.0%} busy; sink saw "
                      f"{result.connections} connections, per email {result.per_mail}", flush=True)
            # 2. references in the same round: bare consume + ack, and the sender pool alone
            bare = await bare_consume(channel, reset_event(tenant_id, 0).to_bytes(), args.events)
            order = ((True, False) if n % 2 else (False, True)) if args.sink_pipelining else (False,)
            measured_smtp = {on: await smtp_only(smtp_port, args.events, pipelining=on) for on in order}
            smtp = {"pipelining" if on else "no-pipelining": measured_smtp[on] for on in sorted(order, reverse=True)}
            references.append((bare, smtp))
            print(f"round {n} reference bare consume+ack: {bare:.0f} msg/s; SMTP alone (pool of 8, prebuilt email): "
                  + ", ".join(f"{k} {v:.0f} mails/s" for k, v in smtp.items()), flush=True)

        # 3. latency: outbox commit -> SMTP acceptance, at a steady rate below capacity
        notifier = start_notifier(envs[variants[0]], log_path)
        await wait_ready(http_port, notifier)
        already = await pool.fetchval("SELECT count(*) FROM deliveries WHERE status = 'sent'")
        producer = await create_pool(producer_dsn, max_size=4)
        relay = Relay(producer, amqp_url=AMQP_URL, exchange=exchange_name, listen_dsn=producer_dsn,
                      sweep_interval=1.0)
        await relay.start()
        committed: dict[uuid.UUID, float] = {}
        interval = 1 / args.rate
        started = time.perf_counter()
        for n in range(args.latency_events):
            template = reset_event(tenant_id, n)
            async with producer.acquire() as conn, conn.transaction():
                written = await write_event(conn, type=template.type, payload=template.payload, tenant_id=tenant_id)
            committed[written.id] = time.time()
            pause = started + (n + 1) * interval - time.perf_counter()
            if pause > 0:
                await asyncio.sleep(pause)
        await wait_sent(pool, already + args.latency_events)
        await relay.stop()
        rows = await pool.fetch("SELECT event_id, sent_at FROM deliveries WHERE event_id = ANY($1::uuid[])",
                                list(committed))
        latencies = [(r["sent_at"].timestamp() - committed[r["event_id"]]) * 1000 for r in rows]
        await producer.close()
        await pool.close()

        print("\nsummary (medians over rounds; each ratio is taken within its round)")
        for variant in variants:
            mine = [(n, r) for n, r in results if r.variant == variant]
            rates = [r.mails_per_second for _, r in mine]
            ratios = [r.mails_per_second / references[n - 1][0] for n, r in mine]
            print(f"notifier [{variant}]: {statistics.median(rates):.0f} mails/s (rounds: "
                  f"{' '.join(f'{x:.0f}' for x in rates)}); ratio to bare consume+ack "
                  f"{statistics.median(ratios):.3f} (rounds: {' '.join(f'{x:.3f}' for x in ratios)}); CPU per email "
                  f"notifier {statistics.median(r.notifier_cpu_ms for _, r in mine):.2f} ms, sink "
                  f"{statistics.median(r.sink_cpu_ms for _, r in mine):.2f} ms")
        print(f"reference bare consume+ack: {statistics.median(b for b, _ in references):.0f} msg/s (rounds: "
              f"{' '.join(f'{b:.0f}' for b, _ in references)})")
        for key in references[0][1]:
            values = [smtp[key] for _, smtp in references]
            print(f"SMTP alone [{key}]: {statistics.median(values):.0f} mails/s (rounds: "
                  f"{' '.join(f'{v:.0f}' for v in values)})")
        print(f"latency outbox commit -> SMTP accepted [{variants[0]}]: p50 {statistics.median(latencies):.1f} ms, "
              f"p99 {percentile(latencies, 0.99):.1f} ms, max {max(latencies):.1f} ms")
    finally:
        if notifier is not None:
            notifier.send_signal(signal.SIGTERM)
            notifier.wait(timeout=40)
        for name in [names.main, names.parked, *names.retries]:
            try:
                await channel.queue_delete(name)
            except Exception:  # noqa: S112 - cleanup, best effort
                continue
        await channel.exchange_delete(exchange_name)
        await connection.close()
        await runner.cleanup()
        sink.send_signal(signal.SIGTERM)
        sink.wait(timeout=10)
        counts_path.unlink(missing_ok=True)
        await drop_test_database(notifier_dsn)
        await drop_test_database(producer_dsn)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "sink":
        sink_main(int(sys.argv[2]), sys.argv[3], sys.argv[4] == "1")
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--latency-events", type=int, default=800)
    parser.add_argument("--rate", type=float, default=40.0)
    parser.add_argument("--profile", help="write the notifier's cProfile stats to this file")
    parser.add_argument("--py-spy", help="write a py-spy sampling profile (raw collapsed stacks) of the "
                        "notifier during the throughput phase to this file (py-spy on PATH)")
    parser.add_argument("--sink-pipelining", action="store_true",
                        help="the sink advertises PIPELINING (as Postfix and most relays do)")
    parser.add_argument("--baseline-root", help="also run, in each round, the notifier of this checkout (e.g. "
                        "`git worktree`-free: `git archive main | tar -x -C DIR`), same interpreter")
    parser.add_argument("--rounds", type=int, default=3, help="throughput rounds, each with its references")
    parser.add_argument("--compare-pipelining", action="store_true",
                        help="each round runs the notifier with SMTP_PIPELINING=true then false (implies "
                             "--sink-pipelining)")
    arguments = parser.parse_args()
    arguments.sink_pipelining = arguments.sink_pipelining or arguments.compare_pipelining
    asyncio.run(main(arguments))
