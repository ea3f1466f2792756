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

import argparse
import json
import os
import sys
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

__all__ = ["ApiError", "PublicApi", "main", "make_pdf", "seed"]


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
        try:
            answer = self.call("POST", "/api/v1/provisional-credentials", payload)
        except ApiError as exc:
            # Every account already linked to a person (a demo already activated): nothing to issue.
            if exc.status == 409 and isinstance(exc.body, dict) and "refused" in exc.body:
                return {}
            raise
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


# ---- the demonstration data ----
SUPPORT = {"email": "extranet@demo.moncompte.immo", "phone": "01 23 45 67 89", "hours": "Du lundi au vendredi, 9h-12h"}
TENANTS = {
    "SYNDIC": {
        "tenant": {"client_code": "DEMO", "societe_code": "SYNDIC", "name": "Syndic Démo des Tilleuls",
                   "kind": "syndic", "support": SUPPORT, "branding": {"primary_color": "#1d4ed8"}},
        "directory": {
            "residences": [
                {"ref": "R1", "name": "Résidence Les Tilleuls", "address": "3 rue des Lilas, 75012 Paris"},
                {"ref": "R2", "name": "Résidence du Canal", "address": "18 quai de Jemmapes, 75010 Paris"},
            ],
            "lots": [
                {"ref": "L1", "residence_ref": "R1", "number": "12", "kind": "appartement"},
                {"ref": "L2", "residence_ref": "R1", "number": "14", "kind": "appartement"},
                {"ref": "L3", "residence_ref": "R1", "number": "21", "kind": "appartement"},
                {"ref": "L4", "residence_ref": "R1", "number": "P07", "kind": "parking"},
                {"ref": "L5", "residence_ref": "R2", "number": "3", "kind": "appartement"},
                {"ref": "L6", "residence_ref": "R2", "number": "5", "kind": "appartement"},
                {"ref": "L7", "residence_ref": "R2", "number": "C2", "kind": "cave"},
            ],
            "accounts": [
                {"ref": "C001", "role": "coproprietaire", "display_name": "Mme Claire Martin",
                 "email": "claire.martin@example.org", "lot_refs": ["L1"], "council": True},
                {"ref": "C002", "role": "coproprietaire", "display_name": "M. Paul Durand",
                 "email": "paul.durand@example.org", "lot_refs": ["L2"], "council": False},
                {"ref": "C003", "role": "coproprietaire", "display_name": "M. et Mme Leroy",
                 "lot_refs": ["L3", "L4"], "council": False},
                {"ref": "C004", "role": "coproprietaire", "display_name": "Mme Sophie Bernard",
                 "email": "sophie.bernard@example.org", "lot_refs": ["L5"], "council": True},
                {"ref": "C005", "role": "coproprietaire", "display_name": "M. Marc Petit",
                 "email": "marc.petit@example.org", "lot_refs": ["L6", "L7"], "council": False},
            ],
        },
        "documents": [
            ("CP_RCP", "Règlement de copropriété", "2019-03-01", {"residence_ref": "R1"}),
            ("AG_PV", "Procès-verbal de l'AG du 12 juin 2026", "2026-06-12", {"residence_ref": "R1"}),
            ("AG_CONVOC", "Convocation à l'AG du 20 mai 2026", "2026-04-20", {"residence_ref": "R2"}),
            ("CP_BUDGET", "Budget prévisionnel 2027", "2026-10-01", {"residence_ref": "R2"}),
            ("CS_BALANCE", "Balance générale au 30 septembre 2026", "2026-10-05",
             {"residence_ref": "R1", "council_only": True}),
            ("LOT_APPEL", "Appel de fonds du 4e trimestre 2026", "2026-10-01", {"account_ref": "C001"}),
            ("LOT_APPEL", "Appel de fonds du 4e trimestre 2026 - lots 5 et C2", "2026-10-01", {"account_ref": "C005"}),
            ("LOT_COMPTE", "Compte individuel 2025", "2026-01-31", {"account_ref": "C002"}),
        ],
    },
    "GERANCE": {
        "tenant": {"client_code": "DEMO", "societe_code": "GERANCE", "name": "Gérance Démo du Parc",
                   "kind": "gerance", "support": {**SUPPORT, "email": "gerance@demo.moncompte.immo"},
                   "branding": {"primary_color": "#047857"}},
        "directory": {
            "residences": [{"ref": "G1", "name": "Immeuble Voltaire", "address": "40 boulevard Voltaire, 75011 Paris"}],
            "lots": [
                {"ref": "GL1", "residence_ref": "G1", "number": "2B", "kind": "appartement"},
                {"ref": "GL2", "residence_ref": "G1", "number": "4A", "kind": "appartement"},
            ],
            "accounts": [
                {"ref": "B001", "role": "bailleur", "display_name": "M. Marc Petit",
                 "email": "marc.petit@example.org", "lot_refs": ["GL1"], "council": False},
                {"ref": "B002", "role": "bailleur", "display_name": "Mme Anne Roux",
                 "email": "anne.roux@example.org", "lot_refs": ["GL2"], "council": False},
                {"ref": "T001", "role": "locataire", "display_name": "M. Hugo Lambert",
                 "email": "hugo.lambert@example.org", "lot_refs": ["GL1"], "council": False},
                {"ref": "T002", "role": "locataire", "display_name": "Mme Léa Moreau",
                 "lot_refs": ["GL2"], "council": False},
            ],
        },
        "documents": [
            ("BAI_CRG", "Compte rendu de gestion du 3e trimestre 2026", "2026-10-10", {"account_ref": "B001"}),
            ("BAI_MANDAT", "Mandat de gestion", "2024-02-01", {"account_ref": "B002"}),
            ("LOC_QUITT", "Quittance de loyer d'octobre 2026", "2026-10-31", {"account_ref": "T001"}),
            ("LOC_AVIS", "Avis d'échéance de novembre 2026", "2026-10-25", {"account_ref": "T002"}),
            ("LOC_BAIL", "Contrat de location", "2024-03-01", {"account_ref": "T001"}),
        ],
    },
}


