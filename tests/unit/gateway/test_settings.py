"""Gateway settings refuse what would be unsafe."""

from __future__ import annotations

import pytest

from common.settings import SettingsError, load_settings
from gateway.settings import GatewaySettings

STRONG = {"internal_auth_secret": "i" * 40, "cookie_secret": "k" * 40, "operator_api_token": "o" * 40}


def test_insecure_cookies_are_refused_in_production():
    with pytest.raises(SettingsError, match="GATEWAY_INSECURE_COOKIES"):
        load_settings(GatewaySettings, environment="production", insecure_cookies=True, **STRONG)
    assert load_settings(GatewaySettings, environment="production", **STRONG).insecure_cookies is False


def test_the_development_cookie_secret_is_refused_in_production():
    with pytest.raises(SettingsError, match="cookie_secret|COOKIE_SECRET"):
        load_settings(GatewaySettings, environment="production",
                      **{k: v for k, v in STRONG.items() if k != "cookie_secret"})


def test_upstreams_are_lists_of_replicas_and_proxies_cidrs():
    settings = load_settings(GatewaySettings, identity_urls="http://a:1/, http://b:2", trusted_proxies="10.0.0.0/8")
    assert settings.upstream_urls("identity") == ["http://a:1", "http://b:2"]
    assert str(settings.trusted_networks()[0]) == "10.0.0.0/8"
    with pytest.raises(SettingsError):
        load_settings(GatewaySettings, trusted_proxies="not-a-network")
