"""Events written while RabbitMQ is down are published once it is back (a private node really stops)."""

from __future__ import annotations

import pytest

from common.testing import wait_until
from tests.integration.events.rabbit_node import RabbitNode

HANDLED = "SELECT count(*) FROM handled WHERE consumer = $1"
PENDING = "SELECT count(*) FROM outbox WHERE published_at IS NULL"


@pytest.fixture
async def rabbit(tmp_path):
    node = RabbitNode(tmp_path / "rabbit")
    await node.start()
    yield node
    await node.stop(kill=True)


def _equals(pool, expected, sql, *args):
    async def check():
        return await pool.fetchval(sql, *args) == expected

    return check


@pytest.mark.slow
async def test_events_written_while_the_broker_is_down_are_all_published_after_it_restarts(backbone, rabbit):
    async def handler(conn, envelope):
        await conn.execute("INSERT INTO handled (event_id, consumer) VALUES ($1, 'outage')", envelope.id)

    consumer = backbone.consumer("outage", handler, amqp_url=rabbit.amqp_url)
    await consumer.start()
    relay = backbone.relay(amqp_url=rabbit.amqp_url)
    await relay.start()
    before = await backbone.write(10)
    await wait_until(_equals(backbone.pool, 10, HANDLED, "outage"), timeout=15, message="handled before the outage")
    await wait_until(_equals(backbone.pool, 0, PENDING), timeout=10, message="marked sent before the outage")

    await rabbit.stop()
    await wait_until(lambda: not relay.connected and not consumer.connected, timeout=10,
                     message="relay and consumer saw the broker go")
    during = await backbone.write(50)
    # Nothing can be published while the broker is away: the events wait in the outbox.
    assert await backbone.pool.fetchval(PENDING) == 50

    await rabbit.start()
    await wait_until(_equals(backbone.pool, 60, HANDLED, "outage"), timeout=30, message="all handled after restart")
    await wait_until(_equals(backbone.pool, 0, PENDING), timeout=10, message="outbox drained")
    rows = await backbone.pool.fetch("SELECT event_id, count(*) AS n FROM handled GROUP BY event_id")
    assert {r["event_id"] for r in rows} == set(before) | set(during)
    assert all(r["n"] == 1 for r in rows)


@pytest.mark.slow
async def test_relay_and_consumer_started_before_the_broker_exists_catch_up_once_it_starts(backbone, tmp_path):
    node = RabbitNode(tmp_path / "late-rabbit")
    try:
        async def handler(conn, envelope):
            await conn.execute("INSERT INTO handled (event_id, consumer) VALUES ($1, 'early')", envelope.id)

        consumer = backbone.consumer("early", handler, amqp_url=node.amqp_url)
        await consumer.start()  # does not fail: keeps trying in the background
        relay = backbone.relay(amqp_url=node.amqp_url)
        await relay.start()
        ids = await backbone.write(5)
        assert not consumer.connected and not relay.connected
        assert await backbone.pool.fetchval(PENDING) == 5

        await node.start()
        await wait_until(_equals(backbone.pool, 5, HANDLED, "early"), timeout=30, message="handled once it started")
        assert {r["event_id"] for r in await backbone.pool.fetch("SELECT event_id FROM handled")} == set(ids)
    finally:
        await node.stop(kill=True)
