"""Accepting a markdown document: validate everything, then store it once per content."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from config import Settings
from server.errors import ApiError, DocumentSkipped, InvalidDocument
from server.extensions import db
from server.models import Document, Job
from server.providers.extract import markdown

ALLOWED_SUFFIXES = (".md", ".markdown", ".mdx")  # .mdx: MDX posts; JSX is cut by extraction
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_DRIVE = re.compile(r"^[A-Za-z]:")  # C:post.md is relative on POSIX but a drive on Windows
_SLUG = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_SUFFIX = re.compile(r"^(\.[a-z0-9]{1,8}){1,2}$")  # .mp4, .error.txt
WINDOWS_RESERVED = frozenset({"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)),
                              *(f"lpt{i}" for i in range(10))})


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
    job = Job(document=document, slug=outbox_slug(path),
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
    # Ids only: the stored document's text (up to MEDIABUDDY_MAX_DOCUMENT_BYTES) is not needed.
    row = db.session.execute(select(Document.id, Job.id).join(Job, Job.document_id == Document.id)
                             .where(Document.sha256 == digest).order_by(Job.id.desc()).limit(1)).first()
    return None if row is None else Intake(row[0], row[1], created=False)


def validate_path(source_path: str | None) -> str:
    """The inbox-relative path as stored: POSIX, relative, no '..', no control characters."""
    if not source_path:
        raise ApiError(400, "missing_filename", "the 'filename' query parameter is required, e.g. ?filename=post.md")
    if len(source_path) > 1024 or "\\" in source_path or any(unicodedata.category(ch) == "Cc" for ch in source_path):
        raise ApiError(400, "bad_filename", "the filename is too long or holds control characters or backslashes; "
                                            "send the inbox-relative path with '/' between folders")
    path = PurePosixPath(source_path)
    if path.is_absolute() or _DRIVE.match(source_path) or ".." in path.parts or not path.name \
            or any(part.startswith(".") for part in path.parts):
        raise ApiError(400, "bad_filename", "the filename must be a relative path inside the inbox, with no '..', "
                                            "drive letter or hidden (dot) part")
    if any(len(part.encode()) > 255 for part in path.parts):
        raise ApiError(400, "bad_filename", "a part of the filename is longer than 255 bytes")
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


def outbox_slug(source_path: str) -> str:
    """The outbox name for an inbox-relative path, unique per path and predictable.

    The folders become part of the name: ``post.md`` → ``post``, ``a/post.md`` → ``a-post``,
    ``a/b/post.md`` → ``a-b-post``. A new version of the same file keeps the name its first
    version got (its video is replaced). When another path already owns the plain name
    (``a-b/post.md`` against ``a/b-post.md``, or ``Post.md`` against ``post.md``) the name
    gets the first 8 hex digits of the path's sha256: ``a-b-post-1f0c2e9a``.
    """
    previous = (db.session.query(Job.slug).join(Document).filter(Document.source_path == source_path)
                .order_by(Job.id).limit(1).scalar())
    if previous is not None:
        return previous
    path = PurePosixPath(source_path)
    base = slugify("-".join([*path.parts[:-1], path.stem]))
    if base in WINDOWS_RESERVED:
        base = f"{base}-article"  # con.mp4, nul.srt... cannot be created on Windows
    taken = (db.session.query(Job.id).join(Document)
             .filter(Job.slug == base, Document.source_path != source_path).limit(1).scalar())
    if taken is None:
        return base
    return f"{base[:110].rstrip('-')}-{hashlib.sha256(source_path.encode()).hexdigest()[:8]}"


def outbox_file(outbox: Path, slug: str, suffix: str) -> Path:
    """``outbox/<slug><suffix>``, refusing any slug that could name a file anywhere else."""
    if not _SLUG.match(slug) or slug in WINDOWS_RESERVED or not _SUFFIX.match(suffix):
        raise ValueError(f"refusing to write {slug!r}{suffix!r}: not a plain outbox name")
    root = outbox.resolve()
    target = (root / f"{slug}{suffix}").resolve()
    if target.parent != root:
        raise ValueError(f"refusing to write {target}: it is not directly inside the outbox {root}")
    return target
