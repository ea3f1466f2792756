"""The outbox relay: publishes the events a service committed to its ``outbox`` table.

One background task per service process. It claims a batch of pending rows with ``FOR UPDATE
SKIP LOCKED`` (so several replicas never publish the same row at the same time), publishes all
of them at once as persistent, ``mandatory`` messages on a channel with publisher confirms (a
window of confirms in flight, not one round trip per event), and marks as sent, in the same
transaction, only the rows the broker confirmed. A crash between the confirm and the commit
publishes the event again later: consumers deduplicate on the event id.

It is woken within milliseconds by ``LISTEN outbox`` (the insert trigger notifies on commit)
and also sweeps every ``sweep_interval`` seconds in case a notification was missed. It
reconnects to the broker (and to the listening connection) with backoff, and deletes sent rows
older than ``retention``.

Unroutable events (no queue bound to their routing key yet, the broker returns them) are not
lost: they stay pending with ``last_error`` set and ``next_attempt_at`` pushed back with an
exponential backoff (``unroutable_backoff``), and each return is logged as a warning. The
exception is ``optional_types``: types that no service needs to receive (a notice for whoever may
listen, e.g. ``tenancy.tenant_onboarded``) are published without ``mandatory`` and count as sent
once the broker confirms them, routed or not. See docs/events.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from datetime import UTC, datetime, timedelta

import aio_pika
import asyncpg
from aio_pika.abc import AbstractConnection, AbstractExchange
from aiohttp import web
from aiormq.exceptions import DeliveryError, PublishError
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from pydantic import ValidationError

from common.db import POOL
from common.events import Envelope
from common.logging import get_logger
from common.metrics import collectors_for
from common.settings import ServiceSettings

__all__ = ["Relay", "install_relay", "retry_backoff"]

log = get_logger(__name__)

_CLAIM = """
SELECT id, type, version, occurred_at, tenant_id, correlation_id, payload, created_at, attempts
FROM outbox
WHERE published_at IS NULL AND (next_attempt_at IS NULL OR next_attempt_at <= now())
ORDER BY created_at
LIMIT $1
FOR UPDATE SKIP LOCKED
"""
_MARK_SENT = """
UPDATE outbox SET published_at = now(), attempts = attempts + 1, last_error = NULL, next_attempt_at = NULL
WHERE id = ANY($1::uuid[])
"""
_MARK_FAILED = """
UPDATE outbox SET attempts = attempts + 1, last_error = $2, next_attempt_at = now() + make_interval(secs => $3)
WHERE id = $1
"""
_COUNT_PENDING = "SELECT count(*) FROM outbox WHERE published_at IS NULL"
_PURGE_SENT = """
DELETE FROM outbox WHERE id IN (
    SELECT id FROM outbox WHERE published_at < now() - make_interval(secs => $1) LIMIT $2
)
"""


def retry_backoff(attempts: int, initial: float, cap: float) -> float:
    """Seconds before the next attempt at an event that failed ``attempts`` times: doubling, capped."""
    return min(initial * 2 ** min(max(attempts, 0), 30), cap)


def _failure_reason(exc: BaseException) -> str:
    if isinstance(exc, PublishError):
        return "unroutable"  # returned by the broker: no queue bound to the routing key yet
    if isinstance(exc, DeliveryError):
        return "nacked"
    if isinstance(exc, ValidationError):
        return "invalid"  # a row written around write_event: kept pending for an operator
    return "connection"


class _Metrics:
    def __init__(self, registry: CollectorRegistry | None) -> None:
        self.pending = Gauge("outbox_pending_events", "Outbox rows not yet published", registry=registry)
        self.published = Counter("outbox_published_events", "Events published and confirmed", registry=registry)
        self.latency = Histogram("outbox_publish_latency_seconds", "Outbox insert to broker confirm",
                                 registry=registry,
                                 buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300))
        self.failures = Counter("outbox_publish_failures", "Failed publish attempts by reason", ["reason"],
                                registry=registry)


def _metrics_for(registry: CollectorRegistry | None) -> _Metrics:
    # Several consumers (or relays) in one app share one set of collectors.
    return collectors_for(registry, _Metrics)


class Relay:
    """Publish ``pool``'s outbox to ``exchange``; see the module docstring.

    ``listen_dsn`` opens the dedicated ``LISTEN outbox`` connection (without it the relay only
    sweeps). ``start()`` never fails because the broker is down: it keeps retrying.
    """

    def __init__(self, pool: asyncpg.Pool, *, amqp_url: str, exchange: str, listen_dsn: str | None = None,
                 batch_size: int = 500, sweep_interval: float = 5.0, retention: timedelta = timedelta(days=7),
                 purge_interval: float = 3600.0, unroutable_backoff: tuple[float, float] = (1.0, 300.0),
                 reconnect_backoff: tuple[float, float] = (0.5, 30.0), publish_timeout: float = 30.0,
                 concurrency: int = 2,
                 registry: CollectorRegistry | None = None,
                 name: str = "relay", optional_types: Collection[str] = ()) -> None:
        self.pool = pool
        self.amqp_url = amqp_url
        self.exchange_name = exchange
        self.listen_dsn = listen_dsn
        self.batch_size = batch_size
        self.sweep_interval = sweep_interval
        self.retention = retention
        self.purge_interval = purge_interval
        self.unroutable_backoff = unroutable_backoff
        self.reconnect_backoff = reconnect_backoff
        self.publish_timeout = publish_timeout
        self.concurrency = concurrency
        self.name = name
        self.optional_types = frozenset(optional_types)
        self.metrics = _metrics_for(registry)
        self._connection: AbstractConnection | None = None
        self._exchange: AbstractExchange | None = None
        self._listener: asyncpg.Connection | None = None
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._last_purge = 0.0
        self._last_gauge = 0.0
        # Test seam: awaited after the broker confirmed a batch and before the rows are marked sent.
        self._after_confirm: Callable[[list[asyncpg.Record]], Awaitable[None]] | None = None

    @property
    def connected(self) -> bool:
        """True while the relay holds an open broker connection."""
        connection = self._connection
        # aio-pika only marks a connection closed when close() is called; `connected` follows the socket.
        return connection is not None and not connection.is_closed and connection.connected.is_set()

    async def start(self) -> None:
        """Start the background task (it connects, then publishes until :meth:`stop`)."""
        self._task = asyncio.create_task(self._run(), name=f"relay:{self.name}")

    async def stop(self) -> None:
        """Finish the batch in progress, then close the connections."""
        self._stopping.set()
        self._wake.set()
        if self._task is not None:
            try:
                # wait_for cancels the task on timeout: an unfinished batch rolls back and is
                # published again later (consumers deduplicate).
                await asyncio.wait_for(self._task, timeout=30)
            except TimeoutError:
                log.warning("relay.stop_timeout", relay=self.name)
        await self._close_broker()
        await self._close_listener()
        log.info("relay.stopped", relay=self.name)

    def wake(self) -> None:
        """Make the relay look at the outbox now (what a notification does)."""
        self._wake.set()

    async def _run(self) -> None:
        delay = self.reconnect_backoff[0]
        while not self._stopping.is_set():
            try:
                await self._connect()
                delay = self.reconnect_backoff[0]
                await self._loop()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.metrics.failures.labels("connection").inc()
                log.warning("relay.interrupted", relay=self.name, error=repr(exc), retry_in=delay)
                await self._close_broker()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), delay)
                delay = min(delay * 2, self.reconnect_backoff[1])

    async def _listen(self) -> None:
        if self.listen_dsn is not None and (self._listener is None or self._listener.is_closed()):
            await self._close_listener()
            self._listener = await asyncpg.connect(self.listen_dsn)
            await self._listener.add_listener("outbox", self._on_notify)
            # Losing it wakes the loop, which listens again (and sweeps, since notifications were missed).
            self._listener.add_termination_listener(self._on_notify)

    async def _connect(self) -> None:
        await self._listen()
        if not self.connected:
            self._connection = await aio_pika.connect(
                self.amqp_url, client_properties={"connection_name": f"{self.name}:publish"})
            channel = await self._connection.channel(publisher_confirms=True, on_return_raises=True)
            self._exchange = await channel.declare_exchange(self.exchange_name, aio_pika.ExchangeType.TOPIC,
                                                            durable=True)
            self._connection.close_callbacks.add(lambda *_: self._wake.set())
            log.info("relay.connected", relay=self.name, exchange=self.exchange_name)

    def _on_notify(self, *_args) -> None:
        self._wake.set()

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            if not self.connected:
                raise ConnectionError("broker connection lost")
            self._wake.clear()
            await self._listen()
            await self.drain()
            await self._housekeeping()
            if not self._wake.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.sweep_interval)

    async def drain(self) -> int:
        """Publish until no claimable row is left; return how many rows were claimed.

        One batch at a time while the outbox is nearly empty; when a batch comes back full (a
        backlog), ``concurrency`` batches run side by side so that the broker confirms one batch
        while the database claims or marks another (each in its own transaction, SKIP LOCKED).
        """
        claimed = await self.publish_batch()
        if claimed < self.batch_size:
            return claimed
        totals = [claimed]

        async def worker() -> None:
            while not self._stopping.is_set():
                count = await self.publish_batch()
                totals.append(count)
                if count < self.batch_size:
                    return

        async with asyncio.TaskGroup() as group:
            for _ in range(self.concurrency):
                group.create_task(worker())
        return sum(totals)

    async def publish_batch(self) -> int:
        """Claim, publish and mark one batch; return how many rows were claimed.

        Raises when the broker connection failed during the batch (after marking what was confirmed).
        """
        exchange = self._exchange
        if exchange is None:
            raise ConnectionError("not connected to the broker")
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(_CLAIM, self.batch_size)
            if not rows:
                return 0
            results = await asyncio.gather(*(self._publish(exchange, row) for row in rows), return_exceptions=True)
            if self._after_confirm is not None:
                await self._after_confirm(rows)
            sent, broken = [], None
            now = datetime.now(UTC)
            for row, result in zip(rows, results, strict=True):
                if result is None:
                    sent.append(row["id"])
                    self.metrics.latency.observe(max(0.0, (now - row["created_at"]).total_seconds()))
                    continue
                reason = _failure_reason(result)
                self.metrics.failures.labels(reason).inc()
                if reason == "connection":
                    broken = result
                    continue
                backoff = retry_backoff(row["attempts"], *self.unroutable_backoff)
                await conn.execute(_MARK_FAILED, row["id"], f"{reason}: {result}"[:500], backoff)
                log.warning("relay.event_not_published", reason=reason, event_id=str(row["id"]),
                            event_type=row["type"], attempts=row["attempts"] + 1, retry_in=backoff,
                            exchange=self.exchange_name)
            if sent:
                await conn.execute(_MARK_SENT, sent)
                self.metrics.published.inc(len(sent))
        if broken is not None:
            raise ConnectionError(f"broker connection failed while publishing: {broken!r}")
        return len(rows)

    async def _publish(self, exchange: AbstractExchange, row: asyncpg.Record) -> None:
        envelope = Envelope(id=row["id"], type=row["type"], version=row["version"], occurred_at=row["occurred_at"],
                            tenant_id=row["tenant_id"], correlation_id=row["correlation_id"], payload=row["payload"])
        message = aio_pika.Message(
            envelope.to_bytes(), content_type="application/json", delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=str(envelope.id), type=envelope.type, correlation_id=envelope.correlation_id,
        )
        await exchange.publish(message, routing_key=envelope.type,
                               mandatory=envelope.type not in self.optional_types, timeout=self.publish_timeout)

    async def _housekeeping(self) -> None:
        now = time.monotonic()
        if now - self._last_gauge >= min(self.sweep_interval, 5.0):
            self._last_gauge = now
            async with self.pool.acquire() as conn:
                self.metrics.pending.set(await conn.fetchval(_COUNT_PENDING))
        if now - self._last_purge >= self.purge_interval:
            self._last_purge = now
            await self.purge()

    async def purge(self) -> int:
        """Delete sent rows older than the retention period; return how many."""
        total = 0
        async with self.pool.acquire() as conn:
            while True:
                status = await conn.execute(_PURGE_SENT, self.retention.total_seconds(), 5000)
                deleted = int(status.split()[-1])
                total += deleted
                if deleted < 5000:
                    break
        if total:
            log.info("relay.purged", relay=self.name, deleted=total)
        return total

    async def _close_broker(self) -> None:
        connection, self._connection, self._exchange = self._connection, None, None
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.close()

    async def _close_listener(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(Exception):
                await listener.close()


def install_relay(app: web.Application, settings: ServiceSettings, *, optional_types: Collection[str] = (),
                  batch_size: int = 500) -> None:
    """Publish ``app[POOL]``'s outbox to ``settings.events_exchange`` for the app's lifetime.

    Call it after ``install_pool``. The relay has its own broker connection and its own
    ``LISTEN`` connection (to ``settings.database_url``); its metrics go to ``app[METRICS_REGISTRY]``.
    ``optional_types``: event types no service is required to receive (see the module docstring).
    ``batch_size``: rows claimed per batch (two batches may be in flight); lower it where events
    are large, since every claimed row is held decoded until the broker confirms it.
    """
    from common.http import METRICS_REGISTRY

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        relay = Relay(app[POOL], amqp_url=settings.amqp_url, exchange=settings.events_exchange,
                      listen_dsn=settings.database_url, registry=app.get(METRICS_REGISTRY),
                      optional_types=optional_types, batch_size=batch_size)
        await relay.start()
        yield
        await relay.stop()

    app.cleanup_ctx.append(ctx)
