"""Settings of the gateway (environment variables prefixed GATEWAY_)."""

from __future__ import annotations

import ipaddress

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from common.settings import ProcessSettings, shared

DEV_COOKIE_SECRET = "dev-insecure-cookie-secret-change-me"  # noqa: S105


class GatewaySettings(ProcessSettings):
    """Everything the gateway reads from the environment (see README for the defaults)."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore", populate_by_name=True)

    port: int = 8080
    # Prometheus scrapes this port; the public one (above) never serves /metrics.
    metrics_port: int = 9080
    # Each upstream is a comma-separated list of replica base URLs, balanced round robin.
    identity_urls: str = "http://127.0.0.1:8081"
    tenancy_urls: str = "http://127.0.0.1:8082"
    documents_urls: str = "http://127.0.0.1:8083"
    operator_api_token: SecretStr = shared("OPERATOR_API_TOKEN", SecretStr("dev-operator-token-change-me"))
    # Signs the visit cookie (tenant, CSRF, flow in progress).
    cookie_secret: SecretStr = SecretStr(DEV_COOKIE_SECRET)
    # Development only: plain-http cookies on localhost (drops the __Host- prefix, which needs Secure).
    insecure_cookies: bool = False
    # Comma-separated CIDRs whose X-Forwarded-For is believed; empty = the peer address is the client.
    trusted_proxies: str = ""
    upstream_connect_timeout_seconds: float = 2.0
    upstream_timeout_seconds: float = 15.0
    # Issuing letters for a whole agency (the console's PDF or CSV, the API's provisional-credentials)
    # takes tenancy about 5 ms a PDF page: those calls may wait this long for the answer, under the
    # ingress's 120 s (deploy/k8s). Past it the letters are issued and shown to nobody.
    letters_timeout_seconds: float = Field(110.0, gt=0)
    tenant_cache_seconds: float = 30.0
    tenant_negative_cache_seconds: float = 10.0
    # Agency API keys tenancy accepted, kept by each gateway process (0: ask tenancy on every request).
    # A rotation or suspension forwarded by a process applies there at once, on the others within this.
    api_key_cache_seconds: float = 5.0
    # Names, lots and residences of accounts shown on the dashboard (access itself is never cached).
    account_cache_seconds: float = 30.0
    # Form posts are small; the public API streams uploads (documents up to 50 MB by default).
    max_form_bytes: int = 64 * 1024
    max_api_body_bytes: int = 60 * 1024 * 1024
    # One document's limit as documents applies it (DOCUMENTS_MAX_UPLOAD_BYTES): the console refuses
    # an oversize file of a multi-file upload before sending any of them, so that nothing is published.
    max_document_bytes: int = 50 * 1024 * 1024
    visit_max_age_seconds: int = 12 * 3600

    @field_validator("trusted_proxies")
    @classmethod
    def _valid_cidrs(cls, value: str) -> str:
        for item in _split(value):
            ipaddress.ip_network(item, strict=False)
        return value

    @model_validator(mode="after")
    def _secure_cookies_in_production(self):
        if self.is_production and self.insecure_cookies:
            raise ValueError("GATEWAY_INSECURE_COOKIES is for local development only, never in production")
        return self

    def upstream_urls(self, service: str) -> list[str]:
        """The replica base URLs of ``service`` (identity, tenancy, documents)."""
        urls = [u.rstrip("/") for u in _split(getattr(self, f"{service}_urls"))]
        if not urls:
            raise ValueError(f"no URL configured for {service}")
        return urls

    def trusted_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        return [ipaddress.ip_network(item, strict=False) for item in _split(self.trusted_proxies)]


def _split(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]
