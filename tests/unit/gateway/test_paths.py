"""The paths the gateway refuses before routing, and the upstream URL it builds (issue 18)."""

from __future__ import annotations

import pytest

from gateway.paths import unsafe_path_reason
from gateway.upstream import upstream_url

TRAVERSALS = {
    "/api/v1/directory/../../../internal/accounts/lookup": "dot_segment",
    "/api/v1/directory/..": "dot_segment",
    "/api/v1/documents/./x": "dot_segment",
    "/api/v1/directory/%2e%2e/%2e%2e/internal/accounts/lookup": "encoded_separator_or_dot",
    "/api/v1/directory/%2E%2E/internal": "encoded_separator_or_dot",
    "/api/v1/directory/..%2f..%2finternal": "encoded_separator_or_dot",
    "/api/v1/directory/..%2F..%2Finternal": "encoded_separator_or_dot",
    "/api/v1/directory/.%2e/internal": "encoded_separator_or_dot",
    "/api/v1/directory/%5c..%5cinternal": "encoded_separator_or_dot",
    "/api/v1/directory/..\\..\\internal": "backslash",
    "/api/v1/directory/x%00": "encoded_separator_or_dot",
    "/api/v1/directory/x\x00": "control_or_non_ascii",
    "/api/v1/directory/é": "control_or_non_ascii",
    "/api/v1/directory/a b": "control_or_non_ascii",
    "api/v1/directory": "not_absolute",
}


@pytest.mark.parametrize(("path", "reason"), TRAVERSALS.items())
def test_traversal_spellings_are_refused_with_their_reason(path, reason):
    assert unsafe_path_reason(path) == reason


@pytest.mark.parametrize("path", [
    "/api/v1/directory", "/api/v1/directory/accounts/C-12", "/api/v1/documents/6f1c9d8e-0000-4000-8000-000000000000",
    "/login", "/", "/static/app.css", "/files/abc_DEF-123", "/api/v1/directory/accounts/R%C3%A9f", "/a..b/c.d",
])
def test_ordinary_paths_pass(path):
    assert unsafe_path_reason(path) is None


def test_the_upstream_url_keeps_the_path_as_written():
    # yarl would resolve "/v1/x/../y" to "/v1/y" from a plain string; the raw path is sent as it is.
    assert upstream_url("http://127.0.0.1:8082", "/api/v1/directory/accounts/R%C3%A9f?x=%2F").raw_path_qs == \
        "/api/v1/directory/accounts/R%C3%A9f?x=%2F"
    assert upstream_url("http://127.0.0.1:8082", "/v1/x/../y").raw_path == "/v1/x/../y"


def test_is_uuid_takes_a_document_id_and_nothing_around_it():
    from gateway.paths import is_uuid

    assert is_uuid("3f2b8c1e-9a4d-4e6f-8b7a-1c2d3e4f5a6b") and is_uuid("3F2B8C1E-9A4D-4E6F-8B7A-1C2D3E4F5A6B")
    assert not is_uuid("3f2b8c1e-9a4d-4e6f-8b7a-1c2d3e4f5a6b\n")
    assert not is_uuid("3f2b8c1e-9a4d-4e6f-8b7a-1c2d3e4f5a6b/../x")
    assert not is_uuid("{document_id}") and not is_uuid("")
