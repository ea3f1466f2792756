"""Settings of the tenancy service (environment variables prefixed TENANCY_)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from common.settings import ServiceSettings


class TenancySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="TENANCY_", extra="ignore", populate_by_name=True)

    port: int = 8082
    database_url: str = "postgresql://postgres@127.0.0.1:5432/moncompte_tenancy"
    # TENANCY_IDENTITY_URL: where identity's internal endpoints answer.
    identity_url: str = "http://127.0.0.1:8081"
    identity_timeout_seconds: float = Field(120.0, gt=0)
    # TENANCY_MAX_IMPORT_BYTES: largest directory document (JSON or CSV); 413 beyond. 50,000
    # accounts take about 8 MB of JSON.
    max_import_bytes: int = Field(32 * 1024 * 1024, ge=1024)
    # TENANCY_DIRECTORY_EVENT_BATCH: accounts per tenancy.accounts_upserted event written by an
    # import (docs/events.md): larger batches mean fewer, bigger messages (about 300 bytes each).
    directory_event_batch: int = Field(1000, ge=1, le=10_000)
    # TENANCY_DIRECTORY_IMPORT_CHUNK: accounts per upsert statement of an import; PostgreSQL
    # upserts one chunk while the service prepares the next and the previous one's events
    # (docs/benchmarks.md, "Directory import").
    directory_import_chunk: int = Field(10_000, ge=1, le=100_000)
