"""Application factory of the notifier service.

The process consumes identity and documents events (queue ``notifier``), sends the emails over
SMTP through a pool of reused connections, and flushes document digests in the background.
Its HTTP side only serves health and metrics.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
from aiohttp import web

from common.clock import Clock, SystemClock
from common.consumer import Consumer, install_consumer
from common.db import POOL, install_pool
from common.http import METRICS_REGISTRY, READY_CHECKS, create_base_app
from common.internal_auth import internal_auth_middleware
from services.notifier.clients import IdentityClient, TenancyClient
from services.notifier.consumers import consumer_factory
from services.notifier.digest import DigestFlusher
from services.notifier.service import DeliveryMetrics, Notifier
from services.notifier.settings import NotifierSettings
from services.notifier.smtp import SmtpSender

SERVICE = "notifier"


@dataclass
class Runtime:
    """What the cleanup contexts open, reachable by tests (``app[RUNTIME].notifier``...)."""

    notifier: Notifier | None = None
    flusher: DigestFlusher | None = None
    consumer: Consumer | None = None


RUNTIME = web.AppKey("notifier_runtime", Runtime)


def create_app(settings: NotifierSettings, *, clock: Clock | None = None) -> web.Application:
    """The notifier: consumer, SMTP pool, digest flusher, health and metrics."""
    clock = clock or SystemClock()
    app = create_base_app(
        settings,
        service=SERVICE,
        middlewares=[internal_auth_middleware(settings.internal_auth_secret.get_secret_value(), SERVICE)],
    )
    app[RUNTIME] = runtime = Runtime()
    install_pool(app, settings.database_url, max_size=settings.db_pool_size)

    async def notifier_ctx(app: web.Application) -> AsyncIterator[None]:
        secret = settings.internal_auth_secret.get_secret_value()
        session = aiohttp.ClientSession()
        sender = SmtpSender.from_settings(settings)
        runtime.notifier = Notifier(
            pool=app[POOL],
            tenancy=TenancyClient(session, base_url=settings.tenancy_url, secret=secret,
                                  timeout=settings.upstream_timeout_seconds, ttl=settings.tenant_cache_seconds,
                                  clock=clock),
            identity=IdentityClient(session, base_url=settings.identity_url, secret=secret,
                                    timeout=settings.upstream_timeout_seconds),
            sender=sender, settings=settings, clock=clock, metrics=DeliveryMetrics(app[METRICS_REGISTRY]),
        )
        yield
        await sender.close()
        await session.close()

    app.cleanup_ctx.append(notifier_ctx)
    make_consumer = consumer_factory(settings, lambda _app: runtime.notifier)

    def consumer(app: web.Application) -> Consumer:
        runtime.consumer = make_consumer(app)
        return runtime.consumer

    install_consumer(app, consumer)

    async def broker_ready(app: web.Application) -> None:
        if runtime.consumer is None or not runtime.consumer.connected:
            raise ConnectionError("the consumer is not attached to its queue")

    app[READY_CHECKS]["broker"] = broker_ready

    async def flusher_ctx(app: web.Application) -> AsyncIterator[None]:
        runtime.flusher = DigestFlusher(runtime.notifier, poll_seconds=settings.digest_poll_seconds)
        runtime.flusher.start()
        yield
        await runtime.flusher.stop()

    app.cleanup_ctx.append(flusher_ctx)
    return app
