"""Settings of the identity service (environment variables prefixed IDENTITY_)."""

from __future__ import annotations

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from common.settings import ServiceSettings, SettingsError

# Public on purpose so that a fresh clone runs; production refuses it (placeholder marker).
DEV_TOKEN_HASH_KEY = "dev-insecure-identity-token-key-change-me"  # noqa: S105
# Seals the TOTP secrets at rest (AES-256-GCM); production refuses it like the token key.
DEV_MFA_KEY = "dev-insecure-identity-mfa-key-change-me"


class IdentitySettings(ServiceSettings):
    """Every knob of identity; durations in seconds unless named otherwise."""

    model_config = SettingsConfigDict(env_prefix="IDENTITY_", extra="ignore", populate_by_name=True)

    port: int = 8081
    database_url: str = "postgresql://postgres@127.0.0.1:5432/moncompte_identity"
    tenancy_url: str | None = "http://127.0.0.1:8082"
    tenant_settings_cache_seconds: float = 60.0

    # argon2id, OWASP defaults (memory in KiB).
    argon2_memory_kib: int = Field(19456, ge=8)
    argon2_time_cost: int = Field(2, ge=1)
    argon2_parallelism: int = Field(1, ge=1)
    # Hashing threads for the whole service (unset: one per core), split among IDENTITY_WORKERS
    # processes; beyond IDENTITY_HASH_QUEUE_PER_WORKER waiting per thread: 429.
    hash_workers: int | None = Field(None, ge=1)
    hash_queue_per_worker: int = Field(8, ge=1)
    # Nice value of the hashing threads (Linux, per thread): other requests preempt hashing. 0 = off.
    hash_thread_nice: int = Field(10, ge=0, le=19)
    # Hashing threads under SCHED_IDLE (Linux): any other thread of the service that wakes takes the
    # core at once. On: the storm's page p99 was lower in all 7 pairs on a quiet host at the same
    # login rate, higher in the 2 at 4 % host steal (docs/benchmarks.md, Identity, "SCHED_IDLE...").
    hash_thread_idle: bool = True

    token_hash_key: SecretStr = SecretStr(DEV_TOKEN_HASH_KEY)
    verification_token_ttl_seconds: int = 24 * 3600
    reset_token_ttl_seconds: int = 3600
    staff_invitation_ttl_seconds: int = Field(7 * 24 * 3600, ge=3600)

    password_min_length: int = Field(6, ge=6, le=128)
    password_max_length: int = Field(256, ge=128)
    terms_version: str = "2025-01"

    credential_ttl_days: int = Field(60, ge=1)
    credential_max_failures: int = 5
    credential_lock_seconds: int = 15 * 60
    flow_idle_seconds: int = 3600

    # Database connections each identity process opens at start and keeps (at most 10): a burst of
    # logins after a quiet spell does not wait for new connections to be opened and introspected.
    db_pool_min_size: int = Field(10, ge=1, le=10)

    session_idle_seconds: int = 30 * 60
    session_absolute_seconds: int = 12 * 3600
    # The idle expiry moves at most once per this many seconds (page views in between only read).
    session_touch_seconds: int = Field(60, ge=0, le=300)

    login_delay_after_failures: int = 5
    login_lock_after_failures: int = 10
    login_lock_seconds: int = 15 * 60
    login_max_delay_seconds: int = 60
    ip_failure_limit: int = 50
    ip_failure_window_seconds: int = 15 * 60

    resend_cooldown_seconds: int = 60
    resend_per_hour: int = 5
    # Addresses one provisional credential may try at the email step per hour (anti-enumeration).
    email_choices_per_hour: int = 5
    forgot_per_target_per_hour: int = 3
    forgot_per_ip_per_hour: int = 30
    # Staff invitations: each is an email from the platform's sender, naming whom the inviter chose.
    # Per agency per hour, and at most one per invited address per cooldown (re-inviting resends).
    staff_invitations_per_hour: int = Field(50, ge=1)
    staff_invitation_cooldown_seconds: int = Field(300, ge=1)

    # Second factor (issue 15). The key seals the authenticator secrets (they must stay usable,
    # so they cannot be hashed); changing it makes every enrolled app unusable (recovery codes work).
    mfa_key: SecretStr = SecretStr(DEV_MFA_KEY)
    # The name an authenticator app shows next to the code.
    mfa_issuer: str = "Mon compte immobilier"
    # Between the password and the code: a challenge this long-lived, killed after this many wrong
    # codes (each also counts against the person like a wrong password, so the lock applies).
    mfa_challenge_ttl_seconds: int = Field(300, ge=60, le=1800)
    mfa_challenge_max_failures: int = Field(5, ge=1, le=20)
    # Wrong confirmation codes while enrolling, per person and per 15 minutes.
    mfa_enrol_failures_per_window: int = Field(10, ge=3)
    # Passkeys: the relying party is the public site (PUBLIC_BASE_URL's host and origin) unless set.
    webauthn_rp_id: str | None = None
    webauthn_rp_name: str = "Mon compte immobilier"

    @model_validator(mode="after")
    def _coherent(self):
        if self.login_lock_after_failures <= self.login_delay_after_failures:
            raise SettingsError("IDENTITY_LOGIN_LOCK_AFTER_FAILURES must exceed IDENTITY_LOGIN_DELAY_AFTER_FAILURES")
        return self
