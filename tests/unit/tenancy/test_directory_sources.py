"""directory_sources: a document's accounts come in chunks, each valid account once, in order, and
every problem is reported with the path or line the whole document gives it."""

from __future__ import annotations

import json

import pytest

from common.errors import BadRequest
from services.tenancy.directory_sources import AccountList, CsvAccounts, json_document_parts
from services.tenancy.domain import MAX_REPORTED_ERRORS, Account


def _account(i: int, **changes) -> dict:
    return {"ref": f"C{i}", "role": "locataire", "display_name": f"Nom {i}", "lot_refs": [f"L{i}"], **changes}


def _json(accounts: list, **parts) -> bytes:
    return json.dumps({"accounts": accounts, **parts}).encode()


def test_json_accounts_come_in_chunks_with_their_place_in_the_document():
    residences, lots, source = json_document_parts(_json(
        [_account(i) for i in range(7)], residences=[{"ref": "R1", "name": "Les Tilleuls"}],
        lots=[{"ref": "L0", "residence_ref": "R1", "number": "1"}]))
    assert [r.ref for r in residences] == ["R1"] and [lot.ref for lot in lots] == ["L0"]
    chunks = list(source.chunks(3))
    assert [[a.ref for a in chunk] for chunk in chunks] == [["C0", "C1", "C2"], ["C3", "C4", "C5"], ["C6"]]
    assert chunks[1][2] == Account("C5", "locataire", "Nom 5", None, False, ["L5"], "accounts[5]")
    assert source.error_count == 0 and source.errors == []


def test_a_malformed_json_account_stops_the_chunks_and_every_problem_is_listed_by_its_path():
    accounts = [_account(i) for i in range(7)]
    accounts[4]["role"] = "gardien"
    accounts[6]["email"] = "pas une adresse"
    source = json_document_parts(_json(accounts))[2]
    assert [[a.ref for a in chunk] for chunk in source.chunks(3)] == [["C0", "C1", "C2"]]
    assert [e["path"] for e in source.errors] == ["accounts[4].role", "accounts[6].email"]
    assert source.error_count == 2


def test_problems_of_the_lots_come_before_those_of_the_accounts_and_no_account_is_given():
    accounts = [_account(0), _account(1, lot_refs=[])]
    source = json_document_parts(_json(accounts, lots=[{"ref": "L0", "residence_ref": "R1"}]))[2]
    assert list(source.chunks(10)) == []
    assert [e["path"] for e in source.errors] == ["lots[0].number", "accounts[1].lot_refs"]
    assert source.error_count == 2


@pytest.mark.parametrize(("body", "path"), [
    (b"[]", "$"),
    (b'{"accounts": "C1"}', "accounts"),
    (b'{"accounts": [], "people": []}', "people"),
])
def test_a_document_of_the_wrong_shape_is_one_problem(body, path):
    source = json_document_parts(body)[2]
    assert list(source.chunks(10)) == []
    assert [e["path"] for e in source.errors] == [path]


def test_a_body_that_is_not_json_is_a_bad_request():
    with pytest.raises(BadRequest, match="not valid JSON"):
        json_document_parts(b'{"accounts": [')


def test_the_reported_problems_are_capped_but_all_counted_across_chunks():
    accounts = [_account(i, role="gardien") for i in range(MAX_REPORTED_ERRORS + 5)]
    source = json_document_parts(_json(accounts))[2]
    assert list(source.chunks(400)) == []
    assert len(source.errors) == MAX_REPORTED_ERRORS and source.error_count == MAX_REPORTED_ERRORS + 5
    assert source.errors[-1]["path"] == f"accounts[{MAX_REPORTED_ERRORS - 1}].role"


def test_csv_accounts_come_in_chunks_with_their_line_numbers_whatever_the_piece_edges():
    lines = "".join(f"C{i:05d};locataire;Nom {i};L{i}\n" for i in range(20_000))
    body = ("ref;role;display_name;lot_refs\n" + lines).encode()
    assert len(body) > 2 * 256 * 1024  # fed in pieces of 256 KiB: lines cut at their edges
    source = CsvAccounts(body)
    chunks = list(source.chunks(7000))
    assert [len(chunk) for chunk in chunks] == [7000, 7000, 6000]
    assert [a.ref for chunk in chunks for a in chunk] == [f"C{i:05d}" for i in range(20_000)]
    assert chunks[2][-1].where == "line 20001"
    assert source.error_count == 0


def test_an_empty_csv_body_is_a_missing_header():
    source = CsvAccounts(b"")
    assert list(source.chunks(10)) == []
    assert [(e["path"], e["message"]) for e in source.errors] == [("line 1", "missing header line "
                                                            "ref;role;display_name;email;lot_refs;council")]


def test_an_account_list_is_cut_as_asked():
    accounts = [Account(f"C{i}", "locataire", "X", None, False, ["L1"], f"accounts[{i}]") for i in range(5)]
    assert [len(c) for c in AccountList(accounts).chunks(2)] == [2, 2, 1]
    assert list(AccountList([]).chunks(2)) == []


def test_the_lot_refs_hint_reads_the_documents_without_validating_them():
    accounts = [_account(0), _account(1, lot_refs=["L1", " L2 ", 7]), "not an account", _account(3, lot_refs="L3")]
    assert json_document_parts(_json(accounts))[2].lot_refs_hint() == {"L0", "L1", " L2 "}
    body = ("\ufeffRef;Lot_Refs;role;display_name\r\n"
            "C1;L1, L2;locataire;Un\r\n"
            'C2;L3;locataire;"Deux; bis"\r\n'     # quoted: left to the parser
            "C3;;locataire\r\n"                  # short: left to the parser
            "C4;L4;locataire;Quatre").encode()
    assert CsvAccounts(body).lot_refs_hint() == {"L1", "L2", "L4"}
    assert CsvAccounts(b"ref;role;display_name\nC1;locataire;X").lot_refs_hint() == set()
    accounts = [Account("C1", "locataire", "X", None, False, ["L1", "L2"], "accounts[0]")]
    assert AccountList(accounts).lot_refs_hint() == {"L1", "L2"}


def test_the_document_read_in_parts_is_the_documented_one():
    """The import validates DirectoryHead, then its accounts with ACCOUNT_LIST; the OpenAPI document
    shows DirectoryIn. Both must describe the same document."""
    from services.tenancy.schemas import ACCOUNT_LIST, AccountIn, DirectoryHead, DirectoryIn

    assert DirectoryHead.model_fields.keys() == DirectoryIn.model_fields.keys()
    for name in ("residences", "lots"):
        assert DirectoryHead.model_fields[name].annotation == DirectoryIn.model_fields[name].annotation
    assert DirectoryIn.model_fields["accounts"].annotation == list[AccountIn]
    [account] = ACCOUNT_LIST.validate_python([_account(1)])
    assert type(account) is AccountIn
    assert DirectoryHead.model_config == DirectoryIn.model_config
