"""Pure HTTP file helpers: byte ranges (RFC 9110), Content-Disposition (RFC 6266), archive names."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import quote

__all__ = ["Unsatisfiable", "archive_member_names", "content_disposition", "etag_matches", "parse_range",
           "safe_filename"]


class Unsatisfiable(Exception):
    """A syntactically valid range that selects nothing of the representation (416)."""


@dataclass(frozen=True)
class ByteRange:
    start: int
    end: int  # inclusive

    @property
    def length(self) -> int:
        return self.end - self.start + 1


_RANGE = re.compile(r"^\s*(\d*)\s*-\s*(\d*)\s*$")


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The single byte range asked for, or None to send the whole representation.

    RFC 9110 14.2: a server may ignore a Range it does not support; we serve one range and
    ignore multi-range and malformed headers (200 with everything). A valid range beyond the
    end raises :class:`Unsatisfiable`.
    """
    if not header:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    match = _RANGE.match(spec)
    if not match or (not match.group(1) and not match.group(2)):
        return None
    first, last = match.group(1), match.group(2)
    if first:
        start = int(first)
        end = int(last) if last else size - 1
        if last and end < start:
            return None  # invalid range-spec: ignored
        if start >= size:
            raise Unsatisfiable
        return ByteRange(start, min(end, size - 1))
    suffix = int(last)
    if suffix == 0 or size == 0:
        raise Unsatisfiable
    return ByteRange(max(size - suffix, 0), size - 1)


def etag_matches(header: str | None, etag: str, *, weak: bool) -> bool:
    """Whether an If-None-Match (weak comparison) or If-Range (strong) header names ``etag``."""
    if not header:
        return False
    if header.strip() == "*":
        return weak
    for candidate in header.split(","):
        candidate = candidate.strip()
        if candidate.startswith("W/"):
            if not weak:
                continue
            candidate = candidate[2:]
        if candidate == etag:
            return True
    return False


_UNSAFE = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]+')


def safe_filename(name: str, *, fallback: str = "document", max_length: int = 150) -> str:
    """A file name without path separators, control or reserved characters, of bounded length."""
    name = unicodedata.normalize("NFC", name or "")
    name = _UNSAFE.sub("_", name)
    name = re.sub(r"\s+", " ", name).strip(" ._")
    if not name:
        return fallback
    if len(name) > max_length:
        stem, dot, extension = name.rpartition(".")
        if dot and 0 < len(extension) <= 8:
            name = stem[: max_length - len(extension) - 1].rstrip(" ._") + "." + extension
        else:
            name = name[:max_length].rstrip(" ._")
    return name


def _ascii_fallback(name: str) -> str:
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    folded = re.sub(r"[^A-Za-z0-9 ._()'-]+", "_", folded).strip(" ._") or "document"
    return folded.replace("\\", "_").replace('"', "_")


def content_disposition(name: str) -> str:
    """``attachment`` with an ASCII ``filename`` and the exact UTF-8 ``filename*`` (RFC 6266 + 8187)."""
    name = safe_filename(name)
    return f"attachment; filename=\"{_ascii_fallback(name)}\"; filename*=UTF-8''{quote(name, safe='')}"


def archive_member_names(entries: list[tuple[str, str, str, str]]) -> list[str]:
    """``<category label> - <date> - <title>.<ext>`` per (label, iso date, title, extension), unique."""
    seen: set[str] = set()
    names = []
    for label, day, title, extension in entries:
        stem = safe_filename(f"{label} - {day} - {title}", max_length=140)
        candidate = f"{stem}.{extension}"
        counter = 2
        while candidate.lower() in seen:
            candidate = f"{stem} ({counter}).{extension}"
            counter += 1
        seen.add(candidate.lower())
        names.append(candidate)
    return names
