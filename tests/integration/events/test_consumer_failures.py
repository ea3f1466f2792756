"""Consumer failure paths: retries on the delay schedule, parking, redelivery after a crash."""

from __future__ import annotations

import asyncio
import json
import time

import aio_pika

from common.consumer import PermanentError, TransientError
from common.parked import list_parked, replay_parked
from common.testing import wait_until

HANDLED = "SELECT count(*) FROM handled WHERE consumer = $1"


async def _count(pool, sql, *args) -> int:
    return await pool.fetchval(sql, *args)


def _equals(pool, expected, sql, *args):
    async def check():
        return await _count(pool, sql, *args) == expected

    return check


async def test_transient_failure_is_retried_on_the_delay_schedule_then_succeeds(backbone):
    attempts: list[float] = []

    async def flaky(conn, envelope):
        attempts.append(time.monotonic())
        if len(attempts) < 3:
            raise TransientError("smtp said 451")
        await conn.execute("INSERT INTO handled (event_id, consumer) VALUES ($1, 'flaky')", envelope.id)

    consumer = backbone.consumer("flaky", flaky, retry_delays=(0.3, 0.9, 5))
    await consumer.start()
    relay = backbone.relay()
    await relay.start()
    [event_id] = await backbone.write(1)

    await wait_until(_equals(backbone.pool, 1, HANDLED, "flaky"), timeout=15, message="handled after retries")
    assert len(attempts) == 3
    # Attempt 2 came after the first delay, attempt 3 after the second (never before).
    assert attempts[1] - attempts[0] >= 0.3
    assert attempts[2] - attempts[1] >= 0.9
    assert attempts[2] - attempts[1] < 4
    # The failed attempts rolled back their dedup record: exactly one remains.
    assert await _count(backbone.pool, "SELECT count(*) FROM processed_events WHERE event_id = $1", event_id) == 1
    assert await list_parked(backbone.amqp_url, consumer.queues.main) == []


async def test_retries_exhausted_then_parked_with_the_reason(backbone):
    calls = []

    async def always_down(conn, envelope):
        calls.append(envelope.id)
        raise ConnectionRefusedError("directory unreachable")

    consumer = backbone.consumer("down", always_down, retry_delays=(0.1, 0.2))
    await consumer.start()
    await backbone.relay().start()
    [event_id] = await backbone.write(1)

    async def parked():
        return await list_parked(backbone.amqp_url, consumer.queues.main)

    [message] = await wait_until(parked, timeout=15, message="message parked")
    assert len(calls) == 3  # first attempt + two retries
    assert message.message_id == str(event_id)
    assert message.reason == "retries_exhausted"
    assert "ConnectionRefusedError: directory unreachable" in message.detail
    assert message.attempts == 3
    assert json.loads(message.body)["id"] == str(event_id)
    assert await _count(backbone.pool, "SELECT count(*) FROM processed_events") == 0


