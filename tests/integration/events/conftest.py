"""Fixtures for the event backbone: a migrated database, relays and consumers torn down after the test."""

from __future__ import annotations

import contextlib
import uuid

import aio_pika
import asyncpg
import pytest

from common.consumer import Consumer
from common.db import create_pool, migrate
from common.events import write_event
from common.relay import Relay
from common.service import common_track

_HANDLED_TABLE = """
CREATE TABLE handled (
    event_id uuid NOT NULL,
    consumer text NOT NULL,
    seq      integer
)
"""


@pytest.fixture
async def db(fresh_database):
    """(dsn, pool) of a fresh database with the common track and a ``handled`` side-effect table."""
    await migrate(fresh_database, [common_track()])
    pool = await create_pool(fresh_database, max_size=8)
    await pool.execute(_HANDLED_TABLE)
    yield fresh_database, pool
    await pool.close()


class Backbone:
    """Builds relays and consumers bound to this test's exchange, and tears them all down."""

    def __init__(self, dsn: str, pool: asyncpg.Pool, amqp_url: str, exchange: str) -> None:
        self.dsn, self.pool, self.amqp_url, self.exchange = dsn, pool, amqp_url, exchange
        self.relays: list[Relay] = []
        self.consumers: list[Consumer] = []

    def relay(self, **kwargs) -> Relay:
        kwargs.setdefault("amqp_url", self.amqp_url)
        kwargs.setdefault("listen_dsn", self.dsn)
        kwargs.setdefault("sweep_interval", 1.0)
        kwargs.setdefault("reconnect_backoff", (0.1, 0.5))
        relay = Relay(kwargs.pop("pool", self.pool), exchange=self.exchange, **kwargs)
        self.relays.append(relay)
        return relay

    def consumer(self, name: str, handler, *, routing_keys=("test.*",), **kwargs) -> Consumer:
        kwargs.setdefault("amqp_url", self.amqp_url)
        kwargs.setdefault("retry_delays", (0.2, 0.4))
        kwargs.setdefault("reconnect_backoff", (0.1, 0.5))
        consumer = Consumer(name, exchange=self.exchange, routing_keys=list(routing_keys), pool=self.pool,
                            handler=handler, **kwargs)
        self.consumers.append(consumer)
        return consumer

    async def write(self, count: int = 1, *, type: str = "test.happened", **payload) -> list[uuid.UUID]:
        """Write ``count`` events, each in its own committed transaction."""
        ids = []
        for seq in range(count):
            async with self.pool.acquire() as conn, conn.transaction():
                envelope = await write_event(conn, type=type, payload={"seq": seq, **payload})
            ids.append(envelope.id)
        return ids

    async def close(self) -> None:
        for consumer in self.consumers:
            with contextlib.suppress(Exception):
                await consumer.stop()
        for relay in self.relays:
            with contextlib.suppress(Exception):
                await relay.stop()
        await delete_topology(self.amqp_url, self.exchange, [c.queues for c in self.consumers])


async def delete_topology(amqp_url: str, exchange: str, all_queues) -> None:
    """Delete this test's queues and exchange from the shared broker."""
    with contextlib.suppress(Exception):
        connection = await aio_pika.connect(amqp_url)
        async with connection:
            channel = await connection.channel()
            for queues in all_queues:
                for name in (queues.main, queues.parked, *queues.retries):
                    with contextlib.suppress(Exception):
                        await channel.queue_delete(name)
            with contextlib.suppress(Exception):
                await channel.exchange_delete(exchange)


@pytest.fixture
async def backbone(db, amqp_url, exchange_name):
    dsn, pool = db
    backbone = Backbone(dsn, pool, amqp_url, exchange_name)
    yield backbone
    await backbone.close()


async def count(pool: asyncpg.Pool, sql: str, *args) -> int:
    return await pool.fetchval(sql, *args)


class Spy:
    """An exclusive queue bound to every routing key of the exchange: records each publication."""

    def __init__(self) -> None:
        self.message_ids: list[str] = []
        self._connection = None

    async def start(self, amqp_url: str, exchange: str) -> Spy:
        self._connection = await aio_pika.connect(amqp_url)
        channel = await self._connection.channel()
        events = await channel.declare_exchange(exchange, aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue("", exclusive=True)
        await queue.bind(events, routing_key="#")
        await queue.consume(self._on_message, no_ack=True)
        return self

    async def _on_message(self, message) -> None:
        self.message_ids.append(message.message_id)

    async def stop(self) -> None:
        if self._connection is not None:
            await self._connection.close()


@pytest.fixture
async def spy(backbone):
    spy = await Spy().start(backbone.amqp_url, backbone.exchange)
    yield spy
    await spy.stop()
