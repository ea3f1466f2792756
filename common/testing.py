"""Test helpers shared by the test suites and benchmarks: throwaway databases, an SMTP sink.

Real parts only: the databases are real PostgreSQL databases, the sink speaks real SMTP
(aiosmtpd) and can be told to answer temporary (421/451) or permanent (550) failures.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
import secrets
import socket
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

import asyncpg
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from common.db import database_name

__all__ = [
    "ReceivedMail",
    "SmtpSink",
    "TcpProxy",
    "create_test_database",
    "drop_test_database",
    "free_port",
    "wait_until",
]


def _ephemeral_low(default: int = 32768) -> int:
    """The first port the kernel hands out for outgoing connections (Linux; ``default`` elsewhere)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return default


def free_port() -> int:
    """A free TCP port on 127.0.0.1 for a process about to start, taken *below* the ephemeral range.

    A port the kernel chose (bind to 0) lies in the range it also gives to outgoing connections: in
    the time between this check and the process's own bind, another process opening its database
    pool could get it as its local port, and the service fails with "address already in use" (seen
    in a CI run). Ports below the range are only ever taken by an explicit bind.

    A port is never given twice in one process: the check closes its socket, so two calls made
    before either process binds (the seven services of an end-to-end system, say) could otherwise
    draw the same port, and the second to start fails with "address already in use" (seen in a
    later CI run).
    """
    low = _ephemeral_low()
    span = min(12_000, low - 1024)
    for _ in range(200):
        port = low - 1 - secrets.randbelow(span)
        if port in _PORTS_GIVEN:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _PORTS_GIVEN.add(port)
        return port
    with socket.socket() as sock:  # a crowded machine: let the kernel choose
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# Every port free_port has handed out in this process, whether or not its holder still runs.
_PORTS_GIVEN: set[int] = set()


