"""Which request paths the gateway accepts, read from the raw (still percent-encoded) path.

aiohttp keeps ``..`` in ``request.path`` and decodes ``%2e%2e`` and ``..%2f`` into it, and yarl
normalises a URL built from a string: a path that passes a prefix check can therefore name
another route once it is forwarded (``/api/v1/directory/../../internal/...``). No page and no
public API route of ours ever needs a dot segment, an encoded slash, dot or backslash, a
backslash, a NUL or a byte outside printable ASCII, so such a path is refused before routing
(:func:`unsafe_path_reason`), and what is forwarded is the checked raw path, never re-normalised.
"""

from __future__ import annotations

import re

__all__ = ["is_uuid", "unsafe_path_reason"]

# %2e "." and %2f "/" (traversal once decoded), %5c "\" (a separator for some servers), %00 NUL.
_ENCODED = re.compile(r"%(?:2e|2f|5c|00)", re.IGNORECASE)
# Printable ASCII only: a raw control byte, space or non-ASCII character has no business here.
_PRINTABLE = re.compile(r"[!-~]*")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def is_uuid(text: str) -> bool:
    """A document id as pages take it from a path or a form, checked before it is put in an API path."""
    return _UUID.fullmatch(text) is not None


def unsafe_path_reason(raw_path: str) -> str | None:
    """Why ``raw_path`` (the request target's path, without its query) is refused; None when it is fine."""
    if not raw_path.startswith("/"):
        return "not_absolute"
    if not _PRINTABLE.fullmatch(raw_path):
        return "control_or_non_ascii"
    if "\\" in raw_path:
        return "backslash"
    if _ENCODED.search(raw_path):
        return "encoded_separator_or_dot"
    # A dot segment starts right after a slash; most paths have no "/." at all.
    if "/." in raw_path and any(segment in (".", "..") for segment in raw_path.split("/")):
        return "dot_segment"
    return None
