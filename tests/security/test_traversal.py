"""Path traversal through the public API (issue 18), sent as raw HTTP so that no client normalises it.

Every public prefix of the gateway (``gateway.api``'s tables, so a prefix added later is walked too)
is followed by every spelling of a climb to the services' internal routes: dot segments, encoded
dots and slashes in any case, backslashes and their encoding, a NUL. With an agency key and with
the operator token, the gateway must answer its own 400 ``invalid_path`` and nothing internal may
answer. The pages get the same refusal as a French page.
"""

from __future__ import annotations

import json
import socket
from urllib.parse import urlsplit

import pytest

from gateway.api import DOCUMENTS_PREFIXES, IDENTITY_PREFIXES, TENANCY_PREFIXES
from tests.e2e.system import OPERATOR_TOKEN

PREFIXES = (*TENANCY_PREFIXES, *DOCUMENTS_PREFIXES, *IDENTITY_PREFIXES, "/api/v1")
# Each climbs one segment; written for a prefix then repeated enough to reach the root.
CLIMBS = ("../", "./../", "%2e%2e/", "%2E%2E/", ".%2e/", "%2e./", "..%2f", "..%2F", "%2e%2e%2f", "%2E%2E%2F",
          "..\\", "..%5c", "..%5C", "%2e%2e%5c")
TARGETS = (
    ("POST", "internal/accounts/lookup", b'{"account_ids": []}'),
    ("GET", "internal/tenants/resolve?client=X&societe=Y", None),
    ("GET", "internal/openapi.json", None),
    ("POST", "internal/api-keys/verify", b'{"api_key": "x"}'),
    ("GET", "v1/documents", None),
    ("POST", "v1/staff/login", b'{"email": "a@b.fr", "password": "x"}'),
    ("POST", "v1/login", b'{"email": "a@b.fr", "password": "x"}'),
)


def raw_request(base_url: str, method: str, target: str, *, token: str, body: bytes | None = None
                ) -> tuple[int, bytes]:
    """One HTTP/1.1 request with the request target sent byte for byte; (status, body)."""
    parts = urlsplit(base_url)
    head = [f"{method} {target} HTTP/1.1", f"Host: {parts.netloc}", f"Authorization: Bearer {token}",
            "Connection: close"]
    if body is not None:
        head += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    payload = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + (body or b"")
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(payload)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    raw = b"".join(chunks)
    status_line, _, rest = raw.partition(b"\r\n")
    _, _, response_body = rest.partition(b"\r\n\r\n")
    return int(status_line.split()[1]), response_body


def spellings(prefix: str, target: str) -> list[str]:
    depth = prefix.count("/") + 1
    return [prefix + "/" + climb * depth + target for climb in CLIMBS]


@pytest.fixture(scope="module")
def agency_key(system) -> str:
    return system.new_tenant().api.token


@pytest.mark.parametrize("prefix", PREFIXES)
def test_no_traversal_spelling_reaches_an_internal_route(system, agency_key, prefix):
    for token in (agency_key, OPERATOR_TOKEN):
        for method, target, body in TARGETS:
            for path in spellings(prefix, target):
                status, answer = raw_request(system.base_url, method, path, token=token, body=body)
                assert status == 400, (path, status, answer[:200])
                assert json.loads(answer) == {
                    "error": "invalid_path",
                    "detail": "The request path has a dot segment, an encoded separator or dot, a backslash "
                              "or a control character"}, path


@pytest.mark.parametrize("spelling", ["/api/v1/directory/%00/x", "/api/v1/directory%00", "/api/v1/directory/\x00"])
def test_a_nul_in_the_path_is_refused(system, agency_key, spelling):
    status, answer = raw_request(system.base_url, "GET", spelling, token=agency_key)
    assert status == 400, answer[:200]
    assert b"account" not in answer and b"tenant" not in answer


def test_a_page_path_with_a_traversal_gets_the_french_refusal(system):
    status, answer = raw_request(system.base_url, "GET", "/static/../../etc/passwd", token="none")
    assert status == 400
    assert "L'adresse demandée n'est pas valide." in answer.decode()


def test_the_ordinary_api_paths_still_work(system, agency_key):
    status, answer = raw_request(system.base_url, "GET", "/api/v1/activation-stats", token=agency_key)
    assert status == 200, answer[:300]
    assert json.loads(answer)["accounts"] == 0  # a tenant just onboarded, its own statistics
