"""What a file really is, from its first bytes (never from the name or the client's type).

Accepted: PDF, images (PNG, JPEG, GIF, WebP), legacy Office (OLE compound files), and zip-based
office documents (OOXML: docx/xlsx/pptx; OpenDocument: odt/ods/odp) recognised by their member
names. Anything else, including a plain zip, is refused.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["EXTENSIONS", "HEAD_BYTES", "is_zip", "sniff"]

HEAD_BYTES = 64

PDF = "application/pdf"
OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_OLE_BY_EXTENSION = {
    "doc": "application/msword",
    "xls": "application/vnd.ms-excel",
    "ppt": "application/vnd.ms-powerpoint",
}
_OOXML_BY_FOLDER = {
    "word/": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xl/": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "ppt/": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
}
_ODF = {
    "application/vnd.oasis.opendocument.text",
    "application/vnd.oasis.opendocument.spreadsheet",
    "application/vnd.oasis.opendocument.presentation",
}

EXTENSIONS = {
    PDF: "pdf",
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/gif": "gif",
    "image/webp": "webp",
    "application/msword": "doc",
    "application/vnd.ms-excel": "xls",
    "application/vnd.ms-powerpoint": "ppt",
    "application/x-ole-storage": "doc",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": "pptx",
    "application/vnd.oasis.opendocument.text": "odt",
    "application/vnd.oasis.opendocument.spreadsheet": "ods",
    "application/vnd.oasis.opendocument.presentation": "odp",
}


def is_zip(head: bytes) -> bool:
    return head.startswith(b"PK\x03\x04")


def sniff(head: bytes, *, filename: str = "", zip_names: Iterable[str] = (), odf_mimetype: bytes = b"") -> str | None:
    """The content type of a file from its first bytes, or None when it is not accepted.

    For a zip (:func:`is_zip`), the caller passes its member names and, when present, the
    content of its ``mimetype`` member (OpenDocument). ``filename`` only refines a legacy OLE
    file (doc/xls/ppt share one container format).
    """
    # PDF readers accept the header within the first 1024 bytes; we ask for it at the start.
    if head.startswith(b"%PDF-"):
        return PDF
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith(OLE):
        extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
        return _OLE_BY_EXTENSION.get(extension, "application/x-ole-storage")
    if is_zip(head):
        names = set(zip_names)
        mimetype = odf_mimetype.decode("ascii", "replace").strip()
        if mimetype in _ODF:
            return mimetype
        if "[Content_Types].xml" in names:
            for folder, content_type in _OOXML_BY_FOLDER.items():
                if any(name.startswith(folder) for name in names):
                    return content_type
    return None
