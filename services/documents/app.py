"""Application factory of the documents service."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from common.broker import install_broker
from common.clock import Clock, SystemClock
from common.consumer import Consumer, install_consumer
from common.db import POOL, Track, install_pool
from common.http import READY_CHECKS, create_base_app
from common.internal_auth import internal_auth_middleware
from common.relay import install_relay
from common.service import common_track
from services.documents import consumers
from services.documents.routes import CLOCK, SIGNING_KEY, STORE, setup_routes
from services.documents.settings import DocumentsSettings
from services.documents.storage import BlobStore, create_store
from services.documents.tokens import derive_key

SERVICE = "documents"
TRACKS = [common_track(), Track(SERVICE, Path(__file__).parent / "migrations")]
# GET /files/<token> is public: the signed token is its authority (the ingress routes it here).
PUBLIC_PREFIXES = ("/health/", "/metrics", "/files/")


def _signing_key(settings: DocumentsSettings) -> bytes:
    if settings.url_signing_key is not None:
        return settings.url_signing_key.get_secret_value().encode()
    return derive_key(settings.internal_auth_secret.get_secret_value())


def _store_context(store: BlobStore, spool_dir: Path):
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        await asyncio.to_thread(spool_dir.mkdir, parents=True, exist_ok=True)
        await store.start()
        app[STORE] = store
        app[READY_CHECKS]["storage"] = lambda app: app[STORE].check()
        yield
        await store.close()

    return ctx


def create_app(settings: DocumentsSettings, *, clock: Clock | None = None, store: BlobStore | None = None,
               relay: bool = True) -> web.Application:
    """The documents app. ``relay=False`` leaves the outbox relay out (tests that do not look at
    the broker; events still land in the outbox)."""
    app = create_base_app(
        settings,
        service=SERVICE,
        middlewares=[internal_auth_middleware(settings.internal_auth_secret.get_secret_value(), SERVICE,
                                              open_prefixes=PUBLIC_PREFIXES)],
    )
    app[CLOCK] = clock or SystemClock()
    app[SIGNING_KEY] = _signing_key(settings)
    install_pool(app, settings.database_url)
    app.cleanup_ctx.append(_store_context(store or create_store(settings), settings.effective_spool_dir))
    if relay:
        # The broker connection serves the readiness check; the relay opens its own.
        install_broker(app, settings.amqp_url, name=f"{SERVICE}-publish")
        install_relay(app, settings)
    if settings.consumer_enabled:
        install_consumer(app, lambda app: Consumer(
            consumers.CONSUMER_NAME, amqp_url=settings.amqp_url, exchange=settings.events_exchange,
            routing_keys=consumers.ROUTING_KEYS, pool=app[POOL], handler=consumers.handle))
    setup_routes(app)
    return app
