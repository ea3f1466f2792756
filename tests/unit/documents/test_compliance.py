"""The décret 2019-502 rules of one residence, with a given today (no clock, no database)."""

from __future__ import annotations

import uuid
from datetime import date

from services.documents.compliance import (
    LEGAL_CATEGORIES,
    DocFact,
    ResidenceFacts,
    annual_ag_date,
    assess,
    months_before,
    summary,
)

TODAY = date(2026, 12, 3)


def fact(day: str, published: str | None = None) -> DocFact:
    return DocFact(date.fromisoformat(day), date.fromisoformat(published or day))


def items_of(facts: ResidenceFacts, today: date = TODAY) -> dict:
    _, items = assess(facts, today=today)
    return {item.category: item for item in items}


def test_nothing_published_means_every_legal_item_is_missing():
    items = items_of(ResidenceFacts(accounts={uuid.uuid4(): {}}))
    assert [c.code for c in LEGAL_CATEGORIES] == list(items)
    assert {item.status for item in items.values()} == {"missing"}
    assert summary(items.values())["missing"] == len(LEGAL_CATEGORIES)


def test_a_building_document_without_known_ag_is_present():
    items = items_of(ResidenceFacts(shared={"CP_RCP": [fact("2010-03-01")]}))
    assert items["CP_RCP"].status == "present"
    assert items["CP_RCP"].count == 1


def test_ag_minutes_count_the_three_latest_distinct_ags():
    one = ResidenceFacts(shared={"AG_PV": [fact("2026-06-12")]})
    assert (items_of(one)["AG_PV"].status, items_of(one)["AG_PV"].count, items_of(one)["AG_PV"].expected) == (
        "incomplete", 1, 3)
    # Two documents of the same AG (minutes and its corrected version) are one AG.
    same = ResidenceFacts(shared={"AG_PV": [fact("2026-06-12"), fact("2026-06-12"), fact("2025-06-10")]})
    assert items_of(same)["AG_PV"].count == 2
    three = ResidenceFacts(shared={"AG_PV": [fact("2026-06-12"), fact("2025-06-10"), fact("2024-06-11"),
                                             fact("2023-06-09")]})
    assert (items_of(three)["AG_PV"].status, items_of(three)["AG_PV"].count) == ("present", 3)


def test_the_annual_ag_date_is_the_latest_convocation_or_minutes():
    shared = {"AG_PV": [fact("2025-06-10")], "AG_CONVOC": [fact("2026-06-12")], "CP_RCP": [fact("2026-11-01")]}
    assert annual_ag_date(shared) == date(2026, 6, 12)
    assert annual_ag_date({}) is None


def test_building_documents_must_be_updated_within_three_months_before_the_ag():
    ag = {"AG_CONVOC": [fact("2026-06-12")]}
    stale = items_of(ResidenceFacts(shared={**ag, "CP_FICHE": [fact("2026-03-11")]}))
    assert stale["CP_FICHE"].status == "out_of_date"
    assert stale["CP_FICHE"].last_update == date(2026, 3, 11)
    on_time = items_of(ResidenceFacts(shared={**ag, "CP_FICHE": [fact("2026-03-12")]}))
    assert on_time["CP_FICHE"].status == "present"
    # An old document published again (its publication day) within the window counts as updated.
    republished = items_of(ResidenceFacts(shared={**ag, "CP_RCP": [fact("1998-01-05", "2026-05-20")]}))
    assert republished["CP_RCP"].status == "present"
    # The window applies to building documents only, not to council documents.
    council = items_of(ResidenceFacts(shared={**ag, "CS_LISTE": [fact("2020-01-01")]}))
    assert council["CS_LISTE"].status == "present"


def test_fund_calls_must_cover_the_last_three_years_for_every_coproprietaire():
    a, b = uuid.uuid4(), uuid.uuid4()
    full = [fact("2024-01-01"), fact("2025-04-01"), fact("2026-10-01")]
    both = items_of(ResidenceFacts(accounts={a: {"LOT_APPEL": full}, b: {"LOT_APPEL": full}}))
    assert (both["LOT_APPEL"].status, both["LOT_APPEL"].count, both["LOT_APPEL"].expected) == ("present", 2, 2)
    gap = items_of(ResidenceFacts(accounts={a: {"LOT_APPEL": full}, b: {"LOT_APPEL": full[1:]}}))
    assert (gap["LOT_APPEL"].status, gap["LOT_APPEL"].count) == ("incomplete", 1)
    # A year later, 2024 no longer counts and 2027 is owed.
    later = items_of(ResidenceFacts(accounts={a: {"LOT_APPEL": full}}), today=date(2027, 2, 1))
    assert later["LOT_APPEL"].status == "incomplete"


def test_account_items_of_a_residence_without_coproprietaire_owe_nothing():
    items = items_of(ResidenceFacts())
    assert items["LOT_COMPTE"].status == "present"
    assert items["LOT_COMPTE"].expected == 0


def test_months_before_clamps_the_day():
    assert months_before(date(2026, 5, 31), 3) == date(2026, 2, 28)
    assert months_before(date(2026, 2, 15), 3) == date(2025, 11, 15)
