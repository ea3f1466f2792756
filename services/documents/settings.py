"""Settings of the documents service (environment variables prefixed DOCUMENTS_)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from common.settings import ServiceSettings


class DocumentsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="DOCUMENTS_", extra="ignore", populate_by_name=True)

    port: int = 8083
    database_url: str = "postgresql://postgres@127.0.0.1:5432/moncompte_documents"
