"""Pure file helpers: content sniffing, byte ranges, Content-Disposition, signed file tokens."""

from __future__ import annotations

import uuid

import pytest

from services.documents.files import Unsatisfiable, content_disposition, etag_matches, parse_range, safe_filename
from services.documents.filetypes import sniff
from services.documents.tokens import FileGrant, TokenInvalid, derive_key, issue_file_token, verify_file_token


@pytest.mark.parametrize(("head", "kwargs", "expected"), [
    (b"%PDF-1.4", {}, "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", {}, "image/png"),
    (b"\xff\xd8\xff\xdb", {}, "image/jpeg"),
    (b"GIF87a", {}, "image/gif"),
    (b"RIFF\0\0\0\0WEBPVP8", {}, "image/webp"),
    (b"RIFF\0\0\0\0WAVEfmt", {}, None),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", {"filename": "budget.XLS"}, "application/vnd.ms-excel"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", {"filename": "x"}, "application/x-ole-storage"),
    (b"PK\x03\x04", {"zip_names": ["[Content_Types].xml", "xl/workbook.xml"]},
     "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    (b"PK\x03\x04", {"zip_names": ["[Content_Types].xml", "ppt/x.xml"]},
     "application/vnd.openxmlformats-officedocument.presentationml.presentation"),
    (b"PK\x03\x04", {"zip_names": ["mimetype"], "odf_mimetype": b"application/vnd.oasis.opendocument.text"},
     "application/vnd.oasis.opendocument.text"),
    (b"PK\x03\x04", {"zip_names": ["word/document.xml"]}, None),
    (b"PK\x03\x04", {"zip_names": ["[Content_Types].xml", "evil/x"]}, None),
    (b"MZ\x90\0", {}, None),
    (b"", {}, None),
    (b" %PDF-1.4", {}, None),
])
def test_sniff(head, kwargs, expected):
    assert sniff(head, **kwargs) == expected


@pytest.mark.parametrize(("header", "expected"), [
    (None, None), ("", None), ("bytes=0-0", (0, 0)), ("bytes=0-", (0, 99)), ("bytes=-1", (99, 99)),
    ("bytes=-200", (0, 99)), ("bytes=50-500", (50, 99)), ("BYTES = 1 - 2", (1, 2)),
    ("bytes=0-1,3-4", None), ("bytes=3-2", None), ("bytes=-", None), ("lines=0-1", None), ("bytes=a-b", None),
])
def test_parse_range(header, expected):
    result = parse_range(header, 100)
    assert (None if result is None else (result.start, result.end)) == expected


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=100-200", "bytes=-0"])
def test_unsatisfiable_ranges(header):
    with pytest.raises(Unsatisfiable):
        parse_range(header, 100)


def test_no_range_is_satisfiable_on_an_empty_file():
    with pytest.raises(Unsatisfiable):
        parse_range("bytes=0-", 0)


def test_etag_comparisons():
    assert etag_matches('"a", "b"', '"b"', weak=True)
    assert etag_matches('W/"b"', '"b"', weak=True)
    assert not etag_matches('W/"b"', '"b"', weak=False)
    assert etag_matches("*", '"b"', weak=True)
    assert not etag_matches(None, '"b"', weak=True)


def test_content_disposition_has_an_ascii_fallback_and_the_exact_name():
    value = content_disposition('Relevé "n°3"\r\n/../x;.pdf')
    assert value.isascii()
    assert "\r" not in value and "\n" not in value
    assert value == ('attachment; filename="Releve _n3_.._x_.pdf"; '
                     "filename*=UTF-8''Relev%C3%A9%20_n%C2%B03_.._x%3B.pdf")
    assert safe_filename("") == "document"
    assert safe_filename("...") == "document"
    assert len(safe_filename("a" * 500 + ".pdf")) == 150
    assert safe_filename("a" * 500 + ".pdf").endswith(".pdf")


def test_file_tokens():
    key = derive_key("secret-one")
    assert key != derive_key("secret-two")
    accounts = [{"tenant_id": str(uuid.uuid4()), "account_id": str(uuid.uuid4())} for _ in range(40)]
    grant = FileGrant(person_id="p1", accounts=accounts, document_id="d1")
    token = issue_file_token(key, grant, ttl_seconds=60, now=1000)
    assert len(token) < 4096  # the gateway's and ingresses' path limits
    assert verify_file_token(key, token, now=1059) == grant
    with pytest.raises(TokenInvalid):
        verify_file_token(key, token, now=1061)
    with pytest.raises(TokenInvalid):
        verify_file_token(derive_key("secret-two"), token, now=1000)
    with pytest.raises(TokenInvalid):
        verify_file_token(key, token[:-3] + "abc", now=1000)
    archive = issue_file_token(key, FileGrant(person_id="p1", accounts=[], archive={"year": 2025}), ttl_seconds=60,
                               now=1000)
    assert verify_file_token(key, archive, now=1000).archive == {"year": 2025}
