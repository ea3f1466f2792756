"""The décret n° 2019-502 check of one residence: which legal items are present, missing, incomplete
or out of date. Pure: no aiohttp, no asyncpg; ``today`` is given (from the service's clock).

Interpretation of the rules (docs/internal-api.md, "Compliance"):

- every legal category (DOCUMENT-CATEGORIES.md) must have at least one live document where its
  audience puts it: the residence (``ALL``), its council (``CS``), or each active coproprietaire
  account of the residence (``ACCOUNT``: ``n`` of ``m`` accounts have one, else ``incomplete``);
- ``AG_PV``: the minutes of the 3 latest AGs, i.e. 3 documents of distinct dates (fewer: ``incomplete``,
  with the count);
- ``LOT_APPEL``: for each coproprietaire account, at least one fund call dated in each of the 3
  calendar years ending with the current one;
- the annual AG date is the latest date of an ``AG_CONVOC`` or ``AG_PV`` document of the residence;
  when one is known, each legal building document (group ``copropriete``) must have been updated
  (document date or publication date) within the 3 months before it, else it is ``out_of_date``.
"""

from __future__ import annotations

import calendar
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date

from services.documents.categories import CATEGORIES, Category

__all__ = ["LEGAL_CATEGORIES", "DocFact", "Item", "ResidenceFacts", "annual_ag_date", "assess", "months_before",
           "summary"]

PRESENT, MISSING, INCOMPLETE, OUT_OF_DATE = "present", "missing", "incomplete", "out_of_date"
STATUSES = (PRESENT, MISSING, INCOMPLETE, OUT_OF_DATE)
LEGAL_CATEGORIES: tuple[Category, ...] = tuple(c for c in CATEGORIES.values() if c.legal)
AG_DATE_CATEGORIES = ("AG_CONVOC", "AG_PV")
AG_MINUTES_WANTED = 3
FUND_CALL_YEARS = 3
UPDATE_WINDOW_MONTHS = 3


@dataclass(frozen=True)
class DocFact:
    """One live document as the rules see it: its own date and the day it was published."""

    doc_date: date
    published_on: date

    @property
    def updated_on(self) -> date:
        return max(self.doc_date, self.published_on)


@dataclass
class ResidenceFacts:
    """The live documents of one residence, by category.

    ``shared``: documents published to the residence or its council; ``accounts``: for each active
    coproprietaire account of the residence, its own documents by category.
    """

    shared: dict[str, list[DocFact]] = field(default_factory=dict)
    accounts: dict[uuid.UUID, dict[str, list[DocFact]]] = field(default_factory=dict)


@dataclass(frozen=True)
class Item:
    category: str
    label: str
    group: str
    status: str
    count: int  # documents (residence items) or accounts that have what is needed (account items)
    expected: int | None = None  # what ``count`` is compared with, when the rule counts
    last_update: date | None = None

    def to_json(self) -> dict:
        return {"category": self.category, "label": self.label, "group": self.group, "status": self.status,
                "count": self.count, "expected": self.expected,
                "last_update": self.last_update.isoformat() if self.last_update else None}


def months_before(day: date, months: int) -> date:
    """``day`` moved back ``months`` calendar months (the day clamped to the month's length)."""
    year, month = divmod(day.year * 12 + day.month - 1 - months, 12)
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def annual_ag_date(shared: Mapping[str, Iterable[DocFact]]) -> date | None:
    """The latest known AG date: the latest date of an AG convocation or minutes, or None."""
    dates = [fact.doc_date for code in AG_DATE_CATEGORIES for fact in shared.get(code, ())]
    return max(dates, default=None)


def _residence_item(category: Category, facts: list[DocFact], ag_date: date | None) -> Item:
    base = {"category": category.code, "label": category.label, "group": category.group}
    last = max((f.updated_on for f in facts), default=None)
    if not facts:
        return Item(**base, status=MISSING, count=0, expected=AG_MINUTES_WANTED if category.code == "AG_PV" else None)
    if category.code == "AG_PV":
        distinct = len({f.doc_date for f in facts})
        status = PRESENT if distinct >= AG_MINUTES_WANTED else INCOMPLETE
        return Item(**base, status=status, count=min(distinct, AG_MINUTES_WANTED), expected=AG_MINUTES_WANTED,
                    last_update=last)
    if category.group == "copropriete" and ag_date is not None:
        # Updated within the 3 months before the AG; an update after it counts too (it is at least
        # as recent as the one the AG needed).
        updated = last >= months_before(ag_date, UPDATE_WINDOW_MONTHS)
        return Item(**base, status=PRESENT if updated else OUT_OF_DATE, count=len(facts), last_update=last)
    return Item(**base, status=PRESENT, count=len(facts), last_update=last)


def _account_has(category: Category, facts: list[DocFact], today: date) -> bool:
    if category.code == "LOT_APPEL":
        wanted = set(range(today.year - FUND_CALL_YEARS + 1, today.year + 1))
        return wanted <= {f.doc_date.year for f in facts}
    return bool(facts)


def _account_item(category: Category, accounts: Mapping[uuid.UUID, Mapping[str, list[DocFact]]],
                  today: date) -> Item:
    base = {"category": category.code, "label": category.label, "group": category.group}
    per_account = [docs.get(category.code, []) for docs in accounts.values()]
    complete = sum(1 for facts in per_account if _account_has(category, facts, today))
    any_document = any(per_account)
    last = max((f.updated_on for facts in per_account for f in facts), default=None)
    if not accounts or not any_document:
        status = MISSING if accounts else PRESENT  # no coproprietaire account: nothing is owed
    else:
        status = PRESENT if complete == len(accounts) else INCOMPLETE
    return Item(**base, status=status, count=complete, expected=len(accounts), last_update=last)


def assess(facts: ResidenceFacts, *, today: date) -> tuple[date | None, list[Item]]:
    """The annual AG date used and one item per legal category, in the categories' order."""
    ag_date = annual_ag_date(facts.shared)
    items = []
    for category in LEGAL_CATEGORIES:
        if category.audience == "ACCOUNT":
            items.append(_account_item(category, facts.accounts, today))
        else:
            items.append(_residence_item(category, facts.shared.get(category.code, []), ag_date))
    return ag_date, items


def summary(items: Iterable[Item]) -> dict[str, int]:
    """How many items are in each status."""
    counts = dict.fromkeys(STATUSES, 0)
    for item in items:
        counts[item.status] += 1
    return counts
