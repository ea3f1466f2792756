"""Sending over SMTP with aiosmtplib, through a small pool of reused connections.

Reusing connections doubled throughput in the prototype (ARCHITECTURE.md §9): each connection
says EHLO once and then carries one transaction after another. Where the relay advertises
PIPELINING (RFC 2920), a connection runs its transactions through
:class:`~services.notifier.pipelining.PipelinedConnection` (two round trips per email instead of
four); otherwise through aiosmtplib's ``sendmail``. Every failure is classified for the caller:
:class:`SmtpTemporaryError` (4xx, connection refused or dropped, timeout: try again later) or
:class:`SmtpPermanentError` (5xx: this recipient will never get it).
"""

from __future__ import annotations

import asyncio

import aiosmtplib

from common.logging import get_logger
from services.notifier.domain import one_line, smtp_code_is_permanent
from services.notifier.pipelining import (
    ClosedBeforeReply,
    MalformedReply,
    PipelinedConnection,
    Refused,
    message_size,
)
from services.notifier.settings import NotifierSettings

log = get_logger(__name__)


class SmtpTemporaryError(Exception):
    """The relay is down, slow, or answered 4xx: the same email may be accepted later."""


class SmtpPermanentError(Exception):
    """The relay answered 5xx for this email or recipient: retrying will not help."""


def _reason(code: int | None, message: str) -> str:
    return one_line(f"{code} {message}" if code else message, limit=300)


class _Connection:
    """One pooled connection: aiosmtplib's client, and the pipelined protocol once it took over."""

    def __init__(self, client: aiosmtplib.SMTP, pipe: PipelinedConnection | None) -> None:
        self.client = client
        self.pipe = pipe

    @property
    def usable(self) -> bool:
        return self.pipe.usable if self.pipe is not None else self.client.is_connected

    async def send(self, message: bytes, *, sender: str, recipient: str) -> None:
        if self.pipe is not None:
            await self.pipe.send(message, sender=sender, recipient=recipient)
            return
        # aiosmtplib's commands one by one (what its sendmail does) to know where a drop happened.
        options = [f"SIZE={message_size(message)}"] if self.client.supports_extension("size") else []
        try:
            await self.client.mail(sender, options=options)
        except aiosmtplib.SMTPServerDisconnected as exc:
            raise ClosedBeforeReply(str(exc)) from None
        await self.client.rcpt(recipient)
        await self.client.data(message)

    def close(self) -> None:
        if self.pipe is not None:
            self.pipe.close()
        self.client.close()

    async def quit(self) -> None:
        if self.pipe is not None:
            await self.pipe.quit()
            self.client.close()
        else:
            await _quit(self.client)


class SmtpSender:
    """At most ``pool_size`` connections, each kept open and reused between messages.

    A connection goes back to the pool after a refused email too (the next transaction on a
    pipelined connection starts with RSET); it is closed after a 421, a timeout, a lost
    connection or a reply out of step. A pooled connection the relay closed while idle is
    replaced once, transparently, when the relay had answered nothing of the email.
    """

    def __init__(self, *, host: str, port: int, tls: str = "none", username: str | None = None,
                 password: str | None = None, timeout: float = 10.0, pool_size: int = 8,
                 pipelining: bool = True) -> None:
        self._options = {
            "hostname": host, "port": port, "timeout": timeout,
            "use_tls": tls == "tls", "start_tls": tls == "starttls",
            "username": username or None, "password": password if username else None,
        }
        self._timeout = timeout
        self._pipelining = pipelining
        self._slots = asyncio.Semaphore(pool_size)
        self._idle: list[_Connection] = []
        self._closed = False

    @classmethod
    def from_settings(cls, settings: NotifierSettings) -> SmtpSender:
        return cls(host=settings.smtp_host, port=settings.smtp_port, tls=settings.smtp_tls,
                   username=settings.smtp_username,
                   password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
                   timeout=settings.smtp_timeout_seconds, pool_size=settings.smtp_pool_size,
                   pipelining=settings.smtp_pipelining)

    async def _connect(self) -> _Connection:
        client = aiosmtplib.SMTP(**self._options)
        await client.connect()
        try:
            if client.is_ehlo_or_helo_needed:
                try:
                    await client.ehlo()
                except aiosmtplib.SMTPHeloError:
                    await client.helo()
        except BaseException:
            client.close()
            raise
        pipe = None
        if self._pipelining and client.supports_extension("pipelining") and client.transport is not None:
            pipe = PipelinedConnection(client.transport, size_extension=client.supports_extension("size"),
                                       timeout=self._timeout)
        return _Connection(client, pipe)

    async def send(self, message: bytes, *, sender: str, recipient: str) -> None:
        """Hand ``message`` (RFC 5322 bytes) to the relay for ``recipient``; return once it answered 250."""
        async with self._slots:
            conn = None
            while self._idle and conn is None:
                candidate = self._idle.pop()
                conn = candidate if candidate.usable else None
            reused = conn is not None
            keep = False
            try:
                if conn is None:
                    conn = await self._connect()
                try:
                    await conn.send(message, sender=sender, recipient=recipient)
                except ClosedBeforeReply:
                    if not reused:
                        raise
                    # The relay closed an idle connection: nothing was accepted, so one retry is safe.
                    conn.close()
                    conn = await self._connect()
                    await conn.send(message, sender=sender, recipient=recipient)
                keep = True
            except Refused as exc:
                keep = exc.reusable
                raise _classified(exc.reply.code, exc.reply.text) from None
            except aiosmtplib.SMTPResponseException as exc:  # MAIL, RCPT (SMTPRecipientRefused) or DATA
                raise _classified(exc.code, exc.message) from None
            except (aiosmtplib.SMTPException, MalformedReply, OSError, TimeoutError) as exc:
                raise SmtpTemporaryError(_reason(None, f"{type(exc).__name__}: {exc}")) from None
            finally:
                if conn is not None:
                    if keep and not self._closed and conn.usable:
                        self._idle.append(conn)
                    else:
                        conn.close()

    async def close(self) -> None:
        """Say QUIT on every idle connection (connections in use close when their send ends)."""
        self._closed = True
        idle, self._idle = self._idle, []
        await asyncio.gather(*(c.quit() for c in idle), return_exceptions=True)


def _classified(code: int, message: str) -> Exception:
    reason = _reason(code, message)
    return SmtpPermanentError(reason) if smtp_code_is_permanent(code) else SmtpTemporaryError(reason)


async def _quit(client: aiosmtplib.SMTP) -> None:
    try:
        await asyncio.wait_for(client.quit(), 2)
    except Exception:  # a connection that cannot say goodbye is closed anyway
        client.close()
