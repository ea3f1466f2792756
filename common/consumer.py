"""The consumer loop: one durable quorum queue per consumer, retries through delay queues, parking.

Topology of a consumer named ``N`` (names carry a prefix when the exchange is not the default
one, so that test exchanges never share queues; see :func:`queue_names`):

- ``N``: quorum queue bound to the events exchange for the consumer's routing keys, with an
  explicit delivery limit; a message redelivered more often than that (a consumer crashing on
  it again and again) is dead-lettered to ``N.parked``.
- ``N.retry.1`` ... ``N.retry.k``: delay queues without consumers. A transient failure at
  attempt ``i`` republishes the message to ``N.retry.i`` with a per-message TTL of
  ``retry_delays[i-1]``; when it expires the broker dead-letters it back to ``N`` (only ``N``:
  other consumers of the same event never see the retry).
- ``N.parked``: what failed for good (``PermanentError``, bad envelope, retries exhausted),
  with the reason in the ``x-parked-reason`` / ``x-parked-detail`` headers. ``python -m
  common.parked`` lists and replays it.

Each message is handled inside one database transaction that also inserts
``processed_events(consumer, event_id)``; a duplicate delivery finds the row and is acked
without calling the handler. The message is acked only after that transaction committed, so the
guarantee is at-least-once delivery with an exactly-once effect. See docs/events.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime

import aio_pika
import asyncpg
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractIncomingMessage, AbstractQueue
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram

from common.events import EXCHANGE, Envelope, EnvelopeError, parse_envelope
from common.logging import bind_context, get_logger
from common.metrics import collectors_for

__all__ = [
    "Consumer",
    "Handler",
    "PermanentError",
    "QueueNames",
    "TransientError",
    "declare_topology",
    "declared_queue_names",
    "install_consumer",
    "queue_names",
]

log = get_logger(__name__)

Handler = Callable[[asyncpg.Connection, Envelope], Awaitable[None]]

ATTEMPT_HEADER = "x-retry-attempt"
REASON_HEADER = "x-parked-reason"
DETAIL_HEADER = "x-parked-detail"
_DETAIL_MAX = 500


class TransientError(Exception):
    """Raise in a handler when a later attempt may succeed: retried on the delay schedule."""


class PermanentError(Exception):
    """Raise in a handler when no retry can succeed: the message is parked with this reason."""


class QueueNames:
    """The queue names of one consumer (see the module docstring)."""

    def __init__(self, main: str, retry_count: int) -> None:
        self.main = main
        self.retries = [f"{main}.retry.{n}" for n in range(1, retry_count + 1)]
        self.parked = f"{main}.parked"


def queue_names(name: str, *, exchange: str = EXCHANGE, queue_prefix: str | None = None,
                retry_count: int = 0) -> QueueNames:
    """Queue names of consumer ``name``: unprefixed on the default exchange, else ``<exchange>.<name>``."""
    if queue_prefix is None:
        queue_prefix = "" if exchange == EXCHANGE else f"{exchange}."
    return QueueNames(f"{queue_prefix}{name}", retry_count)


_MARK_PROCESSED = """
INSERT INTO processed_events (consumer, event_id) VALUES ($1, $2)
ON CONFLICT (consumer, event_id) DO NOTHING
RETURNING true
"""


class _Metrics:
    def __init__(self, registry: CollectorRegistry | None) -> None:
        self.messages = Counter("events_consumed", "Event messages by consumer and outcome",
                                ["consumer", "outcome"], registry=registry)
        self.duration = Histogram("events_handler_duration_seconds", "Handler transaction duration",
                                  ["consumer"], registry=registry,
                                  buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5))


def _metrics_for(registry: CollectorRegistry | None) -> _Metrics:
    # Several consumers (or relays) in one app share one set of collectors.
    return collectors_for(registry, _Metrics)


class Consumer:
    """Consume events for one handler; see the module docstring for the topology and guarantees.

    ``start()`` connects and declares the topology (when the broker is down it keeps retrying in
    the background instead of failing); ``stop()`` stops taking messages, lets in-flight ones
    finish, then closes both connections (one to consume, one to publish retries and parkings).
    """

    def __init__(self, name: str, *, amqp_url: str, exchange: str, routing_keys: list[str],
                 pool: asyncpg.Pool, handler: Handler,
                 retry_delays: Sequence[float] = (5, 30, 300, 1800), prefetch: int = 16,
                 delivery_limit: int = 10, queue_prefix: str | None = None,
                 stop_timeout: float = 30.0, reconnect_backoff: tuple[float, float] = (0.5, 30.0),
                 registry: CollectorRegistry | None = None) -> None:
        if not routing_keys:
            raise ValueError("a consumer needs at least one routing key")
        self.name = name
        self.amqp_url = amqp_url
        self.exchange = exchange
        self.routing_keys = list(routing_keys)
        self.pool = pool
        self.handler = handler
        self.retry_delays = [float(d) for d in retry_delays]
        self.prefetch = prefetch
        self.delivery_limit = delivery_limit
        self.stop_timeout = stop_timeout
        self.reconnect_backoff = reconnect_backoff
        self.queues = queue_names(name, exchange=exchange, queue_prefix=queue_prefix,
                                  retry_count=len(self.retry_delays))
        self.metrics = _metrics_for(registry)
        self._consume_conn: AbstractConnection | None = None
        self._publish_conn: AbstractConnection | None = None
        self._publish_channel: AbstractChannel | None = None
        self._queue: AbstractQueue | None = None
        self._consumer_tag: str | None = None
        self._lost = asyncio.Event()
        self._stopping = asyncio.Event()
        self._connected = asyncio.Event()
        self._inflight: set[asyncio.Task] = set()
        self._supervisor: asyncio.Task | None = None
        # Test seam: awaited after the handler's transaction committed and before the ack.
        self._before_ack: Callable[[AbstractIncomingMessage], Awaitable[None]] | None = None

    @property
    def connected(self) -> bool:
        """True while the consumer is attached to its queue."""
        return self._connected.is_set()

    async def start(self) -> None:
        """Connect and start consuming; on failure, log and keep retrying in the background."""
        try:
            await self._setup()
        except Exception as exc:
            log.warning("consumer.connect_failed", consumer=self.name, error=repr(exc))
            await self._teardown()
        self._supervisor = asyncio.create_task(self._supervise(), name=f"consumer:{self.name}")

    async def stop(self) -> None:
        """Stop consuming, let in-flight messages finish (up to ``stop_timeout``), then close."""
        self._stopping.set()
        if self._queue is not None and self._consumer_tag is not None:
            with contextlib.suppress(Exception):
                await self._queue.cancel(self._consumer_tag)
        if self._inflight:
            _done, pending = await asyncio.wait(set(self._inflight), timeout=self.stop_timeout)
            for task in pending:
                task.cancel()
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
        await self._teardown()
        log.info("consumer.stopped", consumer=self.name)

    async def _supervise(self) -> None:
        delay = self.reconnect_backoff[0]
        while not self._stopping.is_set():
            if self._connected.is_set():
                await self._lost.wait()
                if self._stopping.is_set():
                    return
                log.warning("consumer.connection_lost", consumer=self.name)
                await self._teardown()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)
            if self._stopping.is_set():
                return
            try:
                await self._setup()
                delay = self.reconnect_backoff[0]
            except Exception as exc:
                log.warning("consumer.reconnect_failed", consumer=self.name, error=repr(exc), retry_in=delay)
                await self._teardown()
                delay = min(delay * 2, self.reconnect_backoff[1])

    async def _setup(self) -> None:
        self._lost = asyncio.Event()
        self._consume_conn = await aio_pika.connect(
            self.amqp_url, client_properties={"connection_name": f"{self.name}:consume"})
        self._consume_conn.close_callbacks.add(self._on_close)
        self._publish_conn = await aio_pika.connect(
            self.amqp_url, client_properties={"connection_name": f"{self.name}:publish"})
        self._publish_conn.close_callbacks.add(self._on_close)
        self._publish_channel = await self._publish_conn.channel(publisher_confirms=True, on_return_raises=True)
        channel = await self._consume_conn.channel()
        await channel.set_qos(prefetch_count=self.prefetch)
        self._queue = await declare_topology(channel, self.queues, exchange=self.exchange,
                                             routing_keys=self.routing_keys, delivery_limit=self.delivery_limit)
        self._consumer_tag = await self._queue.consume(self._on_message)
        self._connected.set()
        log.info("consumer.started", consumer=self.name, queue=self.queues.main, routing_keys=self.routing_keys)

    def _on_close(self, *_args) -> None:
        self._connected.clear()
        self._lost.set()

    async def _teardown(self) -> None:
        self._connected.clear()
        for conn in (self._consume_conn, self._publish_conn):
            if conn is not None:
                conn.close_callbacks.discard(self._on_close)
                with contextlib.suppress(Exception):
                    await conn.close()
        self._consume_conn = self._publish_conn = None
        self._publish_channel = self._queue = None
        self._consumer_tag = None

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._inflight.add(task)
        try:
            await self._process(message)
        except Exception:
            # Could not republish (retry/park) or ack. Give the message back to the queue: it is
            # redelivered (deduplicated if its work committed) and, past the delivery limit, parked.
            log.exception("consumer.settle_failed", consumer=self.name)
            with contextlib.suppress(Exception):
                await message.nack(requeue=True)
        finally:
            if task is not None:
                self._inflight.discard(task)

    async def _process(self, message: AbstractIncomingMessage) -> None:
        try:
            envelope = parse_envelope(message.body)
        except EnvelopeError as exc:
            await self._park(message, "invalid_envelope", str(exc))
            return
        bind_context(event_id=str(envelope.id), event_type=envelope.type, correlation_id=envelope.correlation_id,
                     tenant_id=str(envelope.tenant_id) if envelope.tenant_id else None, consumer=self.name)
        attempt = _int_header(message, ATTEMPT_HEADER)
        started = time.perf_counter()
        try:
            handled = await self._handle(envelope)
        except PermanentError as exc:
            await self._park(message, "permanent_error", str(exc) or type(exc).__name__)
            return
        except Exception as exc:
            await self._retry(message, attempt, exc)
            return
        self.metrics.duration.labels(self.name).observe(time.perf_counter() - started)
        if self._before_ack is not None:
            await self._before_ack(message)
        await message.ack()
        self.metrics.messages.labels(self.name, "handled" if handled else "duplicate").inc()
        log.info("event.handled" if handled else "event.duplicate", attempt=attempt)

    async def _handle(self, envelope: Envelope) -> bool:
        async with self.pool.acquire() as conn, conn.transaction():
            first = await conn.fetchval(_MARK_PROCESSED, self.name, envelope.id)
            if not first:
                return False
            await self.handler(conn, envelope)
            return True

    async def _retry(self, message: AbstractIncomingMessage, attempt: int, exc: Exception) -> None:
        detail = f"{type(exc).__name__}: {exc}"[:_DETAIL_MAX]
        if attempt >= len(self.retry_delays):
            await self._park(message, "retries_exhausted", detail, attempts=attempt + 1)
            return
        if isinstance(exc, TransientError):
            log.warning("event.retry_scheduled", attempt=attempt + 1, delay=self.retry_delays[attempt], error=detail)
        else:
            log.exception("event.handler_failed", attempt=attempt + 1, delay=self.retry_delays[attempt])
        headers = {**_clean_headers(message), ATTEMPT_HEADER: attempt + 1, "x-last-error": detail}
        await self._republish(message, self.queues.retries[attempt], headers,
                              expiration=self.retry_delays[attempt])
        await message.ack()
        self.metrics.messages.labels(self.name, "retried").inc()

    async def _park(self, message: AbstractIncomingMessage, reason: str, detail: str, *, attempts: int = 0) -> None:
        headers = {
            **_clean_headers(message),
            REASON_HEADER: reason,
            DETAIL_HEADER: detail[:_DETAIL_MAX],
            "x-parked-at": datetime.now(UTC).isoformat(),
            "x-parked-by": self.name,
            "x-original-routing-key": message.routing_key or "",
        }
        if attempts:
            headers[ATTEMPT_HEADER] = attempts
        await self._republish(message, self.queues.parked, headers)
        await message.ack()
        self.metrics.messages.labels(self.name, "parked").inc()
        log.error("event.parked", reason=reason, detail=detail[:_DETAIL_MAX], queue=self.queues.parked,
                  message_id=message.message_id)

    async def _republish(self, message: AbstractIncomingMessage, queue: str, headers: dict,
                         *, expiration: float | None = None) -> None:
        """Publish a copy straight to ``queue`` and wait for the confirm; the caller acks after."""
        if self._publish_channel is None:
            raise ConnectionError("publishing connection is down")
        # Raises when the delivery's channel is closed: the broker redelivers the message anyway,
        # so a copy published now would only be a duplicate.
        _ = message.channel
        copy = aio_pika.Message(
            message.body, headers=headers, content_type=message.content_type, message_id=message.message_id,
            correlation_id=message.correlation_id, type=message.type, timestamp=message.timestamp,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT, expiration=expiration,
        )
        await self._publish_channel.default_exchange.publish(copy, routing_key=queue, mandatory=True)


# Every queue name this process declared. Quorum queues are costly for the broker (each is a Raft
# group): test suites delete theirs after each test from this record (tests/conftest.py).
_declared_queues: set[str] = set()


def declared_queue_names() -> set[str]:
    """The names of every queue :func:`declare_topology` declared in this process."""
    return set(_declared_queues)


async def declare_topology(channel: AbstractChannel, queues: QueueNames, *, exchange: str,
                           routing_keys: Sequence[str], delivery_limit: int = 10) -> AbstractQueue:
    """Declare the exchange and a consumer's queues and bindings (idempotent); return the main queue."""
    _declared_queues.update((queues.main, queues.parked, *queues.retries))
    events = await channel.declare_exchange(exchange, aio_pika.ExchangeType.TOPIC, durable=True)
    # At-least-once dead-lettering (quorum queues) so that a message moving between queues is
    # never dropped; it requires reject-publish overflow.
    safe_dead_letter = {"x-dead-letter-strategy": "at-least-once", "x-overflow": "reject-publish"}
    await channel.declare_queue(queues.parked, durable=True, arguments={"x-queue-type": "quorum"})
    for retry in queues.retries:
        await channel.declare_queue(retry, durable=True, arguments={
            "x-queue-type": "quorum", "x-dead-letter-exchange": "", "x-dead-letter-routing-key": queues.main,
            **safe_dead_letter,
        })
    main = await channel.declare_queue(queues.main, durable=True, arguments={
        "x-queue-type": "quorum", "x-delivery-limit": delivery_limit,
        "x-dead-letter-exchange": "", "x-dead-letter-routing-key": queues.parked, **safe_dead_letter,
    })
    for key in routing_keys:
        await main.bind(events, routing_key=key)
    return main


def _int_header(message: AbstractIncomingMessage, name: str) -> int:
    try:
        return max(0, int((message.headers or {}).get(name, 0)))
    except (TypeError, ValueError):
        return 0


def _clean_headers(message: AbstractIncomingMessage) -> dict:
    # x-death grows with each trip through a delay queue and is broker bookkeeping: drop it.
    return {k: v for k, v in (message.headers or {}).items() if k not in ("x-death", "x-first-death-exchange",
                                                                            "x-first-death-queue",
                                                                            "x-first-death-reason")}


def install_consumer(app: web.Application, factory: Callable[[web.Application], Consumer]) -> None:
    """Run the consumer built by ``factory(app)`` for the app's lifetime (after the pool is open).

    Call it after ``install_pool`` so that ``app[POOL]`` exists when ``factory`` runs. Its metrics
    are registered on ``app[METRICS_REGISTRY]`` when the app has one.
    """
    from common.http import METRICS_REGISTRY

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        consumer = factory(app)
        registry = app.get(METRICS_REGISTRY)
        if registry is not None:
            consumer.metrics = _metrics_for(registry)
        await consumer.start()
        yield
        await consumer.stop()

    app.cleanup_ctx.append(ctx)
