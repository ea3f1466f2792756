"""GET requests forwarded to a service over lean keep-alive HTTP/1.1 connections.

Why not aiohttp's client here: on a forwarded one-row API read, the gateway's CPU is mostly its own
HTTP work, and aiohttp's client took about a fifth of it (py-spy of ``bench/gateway.py --pairs api``,
docs/benchmarks.md, Gateway): per call a request object, a response object, a stream reader, a
connector round and a read timer rescheduled on every chunk. A forwarded GET needs less: one request
head written on a kept connection, the answer cut by httptools (llhttp, the C parser aiohttp and
uvicorn use), the body handed on as it came, with backpressure for large files.

Only GET takes this path: it carries no body, so it may be sent again on a fresh connection when a
kept one turns out closed by the service meanwhile (the race every keep-alive client has). HEAD and
requests with a body stay on aiohttp (httptools cannot be told that a HEAD answer has no body).
"""

from __future__ import annotations

import asyncio
import collections
import re
import time

import httptools
from multidict import CIMultiDict

__all__ = ["Answer", "ConnectFailed", "Replica", "UpstreamBroken", "request_head"]

# Unread body past which the service's socket is no longer read (a client downloading slowly must
# not make the gateway hold a whole file); reading resumes once the buffer is drained.
HIGH_WATER = 512 * 1024
# Checked with one regex search each rather than a Python loop over the characters (2.2 % of the
# gateway's samples went to request_head on a forwarded read).
_UNSAFE_TARGET = re.compile(r"[\x00-\x20\x7f]")
_LINE_BREAK = re.compile(r"[\r\n\x00]")


class ConnectFailed(Exception):
    """No connection could be made: nothing was sent, the request may go to another replica."""


class UpstreamBroken(Exception):
    """The connection failed or closed before the answer was complete, or the answer was malformed."""

    def __init__(self, reason: str, *, answered: bool) -> None:
        super().__init__(reason)
        self.answered = answered  # whether any byte of the answer had arrived


def request_head(method: str, target: str, host: str, headers: dict[str, str]) -> bytes:
    """The head of a bodiless request, refusing anything that could split it or announce a body.

    A target with a space or control byte, a header value with CR, LF or NUL, a Content-Length or
    Transfer-Encoding (the service would read the next request on the kept connection as this body).
    """
    if not target.startswith("/") or _UNSAFE_TARGET.search(target):
        raise ValueError("refusing to forward an unsafe request target")
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}"]
    for name, value in headers.items():
        if name.lower() in ("content-length", "transfer-encoding"):
            raise ValueError("a bodiless request must not announce a body")
        if _LINE_BREAK.search(value):
            raise ValueError("refusing to forward a header value with a line break")
        lines.append(f"{name}: {value}")
    lines.append("\r\n")
    return "\r\n".join(lines).encode("utf-8", "surrogateescape")


