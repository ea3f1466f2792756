"""Settings of the documents service (environment variables prefixed DOCUMENTS_)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict

from common.settings import ServiceSettings


class DocumentsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="DOCUMENTS_", extra="ignore", populate_by_name=True)

    port: int = 8083
    database_url: str = "postgresql://postgres@127.0.0.1:5432/moncompte_documents"

    # Blob storage: the local filesystem by default, an S3-compatible store for deployments.
    storage_backend: Literal["filesystem", "s3"] = "filesystem"
    storage_dir: Path = Path("./var/blobs")
    # Uploads are spooled here while hashed and checked (default: <storage_dir>/tmp, so that the
    # filesystem store can publish a blob with one atomic rename).
    spool_dir: Path | None = None
    s3_bucket: str = "moncompte-documents"
    s3_endpoint_url: str | None = None
    s3_region: str = "eu-west-3"
    s3_access_key_id: str | None = None
    # Optional (None) so that production mode only demands it when it is set to a placeholder.
    s3_secret_access_key: SecretStr | None = None

    max_upload_bytes: int = 50 * 1024 * 1024
    # Signed download URLs: a documents-only key; when unset it is derived from
    # INTERNAL_AUTH_SECRET with a distinct purpose string (see services/documents/tokens.py).
    url_signing_key: SecretStr | None = None
    url_ttl_seconds: int = 60
    consumer_enabled: bool = True

    @property
    def effective_spool_dir(self) -> Path:
        return self.spool_dir or (self.storage_dir / "tmp")
