"""Relay behaviour under faults: crash before marking sent, concurrent replicas, unroutable events, purge."""

from __future__ import annotations

from collections import Counter

from common.testing import wait_until

HANDLED = "SELECT count(*) FROM handled WHERE consumer = $1"
PENDING = "SELECT count(*) FROM outbox WHERE published_at IS NULL"


def _equals(pool, expected, sql, *args):
    async def check():
        return await pool.fetchval(sql, *args) == expected

    return check


async def _record(name):
    async def handler(conn, envelope):
        await conn.execute("INSERT INTO handled (event_id, consumer) VALUES ($1, $2)", envelope.id, name)

    return handler


class RelayCrash(Exception):
    pass


async def test_relay_crash_between_confirm_and_marking_sent_publishes_twice_and_is_handled_once(backbone, spy):
    consumer = backbone.consumer("twice", await _record("twice"))
    await consumer.start()
    relay = backbone.relay()
    crashes = []

    async def crash_once(rows):
        # The broker confirmed the batch; the process dies before the rows are marked sent.
        if not crashes:
            crashes.append([r["id"] for r in rows])
            raise RelayCrash

    relay._after_confirm = crash_once
    await relay.start()
    [event_id] = await backbone.write(1)

    await wait_until(_equals(backbone.pool, 0, PENDING), timeout=15, message="event marked sent after the crash")
    await wait_until(lambda: len(spy.message_ids) == 2, timeout=10, message="two publications")
    assert crashes == [[event_id]]
    assert spy.message_ids == [str(event_id), str(event_id)]
    await wait_until(_equals(backbone.pool, 1, HANDLED, "twice"), timeout=10, message="handled")
    # Give the duplicate time to arrive: it must be deduplicated, never handled again.
    await wait_until(lambda: consumer.metrics.messages.labels("twice", "duplicate")._value.get() == 1,
                     timeout=10, message="duplicate acknowledged")
    assert await backbone.pool.fetchval(HANDLED, "twice") == 1


async def test_two_relays_on_the_same_outbox_publish_each_event_once(backbone, spy):
    first = backbone.relay(name="relay-a", batch_size=20)
    second = backbone.relay(name="relay-b", batch_size=20)
    await first.start()
    await second.start()
    ids = await backbone.write(300)

    await wait_until(lambda: len(spy.message_ids) >= 300, timeout=30, message="300 publications")
    await wait_until(_equals(backbone.pool, 0, PENDING), timeout=10, message="outbox drained")
    duplicates = [k for k, n in Counter(spy.message_ids).items() if n > 1]
    assert duplicates == []
    assert set(spy.message_ids) == {str(i) for i in ids}
    assert first.metrics.published._value.get() + second.metrics.published._value.get() == 300


async def test_unroutable_event_stays_pending_then_is_published_once_a_consumer_binds(backbone):
    relay = backbone.relay(unroutable_backoff=(0.2, 0.4), sweep_interval=0.2)
    await relay.start()
    [event_id] = await backbone.write(1)

    async def returned():
        row = await backbone.pool.fetchrow("SELECT * FROM outbox WHERE id = $1", event_id)
        return row if row["attempts"] >= 2 else None

    row = await wait_until(returned, timeout=10, message="event returned by the broker twice")
    assert row["published_at"] is None
    assert row["last_error"].startswith("unroutable")
    assert relay.metrics.failures.labels("unroutable")._value.get() >= 2

    consumer = backbone.consumer("late", await _record("late"))
    await consumer.start()
    await wait_until(_equals(backbone.pool, 1, HANDLED, "late"), timeout=10, message="handled once bound")
    await wait_until(_equals(backbone.pool, 0, PENDING), timeout=10, message="marked sent")
    row = await backbone.pool.fetchrow("SELECT * FROM outbox WHERE id = $1", event_id)
    assert row["published_at"] is not None
    assert row["last_error"] is None


async def test_optional_event_with_no_queue_bound_is_settled_and_mandatory_one_waits(backbone):
    relay = backbone.relay(unroutable_backoff=(0.2, 0.4), sweep_interval=0.2,
                           optional_types={"test.noticed"})
    await relay.start()
    [optional] = await backbone.write(1, type="test.noticed")
    [mandatory] = await backbone.write(1, type="test.happened")

    async def settled():
        row = await backbone.pool.fetchrow("SELECT * FROM outbox WHERE id = $1", optional)
        return row if row["published_at"] is not None else None

    row = await wait_until(settled, timeout=10, message="optional event marked sent without a queue")
    assert row["last_error"] is None
    pending = await backbone.pool.fetchrow("SELECT * FROM outbox WHERE id = $1", mandatory)
    assert pending["published_at"] is None  # still waiting for a consumer: never dropped


async def test_purge_deletes_only_sent_rows_older_than_the_retention(backbone):
    consumer = backbone.consumer("purge", await _record("purge"))
    await consumer.start()
    relay = backbone.relay()
    await relay.start()
    old, recent = await backbone.write(2)
    await wait_until(_equals(backbone.pool, 0, PENDING), timeout=10, message="published")
    await relay.stop()
    await backbone.pool.execute("UPDATE outbox SET published_at = now() - interval '8 days' WHERE id = $1", old)
    # A pending row older than the retention is never purged.
    await backbone.pool.execute("INSERT INTO outbox (id, type, occurred_at, payload, created_at) "
                                "VALUES (gen_random_uuid(), 'test.stuck', now(), '{}', now() - interval '9 days')")

    assert await relay.purge() == 1
    remaining = {r["id"] for r in await backbone.pool.fetch("SELECT id FROM outbox WHERE type = 'test.happened'")}
    assert remaining == {recent}
    assert await backbone.pool.fetchval(PENDING) == 1


async def test_the_relay_is_woken_by_notify_not_by_its_sweep_and_survives_losing_the_listen_connection(backbone):
    consumer = backbone.consumer("notified", await _record("notified"))
    await consumer.start()
    # A sweep far beyond the test's deadlines: only LISTEN/NOTIFY can make the relay publish in time.
    relay = backbone.relay(sweep_interval=120)
    await relay.start()
    await wait_until(lambda: relay.connected, timeout=10, message="relay connected")
    await backbone.write(1)
    await wait_until(_equals(backbone.pool, 1, HANDLED, "notified"), timeout=5, message="handled via NOTIFY")

    # The database drops the listening connection (restart, failover): the relay notices and listens again.
    killed = await backbone.pool.fetchval(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE datname = current_database() AND query LIKE 'LISTEN%'")
    assert killed == 1
    await wait_until(lambda: _listening(backbone), timeout=10, message="listening again")
    await backbone.write(1)
    await wait_until(_equals(backbone.pool, 2, HANDLED, "notified"), timeout=5, message="handled after re-listen")


async def _listening(backbone) -> bool:
    return await backbone.pool.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'") == 1
