"""Settings of the notifier service (environment variables prefixed NOTIFIER_).

The SMTP relay and the sender address are shared by the whole deployment, so they are read
without the prefix: ``SMTP_HOST``, ``SMTP_PORT``, ``SMTP_USERNAME``, ``SMTP_PASSWORD``,
``SMTP_TLS``, ``SMTP_TIMEOUT_SECONDS``, ``SMTP_PIPELINING``, ``MAIL_FROM``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from common.settings import ServiceSettings, shared


class NotifierSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFIER_", extra="ignore", populate_by_name=True)

    port: int = 8084
    database_url: str = "postgresql://postgres@127.0.0.1:5432/moncompte_notifier"

    tenancy_url: str = "http://127.0.0.1:8082"
    identity_url: str = "http://127.0.0.1:8081"
    # Tenant branding changes rarely; a few minutes of staleness is fine for an email.
    tenant_cache_seconds: float = Field(300.0, ge=0)
    upstream_timeout_seconds: float = Field(5.0, gt=0)

    # Documents published for one person within this window are grouped into one email.
    digest_window_seconds: float = Field(60.0, ge=0)
    digest_poll_seconds: float = Field(1.0, gt=0)
    # Delays between SMTP attempts of a digest (the consumer has its own schedule for events).
    digest_retry_delays: tuple[float, ...] = (5.0, 30.0, 300.0, 1800.0)

    consumer_prefetch: int = Field(32, ge=1, le=1000)
    # Delays between attempts of an event whose email could not be sent (then parked).
    retry_delays: tuple[float, ...] = (5.0, 30.0, 300.0, 1800.0)
    # Pooled database connections: at least the messages in flight plus the digest flusher.
    db_pool_size: int = Field(40, ge=2, le=200)

    smtp_host: str = shared("SMTP_HOST", "127.0.0.1")
    smtp_port: int = shared("SMTP_PORT", 2525)
    smtp_username: str | None = shared("SMTP_USERNAME", None)
    smtp_password: SecretStr | None = shared("SMTP_PASSWORD", None)
    smtp_tls: Literal["none", "starttls", "tls"] = shared("SMTP_TLS", "none")
    smtp_timeout_seconds: float = shared("SMTP_TIMEOUT_SECONDS", 10.0, gt=0)
    # RFC 2920, used only where the relay advertises it (two round trips per email instead of
    # four); false is the way out for a relay that advertises it and mishandles it.
    smtp_pipelining: bool = shared("SMTP_PIPELINING", True)
    # Connections kept open to the relay (reuse doubled throughput, ARCHITECTURE.md §9).
    smtp_pool_size: int = Field(8, ge=1, le=64)
    mail_from: str = shared("MAIL_FROM", "webmaster@moncompte.immo")

    @field_validator("tenancy_url", "identity_url", "public_base_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")