class _Connection(asyncio.Protocol):
    """One kept connection to a replica; one answer at a time, parsed as it arrives."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self._parser: httptools.HttpResponseParser | None = None
        self._waiter: asyncio.Future | None = None
        self._reset()

    def _reset(self) -> None:
        self.status = 0
        self.raw_headers: list[tuple[str, str]] = []
        self.head_done = False
        self.complete = False
        self.keep_alive = False
        self.error: UpstreamBroken | None = None
        self.chunks: collections.deque[bytes] = collections.deque()
        self.buffered = 0
        self._answered = False
        self._paused = False

    # -- one exchange ---------------------------------------------------------------------------

    def send(self, head: bytes) -> None:
        self._reset()
        self._parser = httptools.HttpResponseParser(self)
        self.transport.write(head)

    async def wait(self, timeout: float) -> None:
        """Until the answer moves (head, body, end or failure); TimeoutError after ``timeout`` of silence."""
        self._waiter = self._loop.create_future()
        try:
            async with asyncio.timeout(timeout):
                await self._waiter
        finally:
            self._waiter = None

    def take_chunks(self) -> list[bytes]:
        chunks = list(self.chunks)
        self.chunks.clear()
        self.buffered = 0
        if self._paused and not self.closed:
            self._paused = False
            self.transport.resume_reading()
        return chunks

    def finish(self) -> bool:
        """End the exchange; True when the connection may serve another request."""
        self._parser = None
        reusable = self.complete and self.keep_alive and not self.closed and self.error is None
        if not reusable:
            self.abort()
        return reusable

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    # -- asyncio.Protocol ------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self._parser is None:  # bytes nobody asked for: the connection cannot be trusted any more
            self.abort()
            return
        self._answered = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(f"malformed answer: {exc}")
            self.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._parser is not None and not self.complete:
            self._fail("connection closed before the answer was complete")

    # -- httptools callbacks ---------------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        self.raw_headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        if self.complete:  # a second answer to one request: nothing more is read from this connection
            self._fail("an answer nobody asked for")
            self.abort()
            return
        status = self._parser.get_status_code()
        if status < 200:  # an interim answer (100 Continue): the real one follows
            self.raw_headers = []
            return
        self.status = status
        self.head_done = True
        self._wake()

    def on_body(self, body: bytes) -> None:
        if self.complete:
            return  # the body of an answer nobody asked for (refused above)
        self.chunks.append(body)
        self.buffered += len(body)
        if self.buffered > HIGH_WATER and not self._paused:
            self._paused = True
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if not self.head_done or self.complete:
            return  # the end of an interim answer, or of one nobody asked for
        self.complete = True
        self.keep_alive = self._parser.should_keep_alive()
        self._wake()

    def _fail(self, reason: str) -> None:
        self.error = UpstreamBroken(reason, answered=self._answered)
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


class Answer:
    """A service's answer: what ``gateway.files.forward_response`` reads of an aiohttp ClientResponse."""

    __slots__ = ("_connection", "_replica", "headers", "status")

    def __init__(self, replica: Replica, connection: _Connection) -> None:
        self._replica = replica
        self._connection = connection
        self.status = connection.status
        self.headers = CIMultiDict(connection.raw_headers)

    @property
    def content_length(self) -> int | None:
        value = self.headers.get("Content-Length")
        return int(value) if value is not None and value.isdigit() else None

    @property
    def buffered(self) -> int:
        """Bytes of the body received and not yet handed on."""
        return self._connection.buffered if self._connection is not None else 0

    @property
    def content(self) -> Answer:
        return self  # aiohttp's ``response.content.iter_chunked(n)``

    async def read(self) -> bytes:
        return b"".join([chunk async for chunk in self.iter_chunked(0)])

    async def iter_chunked(self, _size: int):
        """The body as the service sent it, in the pieces it arrived in (at most HIGH_WATER held)."""
        connection = self._connection
        if connection is None:
            return
        while True:
            if connection.chunks:
                for chunk in connection.take_chunks():
                    yield chunk
                continue
            if connection.complete:
                return
            if connection.error is not None:
                raise connection.error
            await connection.wait(self._replica.read_timeout)

    def release(self) -> None:
        """Give the connection back when the answer was read to its end, else close it."""
        connection, self._connection = self._connection, None
        if connection is not None:
            self._replica.give_back(connection)

    async def __aenter__(self) -> Answer:
        return self

    async def __aexit__(self, *_exc) -> None:
        self.release()


class Replica:
    """Kept connections to one replica of a service (``host:port``), at most ``limit`` at once."""

    def __init__(self, host: str, port: int, *, connect_timeout: float, read_timeout: float,
                 keepalive_seconds: float = 30.0, limit: int = 100) -> None:
        self.host = host
        self.port = port
        self.host_header = f"{host}:{port}"
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.keepalive_seconds = keepalive_seconds
        self._idle: collections.deque[_Connection] = collections.deque()
        self._slots = asyncio.Semaphore(limit)

    async def send(self, head: bytes) -> Answer:
        """Send ``head`` (a bodiless request) and return the answer once its head has arrived.

        ConnectFailed: nothing was sent. UpstreamBroken: the connection broke first (a kept connection
        the service had just closed is tried once more on a fresh one). TimeoutError: no answer in time.
        """
        await self._slots.acquire()
        try:
            for fresh in (False, True):
                # The retry after a kept connection the service had closed goes to a new connection:
                # another kept one may have been closed the same way.
                connection = None if fresh else self._idle_connection()
                reused = connection is not None
                if connection is None:
                    connection = await self._connect()
                connection.send(head)
                try:
                    while not connection.head_done:
                        if connection.error is not None:
                            raise connection.error
                        await connection.wait(self.read_timeout)
                except UpstreamBroken as exc:
                    connection.finish()
                    if reused and not exc.answered:
                        continue
                    raise
                except BaseException:
                    connection.finish()
                    raise
                return Answer(self, connection)
            raise AssertionError("unreachable: a fresh connection is never retried")
        except BaseException:
            self._slots.release()
            raise

    def give_back(self, connection: _Connection) -> None:
        if connection.finish():
            connection.idle_since = time.monotonic()
            self._idle.append(connection)
        self._slots.release()

    def close(self) -> None:
        while self._idle:
            self._idle.pop().abort()

    def _idle_connection(self) -> _Connection | None:
        # Most recently used first: the others age out (the service closes them, or they pass keepalive).
        stale_before = time.monotonic() - self.keepalive_seconds
        while self._idle:
            connection = self._idle.pop()
            if not connection.closed and connection.idle_since >= stale_before:
                return connection
            connection.abort()
        return None

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.connect_timeout):
                _, connection = await loop.create_connection(lambda: _Connection(loop), self.host, self.port)
        except (OSError, TimeoutError) as exc:
            raise ConnectFailed(f"{self.host_header}: {type(exc).__name__}") from exc
        return connection
