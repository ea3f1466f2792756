"""Settings of the tenancy service (environment variables prefixed TENANCY_)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from common.settings import ServiceSettings


class TenancySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="TENANCY_", extra="ignore", populate_by_name=True)

    port: int = 8082
    database_url: str = "postgresql://postgres@127.0.0.1:5432/moncompte_tenancy"
