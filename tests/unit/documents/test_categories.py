"""Categories as data, and which audience each may be published to."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from services.documents.categories import CATEGORIES, GROUPS
from services.documents.domain import ROLES, AudienceKind, audience_problems

SPEC = Path(__file__).resolve().parents[4] / "shared" / "DOCUMENT-CATEGORIES.md"


def test_the_table_matches_the_shared_reference():
    if not SPEC.exists():
        pytest.skip("shared/DOCUMENT-CATEGORIES.md is not beside the repository")
    rows = re.findall(r"^\| ([A-Z_]+) \| (.+?) \|", SPEC.read_text(encoding="utf-8"), flags=re.M)
    reference = {code: label for code, label in rows if code != "code"}
    assert {code: c.label for code, c in CATEGORIES.items()} == reference


def test_groups_and_audiences_are_consistent():
    groups = [code for code, _ in GROUPS]
    assert groups == ["copropriete", "assemblees", "lot", "conseil", "bailleur", "locataire"]
    for category in CATEGORIES.values():
        assert category.group in groups
        assert category.audience in ("ALL", "CS", "ACCOUNT")
        assert (category.role is not None) == (category.audience == "ACCOUNT")
    assert CATEGORIES["AG_VPC"].audience == "ACCOUNT" and CATEGORIES["AG_VPC"].role == "coproprietaire"
    assert CATEGORIES["LOT_APPEL"].legal and not CATEGORIES["LOT_RELANCE"].legal
    assert sum(c.legal for c in CATEGORIES.values()) == 20


def _allowed(category, kind, role) -> bool:
    if category.audience == "ALL":
        return kind is AudienceKind.RESIDENCE_ALL
    if category.audience == "CS":
        return kind is AudienceKind.RESIDENCE_COUNCIL
    return kind is AudienceKind.ACCOUNT and role == category.role


@pytest.mark.parametrize("code", sorted(CATEGORIES))
def test_every_category_against_every_audience_and_role(code):
    category = CATEGORIES[code]
    for kind in AudienceKind:
        for role in ROLES if kind is AudienceKind.ACCOUNT else [None]:
            problems = audience_problems(category, kind, role)
            assert (problems == []) is _allowed(category, kind, role), (code, kind, role)
            assert all(code in p for p in problems)


def test_examples_from_the_reference():
    # "a quittance sent to a residence, a council document sent to an account" are refused.
    assert audience_problems(CATEGORIES["LOC_QUITT"], AudienceKind.RESIDENCE_ALL)
    assert audience_problems(CATEGORIES["CS_BANQUE"], AudienceKind.ACCOUNT, "coproprietaire")
    assert not audience_problems(CATEGORIES["LOC_QUITT"], AudienceKind.ACCOUNT, "locataire")
    assert audience_problems(CATEGORIES["LOC_QUITT"], AudienceKind.ACCOUNT, "bailleur")
