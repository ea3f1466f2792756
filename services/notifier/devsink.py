"""A development SMTP sink with a web mailbox: `python -m services.notifier devsink`.

An aiosmtpd server accepts every message (any sender, any recipient, any credentials) and keeps
the latest ones in memory; an aiohttp site lists them (newest first), shows one with its HTML
rendered in a sandboxed iframe served under a restrictive Content-Security-Policy (no script,
no external loads) and its text part with clickable links, and answers ``GET /api/messages``
as JSON (``recipient``, ``subject``, ``text``, ``html``...) for tests and scripts.
Never for production: it keeps everything, shows everything, and authenticates no one.
"""

from __future__ import annotations

import argparse
import asyncio
import email
import email.policy
import itertools
import re
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage

import jinja2
from aiohttp import web
from aiosmtpd.smtp import SMTP, AuthResult
from markupsafe import Markup, escape

from common.logging import get_logger
from services.notifier.rendering import TEMPLATES

log = get_logger(__name__)
MAILBOX = web.AppKey("mailbox", "Mailbox")
_URL = re.compile(r"https?://[^\s<>\"']+")
# The email's HTML may hold anything: no script, no network, only inline styles and data: images.
# Links open in a new tab (popups allowed by the sandbox, <base target=_blank> injected).
EMAIL_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:; "
             "sandbox allow-popups allow-popups-to-escape-sandbox")
PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-src 'self'; img-src data:"

_pages = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES / "devsink"), autoescape=True)


@dataclass(frozen=True)
class StoredMail:
    """One accepted message, with its parts decoded."""

    id: int
    received_at: datetime
    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message.get("Subject", ""))

    def _part(self, kind: str) -> str:
        part = self.message.get_body(preferencelist=(kind,))
        # Line endings as a reader expects them (SMTP carries CRLF).
        return part.get_content().replace("\r\n", "\n") if part is not None else ""

    @property
    def text(self) -> str:
        return self._part("plain")

    @property
    def html(self) -> str:
        return self._part("html")

    def to_json(self) -> dict:
        return {
            "id": self.id, "received_at": self.received_at.isoformat(), "from": self.mail_from,
            "recipient": self.rcpt_tos[0] if self.rcpt_tos else None, "recipients": list(self.rcpt_tos),
            "subject": self.subject, "message_id": self.message.get("Message-ID"),
            "text": self.text, "html": self.html,
        }


class Mailbox:
    """The latest ``capacity`` messages, in memory."""

    def __init__(self, capacity: int = 1000) -> None:
        self._messages: deque[StoredMail] = deque(maxlen=capacity)
        self._ids = itertools.count(1)

    def add(self, mail_from: str, rcpt_tos: list[str], content: bytes) -> StoredMail:
        message = email.message_from_bytes(content, policy=email.policy.default)
        stored = StoredMail(next(self._ids), datetime.now(UTC), mail_from, tuple(rcpt_tos), message)
        self._messages.append(stored)
        return stored

    def newest_first(self, recipient: str | None = None) -> list[StoredMail]:
        found = reversed(self._messages)
        if recipient:
            wanted = recipient.lower()
            found = (m for m in found if wanted in (r.lower() for r in m.rcpt_tos))
        return list(found)

    def get(self, message_id: int) -> StoredMail | None:
        return next((m for m in self._messages if m.id == message_id), None)

    def clear(self) -> None:
        self._messages.clear()


class _AcceptEverything:
    def __init__(self, mailbox: Mailbox) -> None:
        self.mailbox = mailbox

    async def handle_DATA(self, server, session, envelope) -> str:
        stored = self.mailbox.add(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content
                                  or envelope.content)
        log.info("devsink.received", id=stored.id, recipients=len(stored.rcpt_tos))
        return "250 Message accepted for delivery"


def _accept_any_login(server, session, envelope, mechanism, auth_data) -> AuthResult:
    return AuthResult(success=True)


