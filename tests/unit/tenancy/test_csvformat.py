"""The CSV accounts parser: chunk boundaries, quoting, BOM, errors by line; the CSV writer."""

from __future__ import annotations

import csv
import io

from services.tenancy.csvformat import CsvAccountsParser, write_csv

HEADER = b"ref;role;display_name;email;lot_refs;council\r\n"


def _parse(data: bytes, chunk: int = 7) -> CsvAccountsParser:
    parser = CsvAccountsParser()
    for start in range(0, len(data), chunk):
        parser.feed(data[start:start + chunk])
    parser.finish()
    return parser


def test_rows_split_across_chunks_parse_the_same_as_whole():
    rows = "C1;coproprietaire;Émile Zola;e@x.fr;L1, L2;oui\r\nC2;locataire;B;;L3;0"
    data = "\ufeff".encode() + HEADER + rows.encode()
    for chunk in (1, 3, 7, len(data)):
        parser = _parse(data, chunk)
        assert parser.errors == []
        assert [(a.ref, a.display_name, a.email, a.lot_refs, a.council, a.where) for a in parser.accounts] == [
            ("C1", "Émile Zola", "e@x.fr", ["L1", "L2"], True, "line 2"),
            ("C2", "B", None, ["L3"], False, "line 3")]


def test_quoted_fields_may_hold_the_separator_and_quotes():
    parser = _parse(HEADER + b'C1;locataire;"Dupont; ""Jean""";;L1;\n')
    assert parser.accounts[0].display_name == 'Dupont; "Jean"'


def test_blank_lines_are_skipped_but_counted():
    parser = _parse(HEADER + b"\n\nC1;locataire;X;;L1;oops\n")
    assert parser.errors == [{"path": "line 4.council",
                              "message": "'oops' is not a yes/no value (1/0, true/false, oui/non)"}]


def test_each_problem_names_its_line():
    parser = _parse(HEADER + b"C1;bad;X;;L1;0\nC2;locataire;;;L1;0\nC3;locataire;X;;;0\nC4;locataire;X;;L1\n")
    assert [e["path"] for e in parser.errors] == ["line 2.role", "line 3.display_name", "line 4.lot_refs", "line 5"]
    assert parser.accounts == []


def test_a_missing_or_wrong_header_is_reported_on_line_1():
    assert _parse(b"").errors[0]["path"] == "line 1"
    errors = _parse(b"ref;role;nom;lot_refs\n").errors
    assert errors[0]["path"] == "line 1" and "unknown: nom" in errors[0]["message"]
    assert "missing: display_name" in errors[0]["message"]


def test_error_list_is_capped_but_counted():
    data = HEADER + b"".join(b"C%d;bad;X;;L1;0\n" % i for i in range(1500))
    parser = _parse(data, 4096)
    assert len(parser.errors) == 1000 and parser.error_count == 1500


def test_written_csv_reads_back_with_a_standard_reader():
    rows = [{"account_ref": "C1", "display_name": 'Dupont; "Jean"', "email": None, "login": "K7Q2", "password": "p;w"}]
    text = write_csv(("account_ref", "display_name", "email", "login", "password"), rows)
    back = list(csv.DictReader(io.StringIO(text), delimiter=";"))
    assert back == [{"account_ref": "C1", "display_name": 'Dupont; "Jean"', "email": "", "login": "K7Q2",
                     "password": "p;w"}]
