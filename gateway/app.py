"""Application factory of the gateway."""

from __future__ import annotations

from aiohttp import web

from common.http import create_base_app
from gateway.settings import GatewaySettings

SERVICE = "gateway"


def create_app(settings: GatewaySettings) -> web.Application:
    return create_base_app(settings, service=SERVICE)
