"""PIPELINING (RFC 2920): reply parsing, command groups, and one transaction over a recorded transport."""

from __future__ import annotations

import asyncio

import pytest
from aiosmtplib.protocol import normalize_message_line_endings

from services.notifier.pipelining import (
    ClosedBeforeReply,
    MalformedReply,
    PipelinedConnection,
    Refused,
    Reply,
    ReplyParser,
    data_body,
    envelope_group,
    message_size,
)


def test_parser_returns_every_reply_of_one_segment_in_order():
    assert ReplyParser().feed(b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n") == [
        Reply(250, "2.1.0 Ok"), Reply(250, "2.1.5 Ok"), Reply(354, "End data with <CR><LF>.<CR><LF>")]


def test_parser_keeps_a_partial_line_until_the_rest_arrives():
    parser = ReplyParser()
    assert parser.feed(b"250 O") == []
    assert parser.feed(b"k\r\n25") == [Reply(250, "Ok")]
    assert parser.feed(b"0 Ok\r\n") == [Reply(250, "Ok")]


def test_parser_joins_a_multiline_reply_and_splits_across_segments():
    parser = ReplyParser()
    assert parser.feed(b"250-relay.example\r\n250-PIPELINING\r\n") == []
    assert parser.feed(b"250 SIZE 1000\r\n451 later\r\n") == [
        Reply(250, "relay.example\nPIPELINING\nSIZE 1000"), Reply(451, "later")]


def test_parser_accepts_a_bare_code_and_lf_only_endings():
    assert ReplyParser().feed(b"250\n354 go\n") == [Reply(250, ""), Reply(354, "go")]


@pytest.mark.parametrize("data", [b"hello\r\n", b"25 short\r\n", b"250xOk\r\n", b"650 no such class\r\n",
                                  b"250-a\r\n251 b\r\n", b"2" * 3000])
def test_parser_refuses_what_is_not_an_smtp_reply(data):
    with pytest.raises(MalformedReply):
        ReplyParser().feed(data)


def test_envelope_group_is_mail_rcpt_data_with_size_and_optional_rset():
    assert envelope_group("a@x.fr", "b@y.fr") == b"MAIL FROM:<a@x.fr>\r\nRCPT TO:<b@y.fr>\r\nDATA\r\n"
    assert envelope_group("a@x.fr", "b@y.fr", size=12, reset=True) == (
        b"RSET\r\nMAIL FROM:<a@x.fr> SIZE=12\r\nRCPT TO:<b@y.fr>\r\nDATA\r\n")


@pytest.mark.parametrize("address", ["b@y.fr\r\nRCPT TO:<evil@z.fr>", "b@y.fr\n", "b\x00@y.fr"])
def test_envelope_group_refuses_command_injection(address):
    with pytest.raises(ValueError):
        envelope_group("a@x.fr", address)


def test_data_body_normalises_line_endings_doubles_leading_periods_and_terminates():
    assert data_body(b"Subject: x\n\n.hidden\r\nlone\rcr\r\n..two") == (
        b"Subject: x\r\n\r\n..hidden\r\nlone\r\ncr\r\n...two\r\n.\r\n")
    assert data_body(b"a\r\n") == b"a\r\n.\r\n"


@pytest.mark.parametrize("message", [b"a\nb", b".a\r\n", b"x\ry\r\n\r\nz", b""])
def test_message_size_counts_crlf_octets_before_dot_stuffing_as_aiosmtplib_does(message):
    assert message_size(message) == len(normalize_message_line_endings(message))


