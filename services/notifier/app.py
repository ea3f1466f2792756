"""Application factory of the notifier service."""

from __future__ import annotations

from aiohttp import web

from common.broker import install_broker
from common.db import install_pool
from common.http import create_base_app
from common.internal_auth import internal_auth_middleware
from services.notifier.settings import NotifierSettings

SERVICE = "notifier"


def create_app(settings: NotifierSettings) -> web.Application:
    app = create_base_app(
        settings,
        service=SERVICE,
        middlewares=[internal_auth_middleware(settings.internal_auth_secret.get_secret_value(), SERVICE)],
    )
    install_pool(app, settings.database_url)
    install_broker(app, settings.amqp_url, name=f"{SERVICE}-publish")
    return app
