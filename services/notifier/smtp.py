"""Sending over SMTP with aiosmtplib, through a small pool of reused connections.

Reusing connections doubled throughput in the prototype (ARCHITECTURE.md §9). Every failure is
classified for the caller: :class:`SmtpTemporaryError` (4xx, connection refused or dropped,
timeout: try again later) or :class:`SmtpPermanentError` (5xx: this recipient will never get it).
"""

from __future__ import annotations

import asyncio

import aiosmtplib

from common.logging import get_logger
from services.notifier.domain import one_line, smtp_code_is_permanent
from services.notifier.settings import NotifierSettings

log = get_logger(__name__)


class SmtpTemporaryError(Exception):
    """The relay is down, slow, or answered 4xx: the same email may be accepted later."""


class SmtpPermanentError(Exception):
    """The relay answered 5xx for this email or recipient: retrying will not help."""


def _reason(code: int | None, message: str) -> str:
    return one_line(f"{code} {message}" if code else message, limit=300)


class SmtpSender:
    """At most ``pool_size`` connections, each kept open and reused between messages."""

    def __init__(self, *, host: str, port: int, tls: str = "none", username: str | None = None,
                 password: str | None = None, timeout: float = 10.0, pool_size: int = 8) -> None:
        self._options = {
            "hostname": host, "port": port, "timeout": timeout,
            "use_tls": tls == "tls", "start_tls": tls == "starttls",
            "username": username or None, "password": password if username else None,
        }
        self._slots = asyncio.Semaphore(pool_size)
        self._idle: list[aiosmtplib.SMTP] = []
        self._closed = False

    @classmethod
    def from_settings(cls, settings: NotifierSettings) -> SmtpSender:
        return cls(host=settings.smtp_host, port=settings.smtp_port, tls=settings.smtp_tls,
                   username=settings.smtp_username,
                   password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
                   timeout=settings.smtp_timeout_seconds, pool_size=settings.smtp_pool_size)

    async def _connect(self) -> aiosmtplib.SMTP:
        client = aiosmtplib.SMTP(**self._options)
        await client.connect()
        return client

    async def send(self, message: bytes, *, sender: str, recipient: str) -> None:
        """Hand ``message`` (RFC 5322 bytes) to the relay for ``recipient``; return once it answered 250."""
        async with self._slots:
            client = None
            while self._idle and client is None:
                candidate = self._idle.pop()
                client = candidate if candidate.is_connected else None
            reused = client is not None
            try:
                if client is None:
                    client = await self._connect()
                try:
                    await client.sendmail(sender, [recipient], message)
                except aiosmtplib.SMTPServerDisconnected:
                    if not reused:
                        raise
                    # The relay closed an idle connection: nothing was accepted, so one retry is safe.
                    client = await self._connect()
                    await client.sendmail(sender, [recipient], message)
            except aiosmtplib.SMTPRecipientsRefused as exc:
                await _discard(client)
                refusal = exc.recipients[0]
                raise _classified(refusal.code, refusal.message) from None
            except aiosmtplib.SMTPResponseException as exc:
                await _discard(client)
                raise _classified(exc.code, exc.message) from None
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                await _discard(client)
                raise SmtpTemporaryError(_reason(None, f"{type(exc).__name__}: {exc}")) from None
            except BaseException:
                await _discard(client)
                raise
            if self._closed:
                await _discard(client)
            else:
                self._idle.append(client)

    async def close(self) -> None:
        """Say QUIT on every idle connection (connections in use close when their send ends)."""
        self._closed = True
        idle, self._idle = self._idle, []
        await asyncio.gather(*(_quit(c) for c in idle), return_exceptions=True)


def _classified(code: int, message: str) -> Exception:
    reason = _reason(code, message)
    return SmtpPermanentError(reason) if smtp_code_is_permanent(code) else SmtpTemporaryError(reason)


async def _quit(client: aiosmtplib.SMTP) -> None:
    try:
        await asyncio.wait_for(client.quit(), 2)
    except Exception:  # a connection that cannot say goodbye is closed anyway
        client.close()


async def _discard(client: aiosmtplib.SMTP | None) -> None:
    if client is not None:
        client.close()
