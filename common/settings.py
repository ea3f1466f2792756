"""Settings base shared by every service.

Each service subclasses :class:`ServiceSettings` with its own ``env_prefix`` (``IDENTITY_``, ...).
Settings that every service shares (``AMQP_URL``, ``INTERNAL_AUTH_SECRET``, ``PUBLIC_BASE_URL``,
``ENVIRONMENT``...) are read without the prefix through an explicit alias, so one deployment
file sets them once.
"""

from __future__ import annotations

from typing import Literal, TypeVar

from pydantic import AliasChoices, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = [
    "DEV_INTERNAL_AUTH_SECRET",
    "PLACEHOLDER_MARKERS",
    "ProcessSettings",
    "ServiceSettings",
    "SettingsError",
    "load_settings",
    "shared",
]

# The development secret is public on purpose: it lets `make run` work on a fresh clone.
# Production mode refuses it (see ServiceSettings._refuse_placeholders).
DEV_INTERNAL_AUTH_SECRET = "dev-insecure-internal-secret-change-me"  # noqa: S105
PLACEHOLDER_MARKERS = ("change-me", "changeme", "placeholder", "dev-insecure", "xxx")


_S = TypeVar("_S", bound="ProcessSettings")


class SettingsError(ValueError):
    """A setting is missing or unsafe; the message is one line an operator can act on."""


def shared(name: str, default, **kwargs):
    """A field read from an unprefixed environment variable shared by all services."""
    return Field(default, validation_alias=AliasChoices(name), **kwargs)


class ProcessSettings(BaseSettings):
    """Settings every process has (the gateway too). Subclasses set ``model_config['env_prefix']``."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", populate_by_name=True)

    environment: Literal["development", "production", "test"] = shared("ENVIRONMENT", "development")
    host: str = "127.0.0.1"
    port: int = 8080
    # Processes serving this port (SO_REUSEPORT, common/workers.py); 1 = the process serves itself.
    workers: int = Field(1, ge=1, le=64)
    amqp_url: str = shared("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
    # Tests give each run its own exchange; deployments keep the default.
    events_exchange: str = shared("EVENTS_EXCHANGE", "moncompte.events")
    internal_auth_secret: SecretStr = shared("INTERNAL_AUTH_SECRET", SecretStr(DEV_INTERNAL_AUTH_SECRET))
    public_base_url: str = shared("PUBLIC_BASE_URL", "http://localhost:8080")
    log_level: str = shared("LOG_LEVEL", "INFO")
    log_json: bool | None = shared("LOG_JSON", None)
    shutdown_timeout_seconds: float = shared("SHUTDOWN_TIMEOUT_SECONDS", 30.0)

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    @model_validator(mode="after")
    def _refuse_placeholders(self):
        if not self.is_production:
            return self
        for name, field in type(self).model_fields.items():
            value = getattr(self, name)
            if not isinstance(value, SecretStr):
                continue
            env_name = _env_name(type(self), name, field)
            secret = value.get_secret_value()
            if not secret:
                raise SettingsError(f"{env_name} must be set in production")
            if len(secret) < 32 or any(m in secret.lower() for m in PLACEHOLDER_MARKERS):
                raise SettingsError(f"{env_name} is a placeholder or too short (32+ characters) in production")
        return self


class ServiceSettings(ProcessSettings):
    """Settings of a service that owns a PostgreSQL database."""

    database_url: str = "postgresql://postgres@127.0.0.1:5432/moncompte"


def _env_name(cls: type[BaseSettings], name: str, field) -> str:
    alias = field.validation_alias
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    if isinstance(alias, str):
        return alias
    return (cls.model_config.get("env_prefix", "") + name).upper()


def load_settings(cls: type[_S], **overrides) -> _S:
    """Read ``cls`` from the environment; any problem becomes one :class:`SettingsError` line.

    pydantic's own message would echo the input values, which may hold secrets: only the
    field names and reasons are kept.
    """
    try:
        return cls(**overrides)
    except ValidationError as exc:
        reasons = []
        for error in exc.errors(include_url=False, include_input=False):
            message = str(error["msg"]).removeprefix("Value error, ")
            where = ".".join(str(p) for p in error["loc"])
            reasons.append(f"{where}: {message}" if where else message)
        raise SettingsError("; ".join(reasons)) from None