def _admin_dsn(base_dsn: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    return urlunsplit(urlsplit(base_dsn)._replace(path="/postgres"))


async def create_test_database(base_dsn: str, prefix: str = "t") -> str:
    """Create an empty database with a unique name; return its DSN."""
    from urllib.parse import urlsplit, urlunsplit

    name = f"{prefix}_{uuid.uuid4().hex[:16]}"
    conn = await asyncpg.connect(_admin_dsn(base_dsn))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')  # sql-identifier-checked: generated hex name
    finally:
        await conn.close()
    return urlunsplit(urlsplit(base_dsn)._replace(path="/" + name))


async def drop_test_database(dsn: str) -> None:
    name = database_name(dsn)
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
        raise ValueError(f"refusing to drop database with unusual name {name!r}")
    conn = await asyncpg.connect(_admin_dsn(dsn))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # sql-identifier-checked
    finally:
        await conn.close()


async def wait_until(predicate, *, timeout: float = 10.0, interval: float = 0.05, message: str = "condition"):
    """Poll ``predicate`` (sync or async) until truthy; fail with ``message`` after ``timeout``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        await asyncio.sleep(interval)


@dataclass
class ReceivedMail:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    def text(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        return part.get_content() if part else ""

    def html(self) -> str:
        part = self.message.get_body(preferencelist=("html",))
        return part.get_content() if part else ""


@dataclass
class _Behaviour:
    # Reply to DATA (or RCPT for a listed recipient) with this code instead of 250.
    data_reply: str | None = None
    rejected_recipients: dict[str, str] = field(default_factory=dict)
    # Called with each accepted envelope, before the 250 reaches the client (fault injection).
    on_accept: Callable[[Envelope], None] | None = None


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_EHLO(self, server: SMTP, session: Session, envelope: Envelope, hostname: str, responses):
        self.sink.commands["EHLO"] += 1
        session.host_name = hostname
        if self.sink.pipelining:  # aiosmtpd reads commands from a buffered stream: it serves pipelined groups
            return [*responses[:-1], "250-PIPELINING", responses[-1]]
        return responses

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope, address: str, mail_options):
        self.sink.commands["MAIL"] += 1
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RSET(self, server: SMTP, session: Session, envelope: Envelope):
        self.sink.commands["RSET"] += 1
        return "250 OK"

    async def handle_NOOP(self, server: SMTP, session: Session, envelope: Envelope, arg):
        self.sink.commands["NOOP"] += 1
        return "250 OK"

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options):
        self.sink.commands["RCPT"] += 1
        reply = self.sink.behaviour.rejected_recipients.get(address.lower())
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope):
        self.sink.commands["DATA"] += 1
        if self.sink.behaviour.data_reply:
            return self.sink.behaviour.data_reply
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.sink.messages.append(ReceivedMail(envelope.mail_from, list(envelope.rcpt_tos), message))
        if self.sink.behaviour.on_accept is not None:
            self.sink.behaviour.on_accept(envelope)
        return "250 Message accepted"


class _CountingController(Controller):
    def __init__(self, sink: SmtpSink, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.sink = sink

    def factory(self) -> SMTP:  # called once per accepted connection
        server = super().factory()
        self.sink.connections += 1
        self.sink._servers.append(server)
        return server


class SmtpSink:
    """A real SMTP server on 127.0.0.1 that records what it accepts.

    ``sink.fail_temporarily()`` answers ``451`` to every DATA until ``sink.recover()``;
    ``sink.reject("x@y", "550 ...")`` refuses one recipient for good. It counts what clients
    did: ``sink.connections`` accepted, ``sink.commands["EHLO"]`` (``MAIL``, ``RCPT``,
    ``DATA``, ``RSET``, ``NOOP``). With ``pipelining=True`` it advertises PIPELINING (RFC 2920);
    ``sink.drop_connections()`` closes every open connection from the server side.
    """

    def __init__(self, port: int | None = None, *, pipelining: bool = False) -> None:
        self.port = port or free_port()
        self.pipelining = pipelining
        self.messages: list[ReceivedMail] = []
        self.behaviour = _Behaviour()
        self.connections = 0
        self.commands: Counter[str] = Counter()
        self._servers: list[SMTP] = []
        self._controller = _CountingController(self, _Handler(self), hostname="127.0.0.1", port=self.port)

    def start(self) -> SmtpSink:
        self._controller.start()
        # Controller.start() opens one connection of its own to check the server answers.
        self.connections = 0
        self._servers.clear()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def drop_connections(self) -> int:
        """Close every open client connection from the server side (as a relay's idle timeout does)."""

        async def drop() -> int:
            open_ = [s for s in self._servers if s.transport is not None and not s.transport.is_closing()]
            for server in open_:
                server.transport.close()
            self._servers.clear()
            return len(open_)

        return asyncio.run_coroutine_threadsafe(drop(), self._controller.loop).result(timeout=5)

    def fail_temporarily(self, reply: str = "451 4.3.0 Try again later") -> None:
        self.behaviour.data_reply = reply

    def reject(self, address: str, reply: str = "550 5.1.1 No such user") -> None:
        self.behaviour.rejected_recipients[address.lower()] = reply

    def on_accept(self, callback: Callable[[Envelope], None] | None) -> None:
        """Call ``callback(envelope)`` for every accepted message, before the client reads the 250.

        Read at each message (aiosmtpd binds handler methods per connection, so patching the
        handler would miss connections a client already holds open).
        """
        self.behaviour.on_accept = callback

    def recover(self) -> None:
        self.behaviour = _Behaviour()

    def to(self, address: str) -> list[ReceivedMail]:
        return [m for m in self.messages if address.lower() in (r.lower() for r in m.rcpt_tos)]


class TcpProxy:
    """A TCP proxy on 127.0.0.1 in front of a real server, that a test can cut and restore.

    It lets a test make PostgreSQL or RabbitMQ *unreachable for one service* without stopping
    the shared server: ``await proxy.cut()`` closes the listener and every open connection,
    ``await proxy.restore()`` listens again on the same port.
    """

    def __init__(self, target_host: str, target_port: int, port: int | None = None) -> None:
        self.target = (target_host, target_port)
        self.port = port or free_port()
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> TcpProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        return self

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            client_writer.close()
            return
        self._writers.update((client_writer, upstream_writer))
        try:
            await asyncio.gather(self._pipe(client_reader, upstream_writer), self._pipe(upstream_reader, client_writer))
        finally:
            self._writers.difference_update((client_writer, upstream_writer))

    async def cut(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        # Abort open connections before waiting: wait_closed() waits for them on Python 3.12+.
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()
        if server is not None:
            await server.wait_closed()

    async def restore(self) -> None:
        if self._server is None:
            await self.start()

    async def stop(self) -> None:
        await self.cut()
