"""Outbox -> relay -> exchange -> consumer, against the real PostgreSQL and RabbitMQ."""

from __future__ import annotations

import contextlib
import uuid

import asyncpg
from aiohttp import web
from prometheus_client import generate_latest

from common.consumer import install_consumer
from common.db import POOL
from common.events import Envelope, write_event, write_events
from common.http import METRICS_REGISTRY
from common.relay import install_relay
from common.settings import ServiceSettings
from common.testing import wait_until

HANDLED_COUNT = "SELECT count(*) FROM handled WHERE consumer = $1"


async def record(conn: asyncpg.Connection, envelope: Envelope, consumer: str = "happy") -> None:
    await conn.execute("INSERT INTO handled (event_id, consumer, seq) VALUES ($1, $2, $3)",
                       envelope.id, consumer, envelope.payload["seq"])


async def test_each_committed_event_is_handled_exactly_once_and_rolled_back_ones_never(backbone):
    consumer = backbone.consumer("happy", record)
    await consumer.start()
    assert consumer.connected
    relay = backbone.relay()
    await relay.start()

    rolled_back_id = None

    class Abort(Exception):
        pass

    try:
        async with backbone.pool.acquire() as conn, conn.transaction():
            rolled_back_id = (await write_event(conn, type="test.happened", payload={"seq": -1})).id
            raise Abort
    except Abort:
        pass
    ids = await backbone.write(200)

    await wait_until(lambda: backbone.pool.fetchval(HANDLED_COUNT, "happy"), timeout=30,
                     message="first event handled")
    await wait_until(lambda: _equals(backbone.pool.fetchval(HANDLED_COUNT, "happy"), 200), timeout=30,
                     message="200 events handled")
    rows = await backbone.pool.fetch("SELECT event_id, count(*) AS n FROM handled GROUP BY event_id")
    assert {r["event_id"] for r in rows} == set(ids)
    assert all(r["n"] == 1 for r in rows)
    assert rolled_back_id not in {r["event_id"] for r in rows}
    assert await backbone.pool.fetchval("SELECT count(*) FROM processed_events WHERE consumer = 'happy'") == 200
    await wait_until(lambda: _equals(backbone.pool.fetchval(
        "SELECT count(*) FROM outbox WHERE published_at IS NULL"), 0), message="outbox drained")
    # The consumer stops after its in-flight work; nothing is left unacknowledged in its queue.
    await consumer.stop()
    await relay.stop()


async def _equals(value, expected) -> bool:
    return (await value) == expected


async def test_installed_in_an_app_the_relay_and_consumer_run_with_it_and_expose_metrics(
        aiohttp_client, db, amqp_url, exchange_name):
    dsn, pool = db
    from common.consumer import Consumer, queue_names
    from tests.integration.events.conftest import delete_topology

    settings = ServiceSettings(database_url=dsn, amqp_url=amqp_url, events_exchange=exchange_name)
    app = web.Application()
    from prometheus_client import CollectorRegistry

    app[METRICS_REGISTRY] = CollectorRegistry()

    async def pool_ctx(app):
        app[POOL] = pool
        yield

    app.cleanup_ctx.append(pool_ctx)

    def factory(app: web.Application) -> Consumer:
        return Consumer("app", amqp_url=amqp_url, exchange=exchange_name, routing_keys=["test.happened"],
                        pool=app[POOL], handler=lambda conn, env: record(conn, env, "app"))

    install_consumer(app, factory)
    install_relay(app, settings)
    client = await aiohttp_client(app)
    try:
        await backbone_write(pool, 3)
        await wait_until(lambda: _equals(pool.fetchval(HANDLED_COUNT, "app"), 3), timeout=20,
                         message="3 events handled through the app")
        # The relay counts after marking the rows sent, which may be after the consumer's commit.
        await wait_until(lambda: "outbox_published_events_total 3.0" in generate_latest(app[METRICS_REGISTRY]).decode(),
                         timeout=10, message="published metric")
        metrics = generate_latest(app[METRICS_REGISTRY]).decode()
        assert 'events_consumed_total{consumer="app",outcome="handled"} 3.0' in metrics
        assert "outbox_pending_events" in metrics
        assert "outbox_publish_latency_seconds_count 3.0" in metrics
    finally:
        await client.close()
        await delete_topology(amqp_url, exchange_name, [queue_names("app", exchange=exchange_name, retry_count=4)])


async def backbone_write(pool, count):
    for seq in range(count):
        async with pool.acquire() as conn, conn.transaction():
            await write_event(conn, type="test.happened", payload={"seq": seq})


async def test_events_written_in_bulk_as_json_text_arrive_like_any_other(backbone):
    """common.events.write_events: one outbox row per payload text, in one round trip, committed or
    rolled back with the caller's transaction; the consumer reads each payload as the object it is."""
    seen: list[tuple] = []

    async def collect(conn: asyncpg.Connection, envelope: Envelope) -> None:
        seen.append((envelope.type, envelope.tenant_id, envelope.correlation_id, envelope.payload))
        await record(conn, envelope, "bulk")

    consumer = backbone.consumer("bulk", collect)
    await consumer.start()
    await backbone.relay().start()
    tenant = uuid.uuid4()
    async with backbone.pool.acquire() as conn:
        async with conn.transaction():
            assert await write_events(conn, type="test.bulk", payloads=[]) == 0
            assert await write_events(conn, type="test.bulk", tenant_id=tenant, correlation_id="req-1", payloads=[
                '{"seq":1,"name":"Élodie"}', '{"seq":2,"name":"Zoé"}', '{"seq":3,"nested":{"a":[1,2]}}']) == 3
        with contextlib.suppress(RuntimeError):
            async with conn.transaction():
                await write_events(conn, type="test.bulk", payloads=['{"seq":4}'])
                raise RuntimeError("rolled back")

    await wait_until(lambda: _equals(backbone.pool.fetchval(HANDLED_COUNT, "bulk"), 3), timeout=30,
                     message="3 bulk events handled")
    assert sorted(seen, key=lambda s: s[3]["seq"]) == [
        ("test.bulk", tenant, "req-1", {"seq": 1, "name": "Élodie"}),
        ("test.bulk", tenant, "req-1", {"seq": 2, "name": "Zoé"}),
        ("test.bulk", tenant, "req-1", {"seq": 3, "nested": {"a": [1, 2]}})]
    assert await backbone.pool.fetchval("SELECT count(*) FROM outbox WHERE type = 'test.bulk'") == 3
