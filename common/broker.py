"""The RabbitMQ connection of a service: opened at start, reconnecting, checked by readiness.

Publishing (the relay) and consuming use separate connections, so that a slow consumer's flow
control never blocks publishing: each is opened with :func:`install_broker` under its own key.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aio_pika
from aio_pika.abc import AbstractRobustConnection
from aiohttp import web

from common.http import READY_CHECKS

__all__ = ["BROKER", "broker_ready_check", "connect", "install_broker"]

BROKER = web.AppKey("broker", AbstractRobustConnection)


async def connect(url: str, *, name: str) -> AbstractRobustConnection:
    """A robust connection (it reconnects by itself after a broker restart)."""
    return await aio_pika.connect_robust(url, client_properties={"connection_name": name})


def broker_ready_check(key: web.AppKey):
    async def check(app: web.Application) -> None:
        connection = app.get(key)
        if connection is None or connection.is_closed or not connection.connected.is_set():
            raise ConnectionError("broker connection is down")

    return check


def install_broker(app: web.Application, url: str, *, name: str, key: web.AppKey = BROKER) -> None:
    """Open a robust connection under ``key`` for the app's lifetime, with a ``broker`` readiness check."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        connection = await connect(url, name=name)
        app[key] = connection
        yield
        await connection.close()

    app.cleanup_ctx.append(ctx)
    app[READY_CHECKS]["broker"] = broker_ready_check(key)
