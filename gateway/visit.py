"""The visit cookie: a signed, HttpOnly cookie carrying the pre-login state of one browser.

It holds a random visit id (the CSRF token is derived from it), the tenant codes of the visit,
and the activation or merge flow in progress (identity's opaque flow id, so the browser never
carries an id it could swap: the cookie is signed). The session itself is another cookie holding
only identity's opaque session id.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from itsdangerous import BadSignature, URLSafeTimedSerializer

__all__ = ["CONSOLE_SCOPE", "Visit", "VisitCodec", "cookie_names", "csrf_scope", "staff_cookie_name"]

CONSOLE_PREFIX = "/agence"
# The agency console's forms carry tokens of their own scope: a token of a person's page is
# refused on a console form and the other way round, even in the same browser.
CONSOLE_SCOPE = "console"


def cookie_names(insecure: bool) -> tuple[str, str]:
    """(session cookie, visit cookie). ``__Host-`` requires Secure, so plain-http dev drops it."""
    prefix = "" if insecure else "__Host-"
    return prefix + "moncompte_session", prefix + "moncompte_visit"


def staff_cookie_name(insecure: bool) -> str:
    """The console session's cookie: never the person's, so neither session opens the other side."""
    return ("" if insecure else "__Host-") + "moncompte_staff"


def csrf_scope(path: str) -> str:
    """The CSRF scope of a page: the console's, or the persons' ("")."""
    return CONSOLE_SCOPE if path == CONSOLE_PREFIX or path.startswith(CONSOLE_PREFIX + "/") else ""


class Visit:
    """The decoded visit; ``changed`` tells the edge to send the cookie again."""

    def __init__(self, data: dict | None = None) -> None:
        self.data = dict(data or {})
        self.changed = False
        if not self.data.get("v"):
            self.rotate()

    @property
    def id(self) -> str:
        return self.data["v"]

    def rotate(self) -> None:
        """A new visit id (and so a new CSRF token): at login, after activation and merge."""
        self.data["v"] = secrets.token_urlsafe(24)
        self.changed = True

    def get(self, key: str):
        return self.data.get(key)

    def set(self, key: str, value) -> None:
        if value is None:
            if key in self.data:
                del self.data[key]
                self.changed = True
        elif self.data.get(key) != value:
            self.data[key] = value
            self.changed = True


class VisitCodec:
    """Signs and reads visit cookies; derives and checks CSRF tokens."""

    def __init__(self, secret: str, *, max_age: int) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt="moncompte.visit")
        self._csrf_key = hashlib.sha256(b"moncompte.csrf:" + secret.encode()).digest()
        self.max_age = max_age

    def load(self, raw: str | None) -> Visit:
        if raw:
            try:
                data = self._serializer.loads(raw, max_age=self.max_age)
                if isinstance(data, dict):
                    return Visit(data)
            except BadSignature:
                pass
        return Visit()

    def dump(self, visit: Visit) -> str:
        return self._serializer.dumps(visit.data)

    def csrf_token(self, visit: Visit, scope: str = "") -> str:
        message = visit.id if not scope else f"{scope}:{visit.id}"
        return hmac.new(self._csrf_key, message.encode(), hashlib.sha256).hexdigest()

    def check_csrf(self, visit: Visit, token: str | None, scope: str = "") -> bool:
        # bytes: compare_digest raises on non-ASCII str; a file part is no token
        return isinstance(token, str) and bool(token) and hmac.compare_digest(
            self.csrf_token(visit, scope).encode(), token.encode())
