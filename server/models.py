"""Database models: Document ─< Job ─< Scene ─< Asset.

A Document is one version of one article (its sha256 is unique, so the same content never
makes two documents). A Job is one run of the pipeline over a document; it records which
stages finished, so a restarted job resumes at the first unfinished one. Scenes are the
timeline; Assets are files a stage produced (scene images, narration, the video).
ProviderCalls are the cost ledger: one row per call to a paid service, or per call a
cache hit saved.
"""

from __future__ import annotations

import enum
from datetime import datetime, timezone

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.extensions import db

STAGES: tuple[str, ...] = ("extract", "voice", "timeline", "images", "narration", "compose", "publish")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class JobStatus(str, enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"  # a person asked it to stop; `retry` resumes it
    SKIPPED = "skipped"    # the document asked not to be rendered (front matter draft: true)


FINISHED = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELED, JobStatus.SKIPPED})


class AssetKind(str, enum.Enum):
    IMAGE = "image"
    NARRATION = "narration"
    VIDEO = "video"
    CAPTIONS = "captions"
    MANIFEST = "manifest"
    THUMBNAIL = "thumbnail"


class Document(db.Model):
    __tablename__ = "documents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    source_path: Mapped[str] = mapped_column(String(1024), nullable=False, index=True)  # intake: outbox names
    size_bytes: Mapped[int] = mapped_column(Integer, nullable=False)
    content: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)

    jobs: Mapped[list[Job]] = relationship(back_populates="document", cascade="all, delete-orphan", order_by="Job.id")

    __table_args__ = (
        CheckConstraint("length(sha256) = 64", name="sha256_is_hex_digest"),
        CheckConstraint("size_bytes > 0", name="document_not_empty"),
    )


class Job(db.Model):
    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), nullable=False, index=True)
    status: Mapped[JobStatus] = mapped_column(
        Enum(JobStatus, name="job_status", values_callable=lambda e: [m.value for m in e], native_enum=False,
             create_constraint=True, length=16),
        default=JobStatus.QUEUED, nullable=False, index=True,
    )
    stage: Mapped[str | None] = mapped_column(String(32))
    completed_stages: Mapped[list[str]] = mapped_column(JSON, default=list, nullable=False)
    stage_seconds: Mapped[dict[str, float]] = mapped_column(JSON, default=dict, nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    slug: Mapped[str] = mapped_column(String(200), nullable=False, index=True)  # intake: is a name taken
    title: Mapped[str | None] = mapped_column(String(500))
    language: Mapped[str | None] = mapped_column(String(16))  # BCP 47, detected or from front matter
    narration_text: Mapped[str | None] = mapped_column(Text)
    spoken_text: Mapped[str | None] = mapped_column(Text)
    settings: Mapped[dict[str, object]] = mapped_column(JSON, default=dict, nullable=False)
    notes: Mapped[list[str]] = mapped_column(JSON, default=list, nullable=False)
    degraded: Mapped[bool] = mapped_column(default=False, nullable=False)
    duration_ms: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow, nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The lease: which worker runs the job and until when. The worker's heartbeat pushes
    # lease_expires_at forward; once it passes, any worker may claim the job and resume it.
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # retry backoff
    cancel_requested: Mapped[bool] = mapped_column(default=False, nullable=False)

    document: Mapped[Document] = relationship(back_populates="jobs")
    scenes: Mapped[list[Scene]] = relationship(back_populates="job", cascade="all, delete-orphan", order_by="Scene.index")
    assets: Mapped[list[Asset]] = relationship(back_populates="job", cascade="all, delete-orphan", order_by="Asset.id")
    provider_calls: Mapped[list[ProviderCall]] = relationship(
        back_populates="job", cascade="all, delete-orphan", passive_deletes=True, order_by="ProviderCall.id")

    __table_args__ = (CheckConstraint("attempts >= 0", name="attempts_not_negative"),)


class Scene(db.Model):
    __tablename__ = "scenes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False)
    index: Mapped[int] = mapped_column(Integer, nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False)
    concept: Mapped[str] = mapped_column(String(200), nullable=False)
    visual: Mapped[str] = mapped_column(Text, nullable=False)
    word_count: Mapped[int] = mapped_column(Integer, nullable=False)
    chapter: Mapped[str | None] = mapped_column(String(500))  # the heading that starts here, if any
    start_ms: Mapped[int | None] = mapped_column(BigInteger)
    duration_ms: Mapped[int | None] = mapped_column(BigInteger)
    captions: Mapped[list[dict[str, object]] | None] = mapped_column(JSON)

    job: Mapped[Job] = relationship(back_populates="scenes")
    assets: Mapped[list[Asset]] = relationship(back_populates="scene", order_by="Asset.id")

    __table_args__ = (
        UniqueConstraint("job_id", "index", name="one_scene_per_index"),
        CheckConstraint('"index" >= 0', name="scene_index_not_negative"),
        CheckConstraint("word_count > 0", name="scene_has_words"),
    )


class Asset(db.Model):
    __tablename__ = "assets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False, index=True)
    scene_id: Mapped[int | None] = mapped_column(ForeignKey("scenes.id", ondelete="CASCADE"))
    kind: Mapped[AssetKind] = mapped_column(
        Enum(AssetKind, name="asset_kind", values_callable=lambda e: [m.value for m in e], native_enum=False,
             create_constraint=True, length=16),
        nullable=False,
    )
    path: Mapped[str] = mapped_column(String(1024), nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    provider: Mapped[str] = mapped_column(String(64), nullable=False)
    duration_ms: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)

    job: Mapped[Job] = relationship(back_populates="assets")
    scene: Mapped[Scene | None] = relationship(back_populates="assets")

    __table_args__ = (UniqueConstraint("job_id", "scene_id", "kind", name="one_asset_per_kind_and_scene"),)


class ProviderCall(db.Model):
    """One call to a paid provider (or one a cache hit saved): the job's cost ledger.

    Written by ``server.pipeline.ledger`` in its own short transaction as soon as the call
    returns, so the rows equal the calls the vendor counted even if the job crashes later.
    """

    __tablename__ = "provider_calls"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False, index=True)
    stage: Mapped[str] = mapped_column(String(32), nullable=False)
    provider: Mapped[str] = mapped_column(String(64), nullable=False)
    model: Mapped[str] = mapped_column(String(200), nullable=False)
    input_tokens: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    output_tokens: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    images: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    audio_tokens: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    price_usd: Mapped[float] = mapped_column(Float, default=0.0, nullable=False)
    cached: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    outcome: Mapped[str] = mapped_column(String(80), nullable=False)  # "ok", or the error's class (and status)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    detail: Mapped[str] = mapped_column(String(500), default="", nullable=False)  # e.g. a prediction id
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)

    job: Mapped[Job] = relationship(back_populates="provider_calls")

    __table_args__ = (
        CheckConstraint("price_usd >= 0", name="price_not_negative"),
        CheckConstraint("input_tokens >= 0 AND output_tokens >= 0 AND images >= 0 AND audio_tokens >= 0",
                        name="usage_not_negative"),
    )
