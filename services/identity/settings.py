"""Settings of the identity service (environment variables prefixed IDENTITY_)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from common.settings import ServiceSettings


class IdentitySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="IDENTITY_", extra="ignore", populate_by_name=True)

    port: int = 8081
    database_url: str = "postgresql://postgres@127.0.0.1:5432/moncompte_identity"
