"""Application factory of the gateway.

Routes (every page takes ``?client=C&societe=S``; the visit cookie remembers them):

- welcome and login: ``GET /login`` (welcome), ``GET|POST /login/form`` (email + password), ``GET|POST
  /login/code`` (the second factor, when the person has one; ``POST /login/code/cle`` and ``/verifier``: with
  a passkey), ``POST /login/enrolement`` (the agency requires a factor), ``POST /login/cle`` and
  ``/login/cle/verifier`` (passwordless, a passkey alone), ``POST /logout``
- activation: ``GET|POST /activation`` (provisional credentials), ``GET|POST /merge`` (the same, merge
  intent), ``/activation/email``, ``/activation/password``, ``/activation/merge``, ``/activation/pending``,
  ``POST /activation/resend``, ``POST /activation/restart``, ``GET /activation/resume``,
  ``GET|POST /activation/verify`` (email link), ``GET /done/{verified|merged|reset}``
- password: ``GET|POST /password/forgot``, ``GET|POST /password/reset`` (email link)
- after login: ``GET /dashboard`` (``year``, ``category``, ``q``, ``cursor``), ``POST /documents/download``
  (``document_id``) or ``POST /documents/{id}/download``, ``POST /documents/archive`` (``year``),
  ``GET /profile``, ``POST /profile/password``, ``POST /profile/sessions/end-others``, ``POST
  /profile/mfa/totp`` (``/confirm``, ``/remove``), ``POST /profile/mfa/recovery-codes``, ``POST
  /profile/passkeys/new``, ``POST /profile/passkeys`` (and ``/remove``)
- agency console: ``/agence`` (login, invitation, ``/agence/annuaire``, ``/agence/equipe``,
  ``POST /agence/identifiants``), ``GET /agence/documents``, ``POST /agence/documents/envoi`` (files),
  ``POST /agence/documents/{id}/retrait``, ``GET /agence/conformite`` (décret 2019-502)
- help and legal: ``GET /help``, ``GET /cgu``, ``GET /confidentialite``
- assets: ``/static/*``, ``/theme/<hex>.css`` (the tenant colour); files: ``GET /files/<token>``
- public API: ``/api/v1/*`` (``/api/v1/openapi.json`` merged)
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import jinja2
from aiohttp import web

from common.clock import Clock, SystemClock
from common.http import create_base_app
from gateway import (
    api,
    files,
    pages_activation,
    pages_auth,
    pages_console,
    pages_console_documents,
    pages_console_import,
    pages_console_proofs,
    pages_console_settings,
    pages_console_stats,
    pages_dashboard,
    pages_mfa,
    pages_passkeys,
    pages_password,
    pages_profile,
)
from gateway.api_keys import VerifiedKeys
from gateway.console import require_uploader
from gateway.context import CLOCK, JINJA, LETTERS_TIMEOUT, TENANTS, UPSTREAMS, VERIFIED_KEYS, render_error
from gateway.edge import EDGE, EdgeConfig, edge_middleware
from gateway.settings import GatewaySettings
from gateway.tenants import TenantResolver
from gateway.upstream import Upstream

SERVICE = "gateway"
HTTP_SESSION = web.AppKey("http_session", aiohttp.ClientSession)
UPSTREAM_SERVICES = ("identity", "tenancy", "documents")
_PARIS = ZoneInfo("Europe/Paris")
_HERE = Path(__file__).parent


def _min_from_label(label: str) -> str:
    digits = "".join(ch for ch in str(label) if ch.isdigit())
    return digits or "0"


def _datetime_fr(value) -> str:
    """``2026-11-27T10:05:00Z`` -> ``27/11/2026 11:05``: the people reading it are in France."""
    text = str(value or "")
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(_PARIS).strftime("%d/%m/%Y %H:%M")


def _date_fr(value) -> str:
    """``2026-06-12`` -> ``12/06/2026``."""
    text = str(value or "")
    try:
        return date.fromisoformat(text[:10]).strftime("%d/%m/%Y")
    except ValueError:
        return text


def _jinja() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(_HERE / "templates"), autoescape=True,
                             undefined=jinja2.Undefined, trim_blocks=True, lstrip_blocks=True,
                             auto_reload=False)  # templates ship with the code: no stat per render
    env.filters["min_from_label"] = _min_from_label
    env.filters["datetime_fr"] = _datetime_fr
    env.filters["date_fr"] = _date_fr
    return env


def create_app(settings: GatewaySettings, *, clock: Clock | None = None) -> web.Application:
    """The gateway: pages, public API forwarding, signed file links forwarded to documents.

    ``clock``: the time the pages read (when a wait ends); the system clock unless a test gives one."""
    edge = edge_middleware(render_error, upload_gate=require_uploader)
    app = create_base_app(settings, service=SERVICE, middlewares=[edge],
                          client_max_size=settings.max_form_bytes, metrics_port=settings.metrics_port)
    app[EDGE] = EdgeConfig(settings)
    app[JINJA] = _jinja()
    app[CLOCK] = clock or SystemClock()
    secret = settings.internal_auth_secret.get_secret_value()
    upstreams = {name: Upstream(name, settings.upstream_urls(name), secret=secret,
                                session_ref=lambda: app[HTTP_SESSION],
                                connect_timeout=settings.upstream_connect_timeout_seconds,
                                read_timeout=settings.upstream_timeout_seconds)
                 for name in UPSTREAM_SERVICES}
    app[UPSTREAMS] = upstreams
    app[VERIFIED_KEYS] = VerifiedKeys(ttl=settings.api_key_cache_seconds)
    app[LETTERS_TIMEOUT] = aiohttp.ClientTimeout(total=None, sock_connect=settings.upstream_connect_timeout_seconds,
                                                 sock_read=settings.letters_timeout_seconds)
    app[TENANTS] = TenantResolver(upstreams["tenancy"], ttl=settings.tenant_cache_seconds,
                                  negative_ttl=settings.tenant_negative_cache_seconds)
    app.cleanup_ctx.append(_http_session(settings))
    app.router.add_routes(pages_auth.routes)
    app.router.add_routes(pages_activation.routes)
    app.router.add_routes(pages_password.routes)
    app[pages_dashboard.ACCOUNTS] = pages_dashboard.AccountCache(ttl=settings.account_cache_seconds)
    app.router.add_routes(pages_dashboard.routes)
    app.router.add_routes(pages_profile.routes)
    app.router.add_routes(pages_mfa.routes)
    app.router.add_routes(pages_passkeys.routes)
    app.router.add_routes(pages_console.routes)
    app.router.add_routes(pages_console_settings.routes)
    app.router.add_routes(pages_console_stats.routes)
    app[pages_console_documents.MAX_DOCUMENT_BYTES] = settings.max_document_bytes
    app.router.add_routes(pages_console_documents.routes)
    app.router.add_routes(pages_console_import.routes)
    app.router.add_routes(pages_console_proofs.routes)
    app.router.add_routes(files.routes)
    app[api.API_SETTINGS] = api.ApiSettings(operator_token=settings.operator_api_token.get_secret_value(),
                                            max_body_bytes=settings.max_api_body_bytes,
                                            public_base_url=settings.public_base_url)
    app.router.add_routes(api.routes)
    app.router.add_static("/static", _HERE / "static", append_version=False)
    return app


def _http_session(settings: GatewaySettings):
    async def ctx(app: web.Application):
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=settings.upstream_connect_timeout_seconds,
                                        sock_read=settings.upstream_timeout_seconds)
        connector = aiohttp.TCPConnector(limit=200, limit_per_host=100, keepalive_timeout=30, ttl_dns_cache=300)
        app[HTTP_SESSION] = aiohttp.ClientSession(timeout=timeout, connector=connector, auto_decompress=False,
                                                  cookie_jar=aiohttp.DummyCookieJar())
        yield
        await app[HTTP_SESSION].close()
        for upstream in app[UPSTREAMS].values():
            upstream.close()

    return ctx
