"""Pure edge logic: client IP from trusted proxies, visit cookie signing, CSRF, tenant codes."""

from __future__ import annotations

import ipaddress

from gateway.edge import client_ip, public_origin
from gateway.tenants import valid_code
from gateway.visit import VisitCodec, cookie_names

TRUSTED = [ipaddress.ip_network("10.0.0.0/8")]


def test_peer_is_the_client_without_trusted_proxies():
    assert client_ip("198.51.100.7", "1.2.3.4", []) == "198.51.100.7"


def test_forwarded_for_is_ignored_from_an_untrusted_peer():
    assert client_ip("198.51.100.7", "1.2.3.4", TRUSTED) == "198.51.100.7"


def test_rightmost_untrusted_hop_is_the_client():
    assert client_ip("10.0.0.2", "6.6.6.6, 203.0.113.5, 10.0.0.9", TRUSTED) == "203.0.113.5"


def test_garbled_forwarded_for_falls_back_to_the_peer():
    assert client_ip("10.0.0.2", "not-an-ip", TRUSTED) == "10.0.0.2"


def test_visit_cookie_is_signed_and_the_csrf_token_bound_to_it():
    codec = VisitCodec("secret-one", max_age=60)
    visit = codec.load(None)
    visit.set("f", "flow-1")
    raw = codec.dump(visit)
    again = codec.load(raw)
    assert again.get("f") == "flow-1" and codec.check_csrf(again, codec.csrf_token(visit))
    assert codec.load(raw[:-2] + "xx").get("f") is None  # altered: a fresh visit
    assert VisitCodec("secret-two", max_age=60).load(raw).get("f") is None
    other = codec.load(None)
    assert not codec.check_csrf(other, codec.csrf_token(visit))
    assert not codec.check_csrf(visit, None) and not codec.check_csrf(visit, "")


def test_rotation_changes_the_csrf_token():
    codec = VisitCodec("secret", max_age=60)
    visit = codec.load(None)
    before = codec.csrf_token(visit)
    visit.rotate()
    assert codec.csrf_token(visit) != before


def test_cookie_names_drop_the_host_prefix_only_for_insecure_development():
    assert cookie_names(False) == ("__Host-moncompte_session", "__Host-moncompte_visit")
    assert cookie_names(True) == ("moncompte_session", "moncompte_visit")


def test_codes_and_origin():
    assert valid_code("ADB01") and valid_code("a_b-1")
    assert not valid_code("") and not valid_code("A" * 33) and not valid_code("A/B") and not valid_code(None)
    assert public_origin("https://www.moncompte.immo/base/") == "https://www.moncompte.immo"
