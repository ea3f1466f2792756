"""Dates on the pages are French, and times are Paris time (people read them in France)."""

from gateway.app import _date_fr, _datetime_fr


def test_document_dates_read_day_month_year():
    assert _date_fr("2026-06-12") == "12/06/2026"


def test_times_are_shown_in_paris_time_winter_and_summer():
    assert _datetime_fr("2026-11-27T10:05:00Z") == "27/11/2026 11:05"  # UTC+1
    assert _datetime_fr("2026-07-01T22:30:00+00:00") == "02/07/2026 00:30"  # UTC+2, next day


def test_unreadable_values_are_shown_as_given():
    assert _date_fr("bientôt") == "bientôt"
    assert _datetime_fr("") == ""
