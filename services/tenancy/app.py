"""Application factory of the tenancy service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
from aiohttp import web

from common.broker import install_broker
from common.clock import Clock, SystemClock
from common.db import Track, install_pool
from common.http import create_base_app
from common.internal_auth import internal_auth_middleware
from common.relay import install_relay
from common.service import common_track
from services.tenancy.identity_client import IdentityClient
from services.tenancy.keys import CLOCK, IDENTITY
from services.tenancy.openapi import openapi_routes
from services.tenancy.routes import routes
from services.tenancy.settings import TenancySettings

SERVICE = "tenancy"
TRACKS = [common_track(), Track(SERVICE, Path(__file__).parent / "migrations")]

__all__ = ["SERVICE", "TRACKS", "create_app"]

# Outbox rows claimed per relay batch. A tenancy.accounts_upserted row of 1,000 accounts is
# ~145 KB of JSON and ~1 MB once decoded and encoded for publishing (measured: 51 MB for the
# 50 rows of a 50,000-account import), so the default 500 rows (two batches in flight while
# catching up a backlog) could hold ~1 GB; 20 rows hold ~20 MB and still publish 20,000
# accounts per broker round trip.
RELAY_BATCH = 20


def _identity_client(settings: TenancySettings):
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        async with aiohttp.ClientSession() as session:
            app[IDENTITY] = IdentityClient(session, base_url=settings.identity_url,
                                           secret=settings.internal_auth_secret.get_secret_value(),
                                           timeout_seconds=settings.identity_timeout_seconds)
            yield

    return ctx


def create_app(settings: TenancySettings, *, clock: Clock | None = None, relay: bool = True) -> web.Application:
    """The tenancy app: internal endpoints and its part of the public API, behind internal tokens.

    ``relay=False`` opens no broker connection and leaves the outbox unpublished (tests that read the
    outbox table, benchmarks).
    """
    app = create_base_app(
        settings,
        service=SERVICE,
        middlewares=[internal_auth_middleware(settings.internal_auth_secret.get_secret_value(), SERVICE)],
        client_max_size=settings.max_import_bytes,
    )
    app[CLOCK] = clock or SystemClock()
    install_pool(app, settings.database_url)
    if relay:
        # The broker connection serves the readiness check; the relay opens its own.
        install_broker(app, settings.amqp_url, name=f"{SERVICE}-publish")
        # Nobody must receive tenancy.tenant_onboarded (ARCHITECTURE.md: no consumer); whoever
        # binds to it later gets it. The directory events stay mandatory: documents and identity need them.
        install_relay(app, settings, optional_types={"tenancy.tenant_onboarded"}, batch_size=RELAY_BATCH)
    app.cleanup_ctx.append(_identity_client(settings))
    app.router.add_routes(routes)
    app.router.add_routes(openapi_routes)
    return app