def _load_state(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {"tenants": {}}


def _save_state(path: Path, state: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2, ensure_ascii=False))
    tmp.chmod(0o600)
    tmp.replace(path)


def _seed_tenant(operator: PublicApi, key: str, spec: dict, state: dict, state_path: Path) -> dict | None:
    saved = state["tenants"].get(key)
    if saved is None:
        try:
            answer = operator.onboard(**spec["tenant"])
        except ApiError as exc:
            existing_id = exc.body.get("id") if exc.status == 409 and isinstance(exc.body, dict) else None
            if not existing_id:
                raise
            # The tenant survives from an earlier run whose state file is gone: its key was shown
            # once and is lost, so rotate it (the operator may) and carry on idempotently.
            answer = operator.call("POST", f"/api/v1/tenants/{existing_id}/api-keys")
            answer.setdefault("id", existing_id)
            print(f"  {key}: exists from an earlier run; its API key was rotated")
        else:
            print(f"  {key}: onboarded")
        saved = {"id": answer["id"], "api_key": answer["api_key"], "login_url": answer.get("login_url", ""),
                 "credentials": {}, "documents": []}
        state["tenants"][key] = saved
        _save_state(state_path, state)  # the API key is shown once
    else:
        print(f"  {key}: exists, reusing its API key")
    agency = operator.agency(saved["api_key"])
    counts = agency.put_directory(spec["directory"])
    print(f"  {key}: directory {json.dumps(counts, ensure_ascii=False)}")
    for category, title, date, audience in spec["documents"]:
        if title in saved["documents"]:
            continue
        metadata = {"category": category, "title": title, "date": date, "audience": audience}
        agency.upload_when_known(metadata, make_pdf(title, (spec["tenant"]["name"], f"Date : {date}")), "document.pdf")
        saved["documents"].append(title)
        _save_state(state_path, state)
    if not saved.get("console_admin"):
        # The agency's console: its first administrator gets the invitation email (the dev mailbox).
        admin = f"console@{tenant_domain(spec)}"
        try:
            operator.call("POST", "/api/v1/staff", {"tenant_id": saved["id"], "email": admin, "role": "admin",
                                                     "display_name": "Console démo"})
        except ApiError as exc:
            if exc.status != 409:  # 409: already active from an earlier run
                raise
        saved["console_admin"] = admin
        _save_state(state_path, state)
    missing = [a["ref"] for a in spec["directory"]["accounts"] if a["ref"] not in saved["credentials"]]
    if missing:
        # Issuing again would revoke credentials already handed out: only accounts never issued.
        issued = agency.issue_credentials(missing)
        saved["credentials"].update({ref: {"login": c["login"], "password": c["password"]}
                                     for ref, c in issued.items()})
        _save_state(state_path, state)
    return saved