async def start_smtp(mailbox: Mailbox, *, host: str, port: int) -> asyncio.Server:
    """Serve SMTP on (host, port) in the running loop; every message lands in ``mailbox``."""
    handler = _AcceptEverything(mailbox)
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        lambda: SMTP(handler, hostname="devsink.local", enable_SMTPUTF8=True, auth_require_tls=False,
                     authenticator=_accept_any_login),
        host=host, port=port)


def _linkify(text: str) -> Markup:
    escaped = str(escape(text))
    # Safe: the text was escaped first, and the URL pattern excludes quotes and angle brackets.
    link = r'<a href="\g<0>" target="_blank" rel="noopener">\g<0></a>'
    return Markup(_URL.sub(link, escaped))  # noqa: S704


def _page(name: str, **context) -> web.Response:
    body = _pages.get_template(name).render(**context)
    return web.Response(text=body, content_type="text/html", charset="utf-8",
                        headers={"Content-Security-Policy": PAGE_CSP, "X-Content-Type-Options": "nosniff",
                                 "Referrer-Policy": "no-referrer"})


def _found(request: web.Request) -> StoredMail:
    try:
        stored = request.app[MAILBOX].get(int(request.match_info["id"]))
    except ValueError:
        stored = None
    if stored is None:
        raise web.HTTPNotFound(text="Message introuvable")
    return stored


async def _index(request: web.Request) -> web.Response:
    return _page("index.html", messages=request.app[MAILBOX].newest_first(request.query.get("to")))


async def _show(request: web.Request) -> web.Response:
    stored = _found(request)
    return _page("message.html", m=stored, text=_linkify(stored.text))


async def _html_part(request: web.Request) -> web.Response:
    html = _found(request).html
    # Links open outside the sandboxed frame, in a new tab.
    html = re.sub(r"(<head[^>]*>)", r'\1<base target="_blank">', html, count=1, flags=re.IGNORECASE) \
        if re.search(r"<head[^>]*>", html, re.IGNORECASE) else '<base target="_blank">' + html
    return web.Response(text=html, content_type="text/html", charset="utf-8",
                        headers={"Content-Security-Policy": EMAIL_CSP, "X-Content-Type-Options": "nosniff",
                                 "Referrer-Policy": "no-referrer"})


async def _api_list(request: web.Request) -> web.Response:
    return web.json_response({"messages": [m.to_json() for m in request.app[MAILBOX].newest_first(
        request.query.get("to"))]})


async def _api_one(request: web.Request) -> web.Response:
    return web.json_response(_found(request).to_json())


async def _api_clear(request: web.Request) -> web.Response:
    request.app[MAILBOX].clear()
    return web.Response(status=204)


def create_mailbox_app(mailbox: Mailbox) -> web.Application:
    """The web mailbox over ``mailbox`` (no SMTP: see :func:`start_smtp`)."""
    app = web.Application()
    app[MAILBOX] = mailbox
    app.router.add_get("/", _index)
    app.router.add_get("/messages/{id}", _show)
    app.router.add_get("/messages/{id}/html", _html_part)
    app.router.add_get("/api/messages", _api_list)
    app.router.add_delete("/api/messages", _api_clear)
    app.router.add_get("/api/messages/{id}", _api_one)
    return app


def devsink_command(settings, args: list[str]) -> int:
    """``python -m services.notifier devsink --smtp-port 2525 --http-port 8025 [--host 127.0.0.1]``."""
    parser = argparse.ArgumentParser(prog="python -m services.notifier devsink")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--smtp-port", type=int, default=2525)
    parser.add_argument("--http-port", type=int, default=8025)
    parser.add_argument("--capacity", type=int, default=1000)
    options = parser.parse_args(args)
    mailbox = Mailbox(options.capacity)
    app = create_mailbox_app(mailbox)

    async def smtp(app: web.Application):
        server = await start_smtp(mailbox, host=options.host, port=options.smtp_port)
        log.info("devsink.started", smtp_port=options.smtp_port, http_port=options.http_port)
        yield
        server.close()
        await server.wait_closed()

    app.cleanup_ctx.append(smtp)
    web.run_app(app, host=options.host, port=options.http_port, access_log=None, print=None)
    return 0
