"""When a person may try again, as the pages say it: Paris time, rounded up, never too early."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from gateway import messages
from gateway.upstream import Reply
from gateway.waiting import available_at, clock_time, from_time, parse_instant, round_up_to_minute

NOW = datetime(2026, 12, 3, 13, 29, 40, tzinfo=UTC)  # 14 h 29 min 40 s in Paris (winter, UTC+1)


def plain(text: str) -> str:
    """No-break spaces (kept in the pages so "14 h 32" never splits) read as spaces in assertions."""
    return text.replace("\u00a0", " ")


def test_round_up_to_minute_is_never_earlier_than_the_real_end():
    assert round_up_to_minute(datetime(2026, 12, 3, 13, 31, tzinfo=UTC)) == datetime(2026, 12, 3, 13, 31, tzinfo=UTC)
    assert round_up_to_minute(datetime(2026, 12, 3, 13, 31, 0, 1, tzinfo=UTC)) == datetime(2026, 12, 3, 13, 32,
                                                                                          tzinfo=UTC)
    assert round_up_to_minute(datetime(2026, 12, 3, 13, 31, 59, tzinfo=UTC)) == datetime(2026, 12, 3, 13, 32,
                                                                                        tzinfo=UTC)
    assert round_up_to_minute(datetime(2026, 12, 31, 23, 59, 1, tzinfo=UTC)) == datetime(2027, 1, 1, tzinfo=UTC)
    for seconds in range(0, 3600, 7):
        end = NOW + timedelta(seconds=seconds, microseconds=seconds * 13)
        shown = round_up_to_minute(end)
        assert end <= shown < end + timedelta(minutes=1)


@pytest.mark.parametrize(("at", "expected"), [
    (datetime(2026, 12, 3, 13, 32, tzinfo=UTC), "14 h 32"),  # winter: UTC+1
    (datetime(2026, 12, 3, 13, 31, 0, 500, tzinfo=UTC), "14 h 32"),  # half a millisecond: the next minute
    (datetime(2026, 7, 14, 12, 5, tzinfo=UTC), "14 h 05"),  # summer: UTC+2, minutes on two digits
    (datetime(2026, 7, 14, 7, 0, tzinfo=UTC), "9 h 00"),  # no leading zero on the hour
    (datetime(2026, 7, 13, 22, 0, tzinfo=UTC), "0 h 00"),
    # Spring forward (29 March 2026, 02:00 CET -> 03:00 CEST at 01:00 UTC).
    (datetime(2026, 3, 29, 0, 58, 30, tzinfo=UTC), "1 h 59"),
    (datetime(2026, 3, 29, 0, 59, 30, tzinfo=UTC), "3 h 00"),  # rounded up across the jump
    (datetime(2026, 3, 29, 1, 15, tzinfo=UTC), "3 h 15"),
    # Fall back (25 October 2026, 03:00 CEST -> 02:00 CET at 01:00 UTC): 2 h 30 happens twice.
    (datetime(2026, 10, 25, 0, 30, tzinfo=UTC), "2 h 30"),
    (datetime(2026, 10, 25, 0, 58, 1, tzinfo=UTC), "2 h 59"),  # still summer time (CEST)
    (datetime(2026, 10, 25, 0, 59, 1, tzinfo=UTC), "2 h 00"),  # rounded up onto the switch: 02:00 CET
    (datetime(2026, 10, 25, 1, 30, tzinfo=UTC), "2 h 30"),
    (datetime(2026, 12, 3, 14, 32, tzinfo=timezone(timedelta(hours=1))), "14 h 32"),  # any offset
])
def test_clock_time_is_paris_time_rounded_up(at, expected):
    assert plain(clock_time(at)) == expected


def test_clock_time_keeps_the_time_on_one_line():
    assert clock_time(datetime(2026, 12, 3, 13, 32, tzinfo=UTC)) == "14\u00a0h\u00a032"


def test_from_time_names_the_day_when_it_is_not_today_in_paris():
    assert plain(from_time(NOW + timedelta(minutes=2), now=NOW)) == "à partir de 14 h 32"
    late = datetime(2026, 12, 3, 22, 50, tzinfo=UTC)  # 23 h 50 in Paris: the same UTC day, tomorrow in Paris
    assert plain(from_time(late + timedelta(minutes=15), now=late)) == "à partir de demain, 0 h 05"
    # The day is the one in Paris: 23 h 30 is still today there.
    assert plain(from_time(datetime(2026, 12, 3, 22, 30, tzinfo=UTC), now=datetime(2026, 12, 3, 22, 0, tzinfo=UTC))
                 ) == "à partir de 23 h 30"
    assert plain(from_time(datetime(2026, 12, 5, 8, 5, tzinfo=UTC), now=NOW)) == "à partir du 5 décembre, 9 h 05"
    assert plain(from_time(datetime(2027, 1, 1, 8, 5, tzinfo=UTC), now=datetime(2026, 12, 30, 8, 0, tzinfo=UTC))
                 ) == "à partir du 1er janvier, 9 h 05"


def test_available_at_prefers_the_time_given_else_adds_the_wait():
    assert available_at(now=NOW, retry_after=125) == NOW + timedelta(seconds=125)
    assert available_at(now=NOW, retry_after=0.2) == NOW + timedelta(seconds=1)
    assert available_at(now=NOW) == NOW + timedelta(seconds=60)
    given = datetime(2026, 12, 3, 13, 45, tzinfo=UTC)
    assert available_at(now=NOW, retry_after=5, at=given) == given


def test_parse_instant_reads_iso_utc_and_refuses_anything_else():
    assert parse_instant("2026-12-03T13:32:00+00:00") == datetime(2026, 12, 3, 13, 32, tzinfo=UTC)
    assert parse_instant("2026-12-03T13:32:00Z") == datetime(2026, 12, 3, 13, 32, tzinfo=UTC)
    assert parse_instant("2026-12-03T13:32:00") == datetime(2026, 12, 3, 13, 32, tzinfo=UTC)
    assert parse_instant(None) is None and parse_instant("") is None and parse_instant("soon") is None
    assert parse_instant(1733232720) is None


def test_wait_messages_say_what_happened_and_when():
    reply = Reply(429, {"error": "too_many_requests", "retry_after": 125})
    assert plain(messages.wait_message(reply, messages.RESEND_SENT_WAIT, now=NOW)) == (
        "Un email vient de vous être envoyé. Vous pourrez en demander un nouveau à partir de 14 h 32.")
    # 14:29:40 + 125 s = 14:31:45 -> 14 h 32; the header when the body has no retry_after.
    header = Reply(429, {"error": "too_many_requests"}, {"Retry-After": "600"})
    assert plain(messages.wait_message(header, messages.LOGIN_WAIT, now=NOW)).endswith(
        "Vous pourrez réessayer à partir de 14 h 40.")
    exact = datetime(2026, 12, 3, 13, 45, tzinfo=UTC)
    assert plain(messages.wait_message(reply, messages.RESEND_WAIT, now=NOW, at=exact)).endswith(
        "à partir de 14 h 45.")
    # A saturated service: a few seconds, said without a clock time.
    assert messages.wait_message(Reply(429, {"error": "busy", "retry_after": 1}), messages.LOGIN_WAIT,
                                 now=NOW) == messages.BUSY
    for template in (messages.RESEND_SENT_WAIT, messages.RESENT_WAIT, messages.RESEND_WAIT,
                     messages.PROVISIONAL_WAIT, messages.EMAIL_CHOICE_WAIT, messages.LOGIN_WAIT,
                     messages.PERSON_LOCK_WAIT, messages.FORGOT_WAIT, messages.OTHER_WAIT):
        text = plain(messages.wait_message(reply, template, now=NOW))
        assert "à partir de 14 h 32" in text and "Trop de tentatives" not in text
