"""ESMTP PIPELINING (RFC 2920): one mail transaction in two round trips instead of four.

aiosmtplib sends one command and reads one reply at a time (its protocol drops a reply that
arrives before the next read), so it cannot pipeline. When the relay advertises PIPELINING, the
sender lets aiosmtplib open the connection (greeting, EHLO, STARTTLS, AUTH), then hands the
connection's transport to :class:`PipelinedConnection`, which writes ``MAIL FROM``, ``RCPT TO``
and ``DATA`` in one segment, reads their three replies, then writes the body and reads the
final reply. ``DATA`` ends the group, as RFC 2920 requires: the body goes only after its 354.
An ``RSET`` is prepended to the next group only after a refused transaction, so it costs no
round trip of its own.

The reply parser and the command building are pure and unit tested
(tests/unit/notifier/test_pipelining.py).
"""

from __future__ import annotations

import asyncio
import re
from collections import deque
from dataclasses import dataclass

from aiosmtplib.email import quote_address

MAX_LINE = 2048  # RFC 5321 replies are at most 512 octets a line; be lenient, not unbounded
_LINE_ENDINGS = re.compile(rb"\r\n|\n|\r(?!\n)")
_LEADING_PERIOD = re.compile(rb"(?m)^\.")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Reply:
    code: int
    text: str


class MalformedReply(Exception):
    """The relay answered something that is not an SMTP reply: the conversation is lost."""


class ClosedBeforeReply(ConnectionError):
    """The relay closed the connection before answering the first command of a group.

    Nothing of the transaction was accepted, so sending it again on a new connection is safe
    (typically a pooled connection the relay closed while it was idle).
    """


class Refused(Exception):
    """The relay refused a step of the transaction with ``reply``.

    ``reusable`` says whether the conversation is still in step (every reply read, no body
    expected): the connection can then serve the next transaction after an ``RSET``.
    """

    def __init__(self, step: str, reply: Reply, *, reusable: bool) -> None:
        super().__init__(f"{step}: {reply.code} {reply.text}")
        self.step = step
        self.reply = reply
        self.reusable = reusable


class ReplyParser:
    """Incremental SMTP reply parser: feed it bytes as they arrive, get whole replies back.

    A reply is one or more lines ``NNN-text`` ending with a line ``NNN text`` (RFC 5321
    §4.2.1); the text of a multi-line reply is joined with newlines.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._code: int | None = None
        self._lines: list[str] = []

    def feed(self, data: bytes) -> list[Reply]:
        self._buffer.extend(data)
        replies = []
        while (end := self._buffer.find(b"\n")) != -1:
            line = bytes(self._buffer[:end]).rstrip(b"\r")
            del self._buffer[:end + 1]
            reply = self._line(line)
            if reply is not None:
                replies.append(reply)
        if len(self._buffer) > MAX_LINE:
            raise MalformedReply("reply line too long")
        return replies

    def _line(self, line: bytes) -> Reply | None:
        if len(line) > MAX_LINE:
            raise MalformedReply("reply line too long")
        head, separator = line[:3], line[3:4]
        if len(head) != 3 or not head.isdigit() or head[:1] not in b"2345" or separator not in (b"", b" ", b"-"):
            raise MalformedReply(f"not an SMTP reply line: {line[:80]!r}")
        code = int(head)
        if self._code is not None and code != self._code:
            raise MalformedReply(f"reply code changed within a multi-line reply: {self._code} then {code}")
        self._code = code
        self._lines.append(line[4:].decode("utf-8", "replace").strip())
        if separator == b"-":
            return None
        reply = Reply(code, "\n".join(self._lines))
        self._code, self._lines = None, []
        return reply


def envelope_group(sender: str, recipient: str, *, size: int | None = None, reset: bool = False) -> bytes:
    """``[RSET] MAIL FROM, RCPT TO, DATA`` as one write; ``size`` adds RFC 1870's SIZE=."""
    for address in (sender, recipient):
        if _CONTROL.search(address):
            raise ValueError("an address contains a control character")
    mail = f"MAIL FROM:{quote_address(sender)}" + (f" SIZE={size}" if size is not None else "")
    commands = [*(["RSET"] if reset else []), mail, f"RCPT TO:{quote_address(recipient)}", "DATA"]
    return "".join(f"{c}\r\n" for c in commands).encode("ascii")


def _crlf(message: bytes) -> bytes:
    body = _LINE_ENDINGS.sub(b"\r\n", message)
    return body if body.endswith(b"\r\n") else body + b"\r\n"


def _stuffed(crlf_message: bytes) -> bytes:
    return _LEADING_PERIOD.sub(b"..", crlf_message) + b".\r\n"


def data_body(message: bytes) -> bytes:
    """The message as sent after 354: CRLF line endings, leading periods doubled, ``.`` line last."""
    return _stuffed(_crlf(message))


