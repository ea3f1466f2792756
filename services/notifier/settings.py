"""Settings of the notifier service (environment variables prefixed NOTIFIER_)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from common.settings import ServiceSettings


class NotifierSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFIER_", extra="ignore", populate_by_name=True)

    port: int = 8084
    database_url: str = "postgresql://postgres@127.0.0.1:5432/moncompte_notifier"
