"""Settings of the gateway (environment variables prefixed GATEWAY_)."""

from __future__ import annotations

from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict

from common.settings import ServiceSettings, shared


class GatewaySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore", populate_by_name=True)

    port: int = 8080
    # Each upstream is a comma-separated list of replica base URLs.
    identity_urls: str = "http://127.0.0.1:8081"
    tenancy_urls: str = "http://127.0.0.1:8082"
    documents_urls: str = "http://127.0.0.1:8083"
    notifier_urls: str = "http://127.0.0.1:8084"
    operator_api_token: SecretStr = shared("OPERATOR_API_TOKEN", SecretStr("dev-operator-token-change-me"))
