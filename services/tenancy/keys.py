"""Typed keys of what the tenancy app holds (``web.AppKey``)."""

from __future__ import annotations

from aiohttp import web

from common.clock import Clock
from services.tenancy.identity_client import IdentityClient

__all__ = ["CLOCK", "IDENTITY"]

CLOCK = web.AppKey("clock", Clock)
IDENTITY = web.AppKey("identity_client", IdentityClient)
