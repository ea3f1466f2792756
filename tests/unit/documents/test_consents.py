"""Pure rules of the consent register and of the proof report's rendering (issue 14)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.documents.consents import KINDS, WORDING_VERSION, kind_for_category, state_at, wording
from services.documents.proof_report import paris, register_csv

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def test_state_at_a_moment_is_the_latest_change_at_or_before_it():
    changes = [(T0, True), (T0 + timedelta(days=10), False), (T0 + timedelta(days=20), True)]
    assert state_at(changes, T0 - timedelta(seconds=1)).given is False  # never asked: no consent
    assert state_at(changes, T0).given is True and state_at(changes, T0).since == T0
    assert state_at(changes, T0 + timedelta(days=15)).given is False
    assert state_at(changes, T0 + timedelta(days=30)).since == T0 + timedelta(days=20)


def test_which_documents_need_which_consent():
    assert kind_for_category("AG_CONVOC") == "notifications"
    assert kind_for_category("LOT_APPEL") == "appels_de_fonds"
    assert kind_for_category("AG_PV") is None and kind_for_category("LOC_QUITT") is None


def test_each_wording_names_its_legal_basis_and_the_right_to_withdraw():
    assert set(KINDS) == {"notifications", "mises_en_demeure", "appels_de_fonds"}
    assert "art. 42-1" in wording("notifications") and "64-1 à 64-4" in wording("mises_en_demeure")
    assert "art. 35-2" in wording("appels_de_fonds")
    assert all("retirer cet accord à tout moment" in wording(k) for k in KINDS)
    assert WORDING_VERSION


def test_paris_time_with_its_offset():
    assert paris("2026-06-12T12:03:07+00:00") == "12/06/2026 14:03:07 (UTC+02:00)"
    assert paris("2026-01-12T12:03:07+00:00") == "12/01/2026 13:03:07 (UTC+01:00)"
    assert paris(None) == "—"


def test_register_csv_neutralises_formulas():
    register = {"at": T0.isoformat(), "kinds": [{"kind": "notifications", "label": "N"}], "accounts": [],
                "changes": [{"at": T0.isoformat(), "account_ref": "=HYPERLINK(1)", "lots": [], "kind": "notifications",
                             "given": True, "person_id": "p", "means": "web", "wording_version": "v",
                             "wording": "w"}]}
    text = register_csv(register, "changes").decode("utf-8-sig")
    assert "'=HYPERLINK(1)" in text and text.startswith("at;account_ref;lots;kind;given")
