"""Event backbone benchmark: outbox -> relay -> RabbitMQ -> consumer, next to bare aio-pika loops.

    .venv/bin/python bench/events.py [--publish-events 10000] [--events 3000] [--paced 600] [--rate 200]
                                     [--rounds 5]

Everything is real and local: PostgreSQL (a throwaway database) and RabbitMQ (a throwaway
exchange and queues, deleted at the end). Each measurement runs ``--rounds`` times,
alternating ours and the reference, and the median is reported.

1. Relay alone: N rows preloaded in the outbox, then a relay (common.relay) starts; events/s =
   N / time until the broker confirmed and the relay marked the last one sent. Reference: a bare
   aio-pika publisher of the same N bodies (persistent, mandatory, publisher confirms, a sliding
   window of 500 confirms in flight) to the same exchange and quorum queue.
2. End to end, burst: 8 writers commit N events (one transaction each) while the relay and a
   Consumer (common.consumer, prefetch 16, its handler inserts one row) run; events/s = N /
   (first write -> last handled), latency = handled - written, p50/p99. Reference: the bare
   windowed publisher and a bare consume + ack loop (prefetch 16) on the same quorum-queue
   arguments; latency = consumed - published.
3. End to end, paced: ``--paced`` events at ``--rate`` per second (latency without queueing),
   against the same bare loops paced the same way.
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
from datetime import UTC, datetime

import aio_pika
import asyncpg

from common.consumer import Consumer, declare_topology, queue_names
from common.db import create_pool, migrate
from common.events import write_event
from common.logging import configure_logging
from common.relay import Relay
from common.service import common_track
from common.testing import create_test_database, drop_test_database

DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
AMQP_URL = os.environ.get("TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
TYPE = "bench.happened"
PAYLOAD = {"person_id": str(uuid.uuid4()), "email": "jeanne.martin@example.fr", "tenant_id": str(uuid.uuid4()),
           "reset_url": "http://localhost:8080/password/reset?client=C1&societe=S1&token=" + "x" * 43}
WINDOW = 500
PREFETCH = 16


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Bench:
    def __init__(self, dsn: str, pool: asyncpg.Pool, exchange: str) -> None:
        self.dsn, self.pool, self.exchange = dsn, pool, exchange
        self.queues = queue_names("bench", exchange=exchange, retry_count=1)
        self.bare_queue = f"{exchange}.bare"
        self.writes_per_second: list[float] = []  # how fast the writers committed, burst runs only

    async def setup(self) -> None:
        self.connection = await aio_pika.connect(AMQP_URL)
        self.channel = await self.connection.channel(publisher_confirms=True, on_return_raises=True)
        await declare_topology(self.channel, self.queues, exchange=self.exchange, routing_keys=[TYPE])
        self.events = await self.channel.get_exchange(self.exchange)
        # The bare reference queue: same quorum arguments as a consumer's main queue.
        bare = await self.channel.declare_queue(self.bare_queue, durable=True, arguments={
            "x-queue-type": "quorum", "x-delivery-limit": 10})
        await bare.bind(self.events, routing_key="bare.#")

    async def teardown(self) -> None:
        for name in (self.queues.main, self.queues.parked, *self.queues.retries, self.bare_queue):
            await self.channel.queue_delete(name)
        await self.channel.exchange_delete(self.exchange)
        await self.connection.close()

    async def reset(self) -> None:
        await self.pool.execute("TRUNCATE outbox, processed_events, bench_handled")
        for name in (self.queues.main, self.bare_queue):
            await (await self.channel.get_queue(name)).purge()

    # -- references -------------------------------------------------------------------------
    async def bare_publish(self, count: int, *, routing_key: str, rate: float | None = None,
                           stamp: bool = False) -> float:
        """Publish ``count`` bodies with a sliding window of confirms; return the elapsed seconds."""
        window = asyncio.Semaphore(WINDOW)
        tasks = []
        started = time.perf_counter()

        async def one(i: int) -> None:
            try:
                body = {"id": str(uuid.uuid4()), "type": TYPE, "version": 1, "payload": PAYLOAD,
                        "occurred_at": datetime.now(UTC).isoformat(), "t": time.time() if stamp else 0}
                await self.events.publish(aio_pika.Message(json.dumps(body).encode(),
                                                           delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                                          routing_key=routing_key, mandatory=True)
            finally:
                window.release()

        for i in range(count):
            if rate:
                await _pace(started, i, rate)
            await window.acquire()
            tasks.append(asyncio.create_task(one(i)))
        await asyncio.gather(*tasks)
        return time.perf_counter() - started

    async def bare_loop(self, count: int, *, rate: float | None = None) -> tuple[float, list[float]]:
        """Bare publish + consume/ack loop; return (messages/s, latencies)."""
        connection = await aio_pika.connect(AMQP_URL)
        latencies: list[float] = []
        done = asyncio.Event()
        last = [0.0]

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            body = json.loads(message.body)
            await message.ack()
            latencies.append(time.time() - body["t"])
            last[0] = time.perf_counter()
            if len(latencies) >= count:
                done.set()

        async with connection:
            channel = await connection.channel()
            await channel.set_qos(prefetch_count=PREFETCH)
            queue = await channel.get_queue(self.bare_queue)
            await queue.consume(on_message)
            started = time.perf_counter()
            await self.bare_publish(count, routing_key="bare.happened", rate=rate, stamp=True)
            await asyncio.wait_for(done.wait(), 300)
        return count / (last[0] - started), latencies

    # -- ours -------------------------------------------------------------------------------
    async def relay_alone(self, count: int) -> float:
        rows = [(uuid.uuid4(), TYPE, 1, datetime.now(UTC), None, None, PAYLOAD) for _ in range(count)]
        await self.pool.executemany(
            "INSERT INTO outbox (id, type, version, occurred_at, tenant_id, correlation_id, payload)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7)", rows)
        relay = Relay(self.pool, amqp_url=AMQP_URL, exchange=self.exchange)
        await relay._connect()  # connection setup is not publishing: leave it out of the timing
        started = time.perf_counter()
        await relay.drain()  # exactly what the relay's loop does when woken with rows pending
        elapsed = time.perf_counter() - started
        assert not await self.pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        await relay.stop()
        return count / elapsed

    async def end_to_end(self, count: int, *, rate: float | None = None, writers: int = 8) -> tuple[float, list[float]]:
        latencies: list[float] = []
        done = asyncio.Event()
        last = [0.0]

        async def handler(conn: asyncpg.Connection, envelope) -> None:
            await conn.execute("INSERT INTO bench_handled (event_id) VALUES ($1)", envelope.id)

        consumer = Consumer("bench", amqp_url=AMQP_URL, exchange=self.exchange, routing_keys=[TYPE],
                            pool=self.pool, handler=handler, retry_delays=(1,), prefetch=PREFETCH)
        original = consumer._handle

        async def timed(envelope):
            handled = await original(envelope)
            latencies.append((datetime.now(UTC) - envelope.occurred_at).total_seconds())
            last[0] = time.perf_counter()
            if len(latencies) >= count:
                done.set()
            return handled

        consumer._handle = timed
        relay = Relay(self.pool, amqp_url=AMQP_URL, exchange=self.exchange, listen_dsn=self.dsn)
        await consumer.start()
        await relay.start()
        started = time.perf_counter()
        counter = iter(range(count))

        async def writer() -> None:
            for i in counter:
                if rate:
                    await _pace(started, i, rate)
                async with self.pool.acquire() as conn, conn.transaction():
                    await write_event(conn, type=TYPE, payload=PAYLOAD)

        await asyncio.gather(*(writer() for _ in range(1 if rate else writers)))
        self.writes_per_second.append(count / (time.perf_counter() - started))
        await asyncio.wait_for(done.wait(), 300)
        await relay.stop()
        await consumer.stop()
        return count / (last[0] - started), latencies


async def _pace(started: float, i: int, rate: float) -> None:
    delay = started + i / rate - time.perf_counter()
    if delay > 0:
        await asyncio.sleep(delay)


async def run(args) -> dict:
    dsn = await create_test_database(DATABASE_URL, prefix="bench")
    exchange = f"bench.events.{uuid.uuid4().hex[:10]}"
    keys = ("relay", "bare_publish", "writes", "e2e", "bare_loop", "paced", "bare_paced")
    results: dict[str, list] = {k: [] for k in keys}
    try:
        await migrate(dsn, [common_track()])
        pool = await create_pool(dsn, max_size=24)
        await pool.execute("CREATE TABLE bench_handled (event_id uuid PRIMARY KEY)")
        bench = Bench(dsn, pool, exchange)
        await bench.setup()
        try:
            async def publish_rate() -> float:
                return args.publish_events / await bench.bare_publish(args.publish_events, routing_key=TYPE)

            phases = [
                ("relay", lambda: bench.relay_alone(args.publish_events)),
                ("bare_publish", publish_rate),
                ("e2e", lambda: bench.end_to_end(args.events)),
                ("bare_loop", lambda: bench.bare_loop(args.events)),
                ("paced", lambda: bench.end_to_end(args.paced, rate=args.rate)),
                ("bare_paced", lambda: bench.bare_loop(args.paced, rate=args.rate)),
            ]
            for round_no in range(args.rounds):
                for key, phase in phases:
                    await bench.reset()
                    result = await asyncio.wait_for(phase(), 300)
                    results[key].append(result)
                    shown = result if isinstance(result, float) else result[0]
                    print(f"round {round_no + 1} {key}: {shown:,.0f}/s", file=sys.stderr, flush=True)
                    if key == "e2e":
                        results["writes"].append(bench.writes_per_second.pop())
        finally:
            await bench.teardown()
            await pool.close()
    finally:
        await drop_test_database(dsn)
    return results


def summarize(results: dict, args) -> str:
    def rate(key: str) -> float:
        values = [r if isinstance(r, float) else r[0] for r in results[key]]
        return statistics.median(values)

    def lat(key: str, q: float) -> float:
        return statistics.median(pct(r[1], q) for r in results[key]) * 1000

    relay, bare_pub = rate("relay"), rate("bare_publish")
    round_ratios = [r / b for r, b in zip(results["relay"], results["bare_publish"], strict=True)]
    per_round = " ".join(f"{x:.2f}" for x in round_ratios)
    e2e, bare_loop = rate("e2e"), rate("bare_loop")
    lines = [
        f"publish-only={args.publish_events} burst={args.events} paced={args.paced}@{args.rate}/s "
        f"rounds={args.rounds} (medians; publish ratio = median of per-round ratios {per_round})",
        "| measurement | ours | bare aio-pika (same run) | ratio |",
        "|---|---|---|---|",
        f"| publish throughput: relay from outbox vs windowed-confirm publish | {relay:,.0f} ev/s | "
        f"{bare_pub:,.0f} msg/s | {statistics.median(round_ratios):.2f}x |",
        f"| end-to-end throughput, burst (outbox insert -> handled) | {e2e:,.0f} ev/s | "
        f"{bare_loop:,.0f} msg/s | {e2e / bare_loop:.2f}x |",
        f"| (bound) outbox writes alone during the burst, 8 writers, one commit each | {rate('writes'):,.0f} ev/s "
        f"| - | - |",
        f"| end-to-end latency p50 / p99, burst | {lat('e2e', .5):.0f} / {lat('e2e', .99):.0f} ms | "
        f"{lat('bare_loop', .5):.0f} / {lat('bare_loop', .99):.0f} ms | "
        f"{lat('e2e', .5) / max(lat('bare_loop', .5), 0.001):.1f}x / "
        f"{lat('e2e', .99) / max(lat('bare_loop', .99), 0.001):.1f}x |",
        f"| end-to-end latency p50 / p99, paced {args.rate:.0f}/s | {lat('paced', .5):.1f} / "
        f"{lat('paced', .99):.1f} ms | {lat('bare_paced', .5):.1f} / {lat('bare_paced', .99):.1f} ms | "
        f"{lat('paced', .5) / max(lat('bare_paced', .5), 0.001):.1f}x / "
        f"{lat('paced', .99) / max(lat('bare_paced', .99), 0.001):.1f}x |",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=3000, help="events per end-to-end burst")
    parser.add_argument("--publish-events", type=int, default=10000, help="events per publish-only run")
    parser.add_argument("--paced", type=int, default=600)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    configure_logging("bench", level="WARNING", json=True)
    results = asyncio.run(run(args))
    print(summarize(results, args))


if __name__ == "__main__":
    main()
