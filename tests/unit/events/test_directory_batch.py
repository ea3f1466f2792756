"""common.directory_events: a tenancy.accounts_upserted batch expands into single-account payloads."""

from __future__ import annotations

import json

import pytest

from common.directory_events import ACCOUNT_FIELDS, LOT_FIELDS, BatchError, accounts_of_batch, encode_batch

R1 = {"id": "11111111-1111-4111-8111-111111111111", "ref": "R1", "name": "Les Tilleuls"}
R2 = {"id": "22222222-2222-4222-8222-222222222222", "ref": "R2", "name": "Le Clos"}


def _batch(accounts, residences=(R1, R2), **extra):
    return {"tenant_id": "t", "account_fields": list(ACCOUNT_FIELDS), "lot_fields": list(LOT_FIELDS),
            "residences": list(residences), "accounts": accounts, **extra}


def test_each_account_gets_the_single_event_shape_with_its_residences_from_its_lots():
    payload = _batch([["a1", "C1", "coproprietaire", "M. Un", True, "active", [["L2", "13", "R2"], ["L1", "12", "R1"]]],
                      ["a2", "C2", "locataire", "Mme Deux", False, "active", [["L3", "1", "R1"]]]])
    assert accounts_of_batch(payload) == [
        {"account_id": "a1", "tenant_id": "t", "ref": "C1", "role": "coproprietaire", "display_name": "M. Un",
         "council": True, "status": "active", "residences": [R1, R2],
         "lots": [{"ref": "L1", "number": "12", "residence_ref": "R1"},
                  {"ref": "L2", "number": "13", "residence_ref": "R2"}]},
        {"account_id": "a2", "tenant_id": "t", "ref": "C2", "role": "locataire", "display_name": "Mme Deux",
         "council": False, "status": "active", "residences": [R1],
         "lots": [{"ref": "L3", "number": "1", "residence_ref": "R1"}]}]


def test_fields_are_read_by_name_so_a_later_version_may_append_some():
    payload = _batch([["a1", "C1", "bailleur", "X", False, "active", [["L1", "12", "R1", "parking"]], "extra"]],
                     account_fields=[*ACCOUNT_FIELDS, "future"], lot_fields=[*LOT_FIELDS, "kind"])
    [account] = accounts_of_batch(payload)
    assert account["role"] == "bailleur" and account["residences"] == [R1]
    assert account["lots"] == [{"ref": "L1", "number": "12", "residence_ref": "R1", "kind": "parking"}]


@pytest.mark.parametrize("broken", [
    {"accounts": [["a1", "C1"]]},                                                        # row shorter than fields
    {"accounts": [["a1", "C1", "locataire", "X", False, "active", [["L1", "1", "R9"]]]]},  # unknown residence
    {"residences": None},
    {"tenant_id": None, "account_fields": None},
])
def test_a_malformed_batch_raises_batch_error(broken):
    payload = _batch([["a1", "C1", "locataire", "X", False, "active", []]]) | broken
    if "account_fields" in broken:
        del payload["tenant_id"]
    with pytest.raises(BatchError):
        accounts_of_batch(payload)


def test_an_encoded_batch_lists_the_residences_of_its_lots_only_and_reads_back():
    residences = {"R1": R1, "R2": R2, "R3": {"id": "3", "ref": "R3", "name": "Unused"}}
    text = encode_batch("t", [["a1", "C1", "coproprietaire", "M. Un", True, "active", [["L1", "12", "R2"]]],
                              ["a2", "C2", "locataire", "Mme Deux", False, "active", [["L3", "1", "R1"]]]], residences)
    payload = json.loads(text)
    assert payload["account_fields"] == list(ACCOUNT_FIELDS) and payload["lot_fields"] == list(LOT_FIELDS)
    assert payload["residences"] == [R1, R2]  # sorted by ref, R3 left out
    assert [(a["ref"], a["residences"]) for a in accounts_of_batch(payload)] == [("C1", [R2]), ("C2", [R1])]


def test_encoding_a_batch_whose_lot_names_an_unknown_residence_fails():
    with pytest.raises(KeyError):
        encode_batch("t", [["a1", "C1", "locataire", "X", False, "active", [["L1", "1", "R9"]]]], {"R1": R1})
