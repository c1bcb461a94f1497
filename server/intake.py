"""Accepting a markdown document: validate everything, then store it once per content."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from pathlib import PurePosixPath

from sqlalchemy.exc import IntegrityError

from config import Settings
from server.errors import ApiError, DocumentSkipped, InvalidDocument
from server.extensions import db
from server.models import Document, Job
from server.providers.extract import markdown

ALLOWED_SUFFIXES = (".md", ".markdown")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Intake:
    document_id: int
    job_id: int
    created: bool


def accept(raw: bytes, source_path: str, idempotency_key: str | None, settings: Settings) -> Intake:
    """Validate ``raw`` and store it; the same content always answers with the same job."""
    path = validate_path(source_path)
    digest = hashlib.sha256(raw).hexdigest()
    if idempotency_key is not None:
        key = idempotency_key.strip().lower()
        if not _HEX64.match(key):
            raise ApiError(400, "bad_idempotency_key", "Idempotency-Key must be the body's sha256 as 64 hex digits")
        if key != digest:
            raise ApiError(400, "idempotency_key_mismatch",
                           "Idempotency-Key does not match the sha256 of the body; the upload may be corrupt")
    existing = _existing(digest)
    if existing:
        return existing
    text = decode(raw)
    try:
        markdown.extract(text, fallback_title=PurePosixPath(path).stem)
    except DocumentSkipped:
        pass  # a draft is stored; its job ends "skipped" with a note (the runner), not refused here
    except InvalidDocument as error:
        raise ApiError(422, error.code, error.message) from error

    width, height = settings.video_size
    document = Document(sha256=digest, source_path=path, size_bytes=len(raw), content=text)
    job = Job(document=document, slug=slugify(PurePosixPath(path).stem),
              settings={"aspect": settings.aspect, "short_side": settings.short_side, "width": width,
                        "height": height, "fps": settings.fps, "theme": settings.theme})
    db.session.add_all([document, job])
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()  # another request stored the same content a moment ago
        existing = _existing(digest)
        if existing:
            return existing
        raise
    return Intake(document.id, job.id, created=True)


def _existing(digest: str) -> Intake | None:
    document = db.session.query(Document).filter_by(sha256=digest).one_or_none()
    if document is None or not document.jobs:
        return None
    return Intake(document.id, document.jobs[-1].id, created=False)


def validate_path(source_path: str | None) -> str:
    if not source_path:
        raise ApiError(400, "missing_filename", "the 'filename' query parameter is required, e.g. ?filename=post.md")
    if len(source_path) > 1024 or "\x00" in source_path or "\\" in source_path:
        raise ApiError(400, "bad_filename", "the filename is too long or holds characters that are not allowed")
    path = PurePosixPath(source_path)
    if path.is_absolute() or ".." in path.parts or not path.name or path.name.startswith("."):
        raise ApiError(400, "bad_filename", "the filename must be a relative path inside the inbox, not hidden")
    if path.suffix.lower() not in ALLOWED_SUFFIXES:
        raise ApiError(415, "unsupported_type", f"only markdown files ({', '.join(ALLOWED_SUFFIXES)}) are accepted")
    return str(path)


def decode(raw: bytes) -> str:
    if not raw.strip():
        raise ApiError(422, "empty_document", "the document is empty")
    if b"\x00" in raw[:8192]:
        raise ApiError(422, "binary_content", "the document holds NUL bytes: it looks like a binary file, not markdown")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ApiError(422, "invalid_utf8",
                       f"the document is not valid UTF-8 (bad byte at offset {error.start}); save it as UTF-8") from None
    controls = sum(1 for ch in text[:8192] if unicodedata.category(ch) == "Cc" and ch not in "\n\r\t\f")
    if controls > 8:
        raise ApiError(422, "binary_content", "the document holds many control characters: it does not look like text")
    return text


def slugify(stem: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:120] or "article"
