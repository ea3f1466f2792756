"""Password policy: the guide's five criteria plus rules that strengthen without contradicting them.

Pure functions, no I/O except reading the shipped blocklist once. Every form (activation,
reset, change) and ``POST /v1/password/policy`` use :func:`check_password`, so the criteria the
person sees are exactly the ones enforced.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path

__all__ = ["DEFAULT_MIN_LENGTH", "Criterion", "PolicyResult", "check_password", "normalise_password"]

DEFAULT_MIN_LENGTH = 6
_BLOCKLIST_FILE = Path(__file__).parent / "data" / "common_passwords.txt"
# Local parts shorter than this are too common as substrings ("jo", "a") to refuse on.
_MIN_REFUSED_FRAGMENT = 3


@dataclass(frozen=True)
class Criterion:
    """One of the five criteria shown next to every password field."""

    code: str
    label: str
    ok: bool

    def to_json(self) -> dict:
        return {"code": self.code, "label": self.label, "ok": self.ok}


@dataclass(frozen=True)
class PolicyResult:
    """The per-criterion results and the extra problems (French sentences)."""

    criteria: tuple[Criterion, ...]
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.criteria) and not self.problems

    def to_json(self) -> dict:
        return {"ok": self.ok, "criteria": [c.to_json() for c in self.criteria], "problems": list(self.problems)}


def normalise_password(password: str) -> str:
    """NFKC form, so that the same visible password typed on two keyboards hashes the same."""
    return unicodedata.normalize("NFKC", password)


@cache
def _blocklist() -> frozenset[str]:
    lines = _BLOCKLIST_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(normalise_password(line.strip()).casefold() for line in lines
                     if line.strip() and not line.startswith("#"))


def _is_special(ch: str) -> bool:
    return not ch.isalpha() and not ch.isdigit()


def check_password(
    password: str,
    *,
    min_length: int = DEFAULT_MIN_LENGTH,
    max_length: int = 256,
    email: str | None = None,
    identifier: str | None = None,
    confirmation: str | None = None,
) -> PolicyResult:
    """Check ``password`` against the criteria and the extra rules.

    Lengths are counted in characters of the NFKC form; nothing is ever truncated.
    ``confirmation`` (when given) adds a problem if it differs.
    """
    pw = normalise_password(password)
    min_length = max(min_length, DEFAULT_MIN_LENGTH)
    criteria = (
        Criterion("min_length", f"Au moins {min_length} caractères", len(pw) >= min_length),
        Criterion("upper", "Au moins une majuscule", any(ch.isupper() for ch in pw)),
        Criterion("lower", "Au moins une minuscule", any(ch.islower() for ch in pw)),
        Criterion("digit", "Au moins un chiffre", any(ch.isdigit() for ch in pw)),
        Criterion("special", "Au moins un caractère spécial", any(_is_special(ch) for ch in pw)),
    )
    problems: list[str] = []
    folded = pw.casefold()
    if len(pw) > max_length:
        problems.append(f"Le mot de passe ne doit pas dépasser {max_length} caractères.")
    if folded in _blocklist():
        problems.append("Ce mot de passe est trop courant : choisissez-en un autre.")
    if email:
        local = normalise_password(email.split("@", 1)[0]).casefold()
        if len(local) >= _MIN_REFUSED_FRAGMENT and local in folded:
            problems.append("Le mot de passe ne doit pas contenir votre adresse email.")
    if identifier and len(identifier) >= _MIN_REFUSED_FRAGMENT and identifier.casefold() in folded:
        problems.append("Le mot de passe ne doit pas contenir votre identifiant provisoire.")
    if confirmation is not None and normalise_password(confirmation) != pw:
        problems.append("La confirmation ne correspond pas au mot de passe.")
    return PolicyResult(criteria, tuple(problems))