class RecordedTransport(asyncio.Transport):
    """Records writes; the test plays the relay by calling the protocol's data_received."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.protocol = None
        self.closed = False
        self._written = asyncio.Event()

    async def wait_writes(self, count: int) -> None:
        while len(self.writes) < count:
            self._written.clear()
            await self._written.wait()

    def set_protocol(self, protocol):
        self.protocol = protocol

    def write(self, data):
        self.writes.append(bytes(data))
        self._written.set()

    def is_closing(self):
        return self.closed

    def close(self):
        if not self.closed:
            self.closed = True
            self.protocol.connection_lost(None)


async def _answer_after_write(transport: RecordedTransport, count: int, replies: bytes) -> None:
    await transport.wait_writes(count)
    transport.protocol.data_received(replies)


async def test_one_transaction_is_two_writes_mail_rcpt_data_together_then_the_body():
    transport = RecordedTransport()
    conn = PipelinedConnection(transport, size_extension=True, timeout=2)
    relay = asyncio.gather(_answer_after_write(transport, 1, b"250 ok\r\n250 ok\r\n354 go\r\n"),
                           _answer_after_write(transport, 2, b"250 queued\r\n"))
    assert await conn.send(b"Subject: s\r\n\r\nbody\r\n", sender="a@x.fr", recipient="b@y.fr") == Reply(250, "queued")
    await relay
    assert transport.writes == [b"MAIL FROM:<a@x.fr> SIZE=20\r\nRCPT TO:<b@y.fr>\r\nDATA\r\n",
                                b"Subject: s\r\n\r\nbody\r\n.\r\n"]
    assert conn.usable and not conn.needs_reset


async def test_a_refused_recipient_sends_no_body_and_the_next_group_starts_with_rset():
    transport = RecordedTransport()
    conn = PipelinedConnection(transport, size_extension=False, timeout=2)
    relay = _answer_after_write(transport, 1, b"250 ok\r\n550 5.1.1 no such user\r\n554 no valid recipients\r\n")
    with pytest.raises(Refused) as refused:
        await asyncio.gather(conn.send(b"x", sender="a@x.fr", recipient="b@y.fr"), relay)
    assert (refused.value.step, refused.value.reply.code, refused.value.reusable) == ("RCPT", 550, True)
    assert len(transport.writes) == 1 and conn.needs_reset
    relay = asyncio.gather(_answer_after_write(transport, 2, b"250 reset\r\n250 ok\r\n250 ok\r\n354 go\r\n"),
                           _answer_after_write(transport, 3, b"250 queued\r\n"))
    await conn.send(b"x", sender="a@x.fr", recipient="c@y.fr")
    await relay
    assert transport.writes[1].startswith(b"RSET\r\nMAIL FROM:<a@x.fr>\r\n")
    assert not conn.needs_reset


async def test_a_final_4xx_needs_no_rset_and_a_421_is_not_reusable():
    transport = RecordedTransport()
    conn = PipelinedConnection(transport, size_extension=False, timeout=2)
    relay = asyncio.gather(_answer_after_write(transport, 1, b"250 ok\r\n250 ok\r\n354 go\r\n"),
                           _answer_after_write(transport, 2, b"451 4.3.0 try later\r\n"))
    with pytest.raises(Refused) as refused:
        await asyncio.gather(conn.send(b"x", sender="a@x.fr", recipient="b@y.fr"), relay)
    assert (refused.value.reply.code, refused.value.reusable, conn.needs_reset) == (451, True, False)
    relay = _answer_after_write(transport, 3, b"421 4.7.0 closing\r\n503 bad sequence\r\n503 bad sequence\r\n")
    with pytest.raises(Refused) as refused:
        await asyncio.gather(conn.send(b"x", sender="a@x.fr", recipient="b@y.fr"), relay)
    assert (refused.value.step, refused.value.reply.code, refused.value.reusable) == ("MAIL", 421, False)


async def test_data_accepted_after_a_refused_envelope_drops_the_connection():
    transport = RecordedTransport()
    conn = PipelinedConnection(transport, size_extension=False, timeout=2)
    relay = _answer_after_write(transport, 1, b"250 ok\r\n550 no\r\n354 go anyway\r\n")
    with pytest.raises(Refused) as refused:
        await asyncio.gather(conn.send(b"x", sender="a@x.fr", recipient="b@y.fr"), relay)
    assert not refused.value.reusable and transport.closed and len(transport.writes) == 1


async def test_closed_before_any_reply_is_distinguished_from_closed_after_the_body():
    transport = RecordedTransport()
    conn = PipelinedConnection(transport, size_extension=False, timeout=2)

    async def close_after(count: int) -> None:
        await transport.wait_writes(count)
        conn.eof_received()

    with pytest.raises(ClosedBeforeReply):
        await asyncio.gather(conn.send(b"x", sender="a@x.fr", recipient="b@y.fr"), close_after(1))
    assert not conn.usable

    transport = RecordedTransport()
    conn = PipelinedConnection(transport, size_extension=False, timeout=2)
    relay = _answer_after_write(transport, 1, b"250 ok\r\n250 ok\r\n354 go\r\n")
    with pytest.raises(ConnectionError) as lost:
        await asyncio.gather(conn.send(b"x", sender="a@x.fr", recipient="b@y.fr"), relay, close_after(2))
    assert not isinstance(lost.value, ClosedBeforeReply)  # the relay may have accepted it: no silent retry


async def test_a_silent_relay_times_out():
    conn = PipelinedConnection(RecordedTransport(), size_extension=False, timeout=0.05)
    with pytest.raises(TimeoutError):
        await conn.send(b"x", sender="a@x.fr", recipient="b@y.fr")


async def test_a_reply_nobody_asked_for_makes_the_connection_unusable():
    transport = RecordedTransport()
    conn = PipelinedConnection(transport, size_extension=False, timeout=2)
    conn.data_received(b"421 4.4.2 timeout exceeded\r\n")
    assert not conn.usable
    with pytest.raises(ClosedBeforeReply):
        await conn.send(b"x", sender="a@x.fr", recipient="b@y.fr")
    assert transport.writes == [] and transport.closed


async def test_a_refused_rset_closes_the_connection_as_nothing_was_accepted():
    transport = RecordedTransport()
    conn = PipelinedConnection(transport, size_extension=False, timeout=2)
    conn.needs_reset = True
    relay = _answer_after_write(transport, 1, b"500 what\r\n250 ok\r\n250 ok\r\n354 go\r\n")
    with pytest.raises(ClosedBeforeReply, match="RSET"):
        await asyncio.gather(conn.send(b"x", sender="a@x.fr", recipient="b@y.fr"), relay)
    assert transport.closed and len(transport.writes) == 1
