"""The settings guard: production refuses missing or placeholder secrets with one clear line."""

import pytest
from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict

from common.settings import ServiceSettings, SettingsError, load_settings


class DemoSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="DEMO_", extra="ignore", populate_by_name=True)

    api_secret: SecretStr = SecretStr("")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ("ENVIRONMENT", "INTERNAL_AUTH_SECRET", "DEMO_API_SECRET", "DEMO_PORT", "AMQP_URL"):
        monkeypatch.delenv(name, raising=False)


def test_development_accepts_the_development_defaults():
    settings = load_settings(DemoSettings)
    assert settings.environment == "development"
    assert settings.internal_auth_secret.get_secret_value()


def test_production_refuses_the_placeholder_secret(monkeypatch):
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("DEMO_API_SECRET", "a-real-secret-of-enough-length-for-prod")
    with pytest.raises(SettingsError) as err:
        load_settings(DemoSettings)
    message = str(err.value)
    assert message == "INTERNAL_AUTH_SECRET is a placeholder or too short (32+ characters) in production"
    assert "\n" not in message


def test_production_refuses_a_missing_secret_and_names_its_variable(monkeypatch):
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("INTERNAL_AUTH_SECRET", "k" * 48)
    with pytest.raises(SettingsError, match="^DEMO_API_SECRET must be set in production$"):
        load_settings(DemoSettings)


def test_production_with_real_secrets_starts(monkeypatch):
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("INTERNAL_AUTH_SECRET", "k" * 48)
    monkeypatch.setenv("DEMO_API_SECRET", "another-real-secret-value-long-enough-ok")
    assert load_settings(DemoSettings).is_production


def test_error_message_never_echoes_a_secret(monkeypatch):
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("INTERNAL_AUTH_SECRET", "short-but-secret")
    monkeypatch.setenv("DEMO_PORT", "not-a-port")
    with pytest.raises(SettingsError) as err:
        load_settings(DemoSettings)
    assert "short-but-secret" not in str(err.value)
    assert "port" in str(err.value)


def test_prefix_applies_to_own_settings_and_not_to_shared_ones(monkeypatch):
    monkeypatch.setenv("DEMO_PORT", "9123")
    monkeypatch.setenv("AMQP_URL", "amqp://u:p@broker:5672/")
    settings = load_settings(DemoSettings)
    assert settings.port == 9123
    assert settings.amqp_url == "amqp://u:p@broker:5672/"