async def test_permanent_failure_and_poison_message_are_parked_and_the_next_messages_still_handled(backbone):
    async def handler(conn, envelope):
        if envelope.payload.get("bad"):
            raise PermanentError("account 42 does not exist")
        await conn.execute("INSERT INTO handled (event_id, consumer) VALUES ($1, 'mixed')", envelope.id)

    consumer = backbone.consumer("mixed", handler)
    await consumer.start()
    await backbone.relay().start()

    # A poison message straight on the exchange: not JSON, then JSON with an unknown field.
    connection = await aio_pika.connect(backbone.amqp_url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.get_exchange(backbone.exchange)
        await exchange.publish(aio_pika.Message(b"{not json", message_id="poison-1"), routing_key="test.raw")
        await exchange.publish(aio_pika.Message(b'{"id": "x", "surprise": 1}', message_id="poison-2"),
                               routing_key="test.raw")
    [bad_id] = await backbone.write(1, bad=True)
    good_ids = await backbone.write(5)

    await wait_until(_equals(backbone.pool, 5, HANDLED, "mixed"), timeout=15, message="good events handled")

    async def three_parked():
        found = await list_parked(backbone.amqp_url, consumer.queues.main)
        return found if len(found) == 3 else None

    parked = {m.message_id: m for m in await wait_until(three_parked, timeout=10, message="3 parked")}
    assert parked[str(bad_id)].reason == "permanent_error"
    assert parked[str(bad_id)].detail == "account 42 does not exist"
    assert parked["poison-1"].reason == "invalid_envelope"
    assert parked["poison-2"].reason == "invalid_envelope"
    assert "invalid envelope" in parked["poison-2"].detail
    handled = {r["event_id"] for r in await backbone.pool.fetch("SELECT event_id FROM handled")}
    assert handled == set(good_ids)

    # Listing left them in place; replaying one event moves only it back, and it fails again.
    assert len(await list_parked(backbone.amqp_url, consumer.queues.parked)) == 3
    assert await replay_parked(backbone.amqp_url, consumer.queues.main, event_id=str(bad_id)) == 1
    await wait_until(lambda: _parked_at(backbone, consumer, str(bad_id), 1), timeout=10, message="re-parked")


async def _parked_at(backbone, consumer, message_id, _expected):
    found = await list_parked(backbone.amqp_url, consumer.queues.main)
    return len(found) == 3 and any(m.message_id == message_id and m.parked_at for m in found)


async def test_replayed_parked_message_is_handled_once_the_cause_is_fixed(backbone):
    broken = {"on": True}

    async def handler(conn, envelope):
        if broken["on"]:
            raise PermanentError("template missing")
        await conn.execute("INSERT INTO handled (event_id, consumer) VALUES ($1, 'fixable')", envelope.id)

    consumer = backbone.consumer("fixable", handler)
    await consumer.start()
    await backbone.relay().start()
    ids = await backbone.write(2)

    async def two_parked():
        return len(await list_parked(backbone.amqp_url, consumer.queues.main)) == 2

    await wait_until(two_parked, timeout=10, message="2 parked")
    broken["on"] = False
    assert await replay_parked(backbone.amqp_url, consumer.queues.main) == 2
    await wait_until(_equals(backbone.pool, 2, HANDLED, "fixable"), timeout=10, message="replayed handled")
    assert {r["event_id"] for r in await backbone.pool.fetch("SELECT event_id FROM handled")} == set(ids)
    assert await list_parked(backbone.amqp_url, consumer.queues.main) == []


async def test_consumer_crash_before_ack_redelivers_and_the_event_is_handled_once(backbone):
    calls = []

    async def handler(conn, envelope):
        calls.append(envelope.id)
        await conn.execute("INSERT INTO handled (event_id, consumer) VALUES ($1, 'crashy')", envelope.id)

    crashing = backbone.consumer("crashy", handler)
    crashed = asyncio.Event()

    async def crash(message):
        # The work is committed; the process dies before acking: its connection drops.
        crashed.set()
        await crashing._consume_conn.close()
        raise RuntimeError("crashed before ack")

    crashing._before_ack = crash
    await crashing.start()
    await backbone.relay().start()
    [event_id] = await backbone.write(1)
    await asyncio.wait_for(crashed.wait(), 10)
    await crashing.stop()
    assert calls == [event_id]

    survivor = backbone.consumer("crashy", handler)
    await survivor.start()

    async def queue_empty():
        connection = await aio_pika.connect(backbone.amqp_url)
        async with connection:
            channel = await connection.channel()
            queue = await channel.declare_queue(survivor.queues.main, passive=True)
            return queue.declaration_result.message_count == 0 and \
                queue.declaration_result.consumer_count == 1 and \
                survivor.metrics.messages.labels("crashy", "duplicate")._value.get() >= 1

    await wait_until(queue_empty, timeout=15, message="redelivered message acked as a duplicate")
    assert calls == [event_id]
    assert await _count(backbone.pool, HANDLED, "crashy") == 1


async def test_a_message_that_keeps_crashing_the_consumer_is_parked_by_the_delivery_limit(backbone):
    deliveries = []
    consumers = []

    async def crashing_handler(conn, envelope):
        # Simulates a process that dies while handling this message (before any commit).
        deliveries.append(envelope.id)
        await consumers[-1]._consume_conn.close()
        await consumers[-1]._publish_conn.close()
        raise RuntimeError("process died")

    [event_id] = await backbone.write(1)
    for _ in range(3):
        consumer = backbone.consumer("crashloop", crashing_handler, delivery_limit=1, reconnect_backoff=(60, 60))
        consumers.append(consumer)
        await consumer.start()
        if len(consumers) == 1:
            await backbone.relay().start()
        count = len(deliveries)
        parked = await list_parked(backbone.amqp_url, consumer.queues.main)
        if parked:
            break
        await wait_until(lambda c=count: len(deliveries) > c, timeout=10, message="delivered")
        await consumer.stop()

    async def parked_one():
        return await list_parked(backbone.amqp_url, consumers[0].queues.main)

    [message] = await wait_until(parked_one, timeout=10, message="parked by the delivery limit")
    assert message.message_id == str(event_id)
    assert message.reason == "delivery_limit"
    assert deliveries == [event_id, event_id]  # the first delivery and one redelivery (limit 1)
    assert await backbone.pool.fetchval(HANDLED, "crashloop") == 0


async def test_graceful_stop_finishes_the_message_in_flight_and_acks_it(backbone):
    started, release = asyncio.Event(), asyncio.Event()
    calls = []

    async def slow(conn, envelope):
        calls.append(envelope.id)
        started.set()
        await release.wait()
        await conn.execute("INSERT INTO handled (event_id, consumer) VALUES ($1, 'graceful')", envelope.id)

    consumer = backbone.consumer("graceful", slow)
    await consumer.start()
    await backbone.relay().start()
    [event_id] = await backbone.write(1)
    await asyncio.wait_for(started.wait(), 10)

    stopping = asyncio.create_task(consumer.stop())
    await asyncio.sleep(0)  # let stop() cancel the subscription before the handler finishes
    release.set()
    await asyncio.wait_for(stopping, 10)
    assert await backbone.pool.fetchval(HANDLED, "graceful") == 1

    # Acked before the connection closed: nothing is left for a next consumer.
    connection = await aio_pika.connect(backbone.amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(consumer.queues.main, passive=True)
        assert queue.declaration_result.message_count == 0
    assert calls == [event_id]
