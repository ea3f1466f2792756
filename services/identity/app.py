"""Application factory of the identity service."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

from aiohttp import web
from prometheus_client import Counter

from common.broker import install_broker
from common.clock import Clock, SystemClock
from common.consumer import Consumer, install_consumer
from common.db import POOL, install_pool
from common.http import METRICS_REGISTRY, create_base_app
from common.http import SETTINGS as SETTINGS_KEY
from common.internal_auth import internal_auth_middleware
from common.relay import install_relay
from common.workers import worker_share
from services.identity import repository as sql
from services.identity import staff_routes
from services.identity.agency import handle_account_closed
from services.identity.core import Deps
from services.identity.factors import SecretBox
from services.identity.hashing import Hasher
from services.identity.openapi import openapi_routes
from services.identity.routes import DEPS, routes
from services.identity.settings import IdentitySettings
from services.identity.tenants import TenantPolicy

SERVICE = "identity"
CLOCK = web.AppKey("clock", Clock)

__all__ = ["CLOCK", "DEPS", "SERVICE", "create_app"]


def create_app(settings: IdentitySettings, *, clock: Clock | None = None, with_broker: bool = True
               ) -> web.Application:
    """The identity app; ``clock`` is injectable so that every expiry is tested without sleeping.

    ``with_broker=False`` (tests of the HTTP API alone) leaves out the relay and the consumer:
    events still land in the outbox, nothing is published.
    """
    app = create_base_app(
        settings,
        service=SERVICE,
        middlewares=[internal_auth_middleware(settings.internal_auth_secret.get_secret_value(), SERVICE)],
    )
    app[CLOCK] = clock or SystemClock()
    # Every page view and login goes through these connections: they are opened at start with the hot
    # statements' types known and kept open (not closed when idle), so that a burst does not open
    # and introspect connections mid-request (57 ms for the first page of a storm, bench/login.py).
    install_pool(app, settings.database_url, min_size=settings.db_pool_min_size, max_inactive_connection_lifetime=0,
                 warm=(sql.LOGIN_LOOKUP, sql.INTROSPECT_SESSION))
    if with_broker:
        install_broker(app, settings.amqp_url, name=f"{SERVICE}-publish")
    app.cleanup_ctx.append(_deps_context)
    if with_broker:
        install_relay(app, settings)
        install_consumer(app, _account_closed_consumer)
    app.add_routes(routes)
    app.add_routes(staff_routes.routes)
    app.add_routes(openapi_routes)
    return app


def _account_closed_consumer(app: web.Application) -> Consumer:
    settings: IdentitySettings = app[SETTINGS_KEY]

    async def handle(conn, envelope) -> None:
        await handle_account_closed(conn, envelope, deps=app[DEPS])

    return Consumer("identity.account_closed", amqp_url=settings.amqp_url, exchange=settings.events_exchange,
                    routing_keys=["tenancy.account_closed"], pool=app[POOL], handler=handle)


async def _deps_context(app: web.Application) -> AsyncIterator[None]:
    settings: IdentitySettings = app[SETTINGS_KEY]
    # The hashing threads are sized to the host, not to one process: each of the service's worker
    # processes (IDENTITY_WORKERS) takes its share, so cores are never oversubscribed by hashing.
    threads = worker_share(settings.hash_workers or os.cpu_count() or 1, settings.workers)
    hasher = Hasher(memory_kib=settings.argon2_memory_kib, time_cost=settings.argon2_time_cost,
                    parallelism=settings.argon2_parallelism, workers=threads,
                    queue_per_worker=settings.hash_queue_per_worker, nice=settings.hash_thread_nice,
                    idle=settings.hash_thread_idle)
    tenants = TenantPolicy(tenancy_url=settings.tenancy_url, secret=settings.internal_auth_secret.get_secret_value(),
                           default_min_length=settings.password_min_length,
                           cache_seconds=settings.tenant_settings_cache_seconds)
    app[DEPS] = Deps(pool=app[POOL], hasher=hasher, clock=app[CLOCK], settings=settings, tenants=tenants,
                     token_key=settings.token_hash_key.get_secret_value().encode(),
                     secret_box=SecretBox(settings.mfa_key.get_secret_value()),
                     logins=Counter("identity_logins", "Logins by outcome", ["outcome"],
                                    registry=app[METRICS_REGISTRY]))
    yield
    await tenants.close()
    hasher.close()