def message_size(message: bytes) -> int:
    """The SIZE= value: octets of the message with CRLF line endings (RFC 1870), as aiosmtplib counts."""
    return len(_crlf(message))


class PipelinedConnection(asyncio.Protocol):
    """Takes over an open SMTP connection (after EHLO) and runs pipelined transactions on it.

    ``needs_reset`` is set after a refused transaction whose replies were all read: the next
    group starts with ``RSET``.
    """

    def __init__(self, transport: asyncio.Transport, *, size_extension: bool, timeout: float) -> None:
        self._transport = transport
        self._parser = ReplyParser()
        self._replies: deque[Reply] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._lost: Exception | None = None
        self._size_extension = size_extension
        self._timeout = timeout
        self.needs_reset = False
        transport.set_protocol(self)

    @property
    def usable(self) -> bool:
        # A reply nobody asked for (a relay announcing "421 timeout" before it closes an idle
        # connection) would be read as the next MAIL's: such a connection is not reused.
        return self._lost is None and not self._replies and not self._transport.is_closing()

    def data_received(self, data: bytes) -> None:
        try:
            self._replies.extend(self._parser.feed(data))
        except MalformedReply as exc:
            self._fail(exc)
            self._transport.close()
            return
        self._wake()

    def eof_received(self) -> bool:
        self._fail(ConnectionResetError("the relay closed the connection"))
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(exc or ConnectionResetError("the relay closed the connection"))

    def _fail(self, exc: Exception) -> None:
        if self._lost is None:
            self._lost = exc
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def _read(self, count: int, *, first_of_group: bool = False) -> list[Reply]:
        """The next ``count`` replies; a lost connection raises (ClosedBeforeReply if none came)."""
        async with asyncio.timeout(self._timeout):
            while len(self._replies) < count:
                if self._lost is not None:
                    if first_of_group and not self._replies:
                        raise ClosedBeforeReply(str(self._lost))
                    if isinstance(self._lost, MalformedReply):
                        raise self._lost
                    raise ConnectionResetError(str(self._lost))
                self._waiter = asyncio.get_running_loop().create_future()
                await self._waiter
        return [self._replies.popleft() for _ in range(count)]

    def _write(self, data: bytes, *, first_of_group: bool = False) -> None:
        if not self.usable:
            error = ClosedBeforeReply if first_of_group else ConnectionResetError
            raise error(str(self._lost or "the connection is closed"))
        self._transport.write(data)

    async def send(self, message: bytes, *, sender: str, recipient: str) -> Reply:
        """One transaction; returns the relay's final 250, raises :class:`Refused` otherwise.

        Connection failures raise ``ConnectionError`` (``ClosedBeforeReply`` when the relay
        answered nothing of this transaction) or ``TimeoutError``; the connection is then unusable.
        """
        if self._replies:
            self.close()
            raise ClosedBeforeReply("the relay sent a reply before any command (closing an idle connection?)")
        reset = self.needs_reset
        message = _crlf(message)  # once: for SIZE= and for the body
        size = len(message) if self._size_extension else None
        self._write(envelope_group(sender, recipient, size=size, reset=reset), first_of_group=True)
        replies = await self._read(3 + reset, first_of_group=True)
        if reset:
            rset = replies.pop(0)
            if rset.code != 250:
                # Nothing of this email can have been accepted (no body was sent): a fault of the
                # connection, not of the email, so the caller may send it on a new connection.
                self.close()
                raise ClosedBeforeReply(f"RSET refused: {rset.code} {rset.text}")
        self.needs_reset = False
        mail, rcpt, data = replies
        if data.code == 354 and (mail.code != 250 or rcpt.code not in (250, 251)):
            # A relay that accepts DATA after refusing the envelope (RFC 2920 says it must not):
            # the conversation would need an empty body; drop the connection instead.
            self.close()
            reusable = False
        else:
            reusable = True
        for step, reply, accepted in (("MAIL", mail, (250,)), ("RCPT", rcpt, (250, 251)), ("DATA", data, (354,))):
            if reply.code not in accepted:
                self.needs_reset = reusable
                raise Refused(step, reply, reusable=reusable and reply.code != 421)
        self._write(_stuffed(message))
        (final,) = await self._read(1)
        if final.code != 250:
            # The transaction is over either way (RFC 5321 §4.1.1.4): no RSET needed.
            raise Refused("DATA", final, reusable=final.code != 421)
        return final

    def close(self) -> None:
        self._transport.close()

    async def quit(self) -> None:
        """Say QUIT and wait briefly for 221; the connection is closed in any case."""
        try:
            self._write(b"QUIT\r\n")
            await asyncio.wait_for(self._read(1), 2)
        except (OSError, TimeoutError, MalformedReply):
            pass
        finally:
            self.close()
