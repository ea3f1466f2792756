"""Seed demonstration data through the gateway's public API (run by ``scripts/run_local.py``).

``python -m scripts.seed_demo [--base-url URL] [--state-dir DIR]`` onboards two agencies of one
provider (a syndic ``client=DEMO&societe=SYNDIC`` and a gérance ``client=DEMO&societe=GERANCE``),
loads their directories (residences, lots, accounts of each role, council members, one person
with an account in each agency), publishes small PDF documents in several categories and issues
provisional credentials, then prints the login URLs and the credentials to try.

Idempotent: what exists is skipped. Agency API keys and provisional credentials are shown only
once by the API, so they are kept in ``var/demo-state.json`` (and the credentials, readable, in
``var/demo-credentials.txt``); a second run reuses them instead of revoking and re-issuing.
The same small client (:class:`PublicApi`) and PDF maker (:func:`make_pdf`) serve the e2e tests.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BASE_URL = "http://127.0.0.1:8080"
# The gateway's development default (gateway/settings.py); production refuses placeholders.
DEV_OPERATOR_TOKEN = "dev-operator-token-change-me"  # noqa: S105

__all__ = ["ApiError", "PublicApi", "make_pdf"]


class ApiError(RuntimeError):
    """The public API answered an error status; ``status`` and the decoded ``body`` are kept."""

    def __init__(self, method: str, path: str, status: int, body) -> None:
        super().__init__(f"{method} {path} -> {status}: {body}")
        self.status = status
        self.body = body

    @property
    def code(self) -> str:
        return self.body.get("error", "") if isinstance(self.body, dict) else ""


@dataclass
class PublicApi:
    """A minimal synchronous client of ``/api/v1`` (standard library only)."""

    base_url: str
    token: str
    timeout: float = 30.0

    def call(self, method: str, path: str, payload=None, *, body: bytes | None = None,
             content_type: str | None = None, accept: str = "application/json"):
        """Send one request; return the decoded JSON (or text) body; raise :class:`ApiError` on >= 400."""
        headers = {"Authorization": f"Bearer {self.token}", "Accept": accept}
        if payload is not None:
            body, content_type = json.dumps(payload).encode(), "application/json"
        if content_type:
            headers["Content-Type"] = content_type
        request = urllib.request.Request(self.base_url.rstrip("/") + path, data=body, method=method,  # noqa: S310
                                         headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 (our own URL)
                return _decode(response.read(), response.headers.get("Content-Type", ""))
        except urllib.error.HTTPError as exc:
            raise ApiError(method, path, exc.code, _decode(exc.read(), exc.headers.get("Content-Type", ""))) from None

    def onboard(self, **tenant) -> dict:
        return self.call("POST", "/api/v1/tenants", tenant)

    def agency(self, api_key: str) -> PublicApi:
        return PublicApi(self.base_url, api_key, self.timeout)

    def put_directory(self, directory: dict) -> dict:
        return self.call("PUT", "/api/v1/directory", directory)

    def issue_credentials(self, account_refs: list[str], *, reset: bool = False) -> dict[str, dict]:
        """Provisional credentials by account ref: ``{"C001": {"login", "password", "expires_at"}}``."""
        payload: dict = {"account_refs": account_refs}
        if reset:
            payload["reset"] = True
        answer = self.call("POST", "/api/v1/provisional-credentials", payload)
        return {item["account_ref"]: item for item in answer["credentials"]}

    def upload_document(self, metadata: dict, content: bytes, filename: str,
                        content_type: str = "application/pdf") -> dict:
        boundary = "----moncompte" + uuid.uuid4().hex
        parts = [
            (f'--{boundary}\r\nContent-Disposition: form-data; name="metadata"\r\n'
             "Content-Type: application/json\r\n\r\n").encode() + json.dumps(metadata).encode() + b"\r\n",
            (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
             f"Content-Type: {content_type}\r\n\r\n").encode() + content + b"\r\n",
            f"--{boundary}--\r\n".encode(),
        ]
        return self.call("POST", "/api/v1/documents", body=b"".join(parts),
                         content_type=f"multipart/form-data; boundary={boundary}")

    def upload_when_known(self, metadata: dict, content: bytes, filename: str, *, timeout: float = 20.0) -> dict:
        """Upload, retrying while documents has not yet received the directory's events (404/409/422)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.upload_document(metadata, content, filename)
            except ApiError as exc:
                if exc.status not in (404, 409, 422) or time.monotonic() > deadline:
                    raise
                time.sleep(0.25)


def _decode(raw: bytes, content_type: str):
    if "json" in content_type and raw:
        return json.loads(raw)
    return raw.decode("utf-8", "replace")


def _pdf_text(text: str) -> bytes:
    escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    return escaped.encode("cp1252", "replace")


def make_pdf(title: str, lines: tuple[str, ...] = ()) -> bytes:
    """A small valid one-page PDF showing ``title`` (French accents kept through WinAnsiEncoding)."""
    content = b"BT /F1 18 Tf 56 780 Td (" + _pdf_text(title) + b") Tj ET"
    for index, line in enumerate(lines):
        content += b"\nBT /F1 11 Tf 56 %d Td (" % (740 - 16 * index) + _pdf_text(line) + b") Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> "
        b"/Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)