def tenant_domain(spec: dict) -> str:
    """A demo address domain per agency (``demo-syndic.example.org``)."""
    tenant = spec["tenant"]
    return f"{tenant['client_code']}-{tenant['societe_code']}.example.org".lower()


def _credentials_text(state: dict, base_url: str) -> str:
    lines = ["moncompte: demonstration data (provisional credentials are single use)", ""]
    for key, spec in TENANTS.items():
        saved = state["tenants"].get(key)
        if not saved:
            continue
        tenant = spec["tenant"]
        login_url = saved["login_url"] or (f"{base_url}/login?client={tenant['client_code']}"
                                           f"&societe={tenant['societe_code']}")
        lines += [f"{tenant['name']} ({tenant['kind']}): {login_url}"]
        if saved.get("console_admin"):
            lines.append(f"  console de l'agence: {base_url}/agence?client={tenant['client_code']}"
                         f"&societe={tenant['societe_code']} (invitation sent to {saved['console_admin']}: "
                         "open it in the mailbox)")
        names = {a["ref"]: (a["display_name"], a["role"], a.get("email", "")) for a in spec["directory"]["accounts"]}
        for ref, creds in saved["credentials"].items():
            name, role, email = names.get(ref, ("?", "?", ""))
            lines.append(f"  {ref:5} {role:15} {name:22} identifiant {creds['login']:12} mot de passe "
                         f"{creds['password']}" + (f"   (email suggéré {email})" if email else ""))
        lines.append("")
    lines.append("M. Marc Petit has an account in each agency (C005 and B001): activate one, then use "
                 "\"Je fusionne mes comptes\" from the other agency's URL with the same email and password.")
    return "\n".join(lines) + "\n"


def seed(base_url: str, operator_token: str, state_dir: Path) -> int:
    """Seed both demo agencies through ``base_url``; write and print the credentials. Return 0 on success."""
    operator = PublicApi(base_url, operator_token)
    state_path = state_dir / "demo-state.json"
    state = _load_state(state_path)
    print(f"seeding demo data through {base_url}")
    for key, spec in TENANTS.items():
        _seed_tenant(operator, key, spec, state, state_path)
    text = _credentials_text(state, base_url)
    credentials_path = state_dir / "demo-credentials.txt"
    credentials_path.write_text(text)
    credentials_path.chmod(0o600)
    print()
    print(text)
    print(f"(also in {credentials_path})")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.seed_demo", description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", default=os.environ.get("SEED_BASE_URL", DEFAULT_BASE_URL))
    parser.add_argument("--state-dir", type=Path, default=ROOT / "var")
    args = parser.parse_args(argv)
    token = os.environ.get("OPERATOR_API_TOKEN", DEV_OPERATOR_TOKEN)
    try:
        return seed(args.base_url, token, args.state_dir)
    except (ApiError, OSError) as exc:
        print(f"seed_demo: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
