"""What a stage is handed: the job's id, settings, and where it may write."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from config import Settings
from server.digests import file_sha256 as sha256_of
from server.extensions import db
from server.models import Asset, AssetKind, Job
from server.pipeline.cache import ResultCache
from server.pipeline.ledger import Ledger
from server.providers.registry import ProviderChain
from server.providers.types import RenderSettings
from server.storage import LocalStore, asset_store, cache_store


@dataclass(frozen=True)
class StageContext:
    job_id: int
    settings: Settings
    work_dir: Path   # var/jobs/<id>: this job's own intermediate files
    cache_dir: Path  # var/cache: content-addressed outputs shared by all jobs

    def job(self) -> Job:
        job = db.session.get(Job, self.job_id)
        if job is None:
            raise LookupError(f"job {self.job_id} no longer exists")
        return job

    def render_settings(self) -> RenderSettings:
        raw = self.job().settings
        return RenderSettings(width=int(raw["width"]), height=int(raw["height"]), fps=int(raw["fps"]),
                              theme=str(raw["theme"]), aspect=str(raw["aspect"]))

    def providers(self, kind: str, *, language: str | None = None) -> ProviderChain:
        """The registry's chain of ``kind`` providers for this job, metered and cached."""
        return ProviderChain(kind, self.settings, Ledger(db.engine, self.settings, self.job_id, kind),
                             ResultCache(cache_store(self.settings)), language=language)

    def record_providers(self, chain: ProviderChain, *extra_notes: str) -> None:
        """Put what ``chain`` used and its notes on the job (replacing an earlier run's of this kind)."""
        job = self.job()
        prefix = f"{chain.kind}: "
        job.notes = [n for n in job.notes if not n.startswith(prefix)] + chain.notes() \
            + [f"{prefix}{note}" for note in extra_notes]
        job.degraded = job.degraded or chain.degraded
        job.settings = {**job.settings, "made_by": {**dict(job.settings.get("made_by") or {}),
                                                    chain.kind: sorted(chain.used)}}

    @property
    def assets(self) -> LocalStore:
        """Where this job's own files are kept (keys ``<job id>/<name>``; see ``server.storage``)."""
        return asset_store(self.settings)

    def put_asset_text(self, name: str, text: str) -> Path:
        """Store ``text`` as this job's file ``name``, atomically; the path to record on its asset."""
        key = f"{self.job_id}/{name}"
        self.assets.put_text(key, text)
        return self.assets.local_path(key)

    def put_asset_file(self, name: str, source: Path) -> Path:
        """Move ``source`` (made in ``work_dir``) into place as this job's file ``name``, atomically."""
        key = f"{self.job_id}/{name}"
        self.assets.put_file(key, source, move=True)
        return self.assets.local_path(key)


def replace_asset(job_id: int, scene_id: int | None, kind: AssetKind, path: Path, provider: str,
                  duration_ms: int | None = None) -> None:
    """Record ``path`` as the job's (or scene's) asset of ``kind``, replacing an earlier run's.

    Only reads here: the earlier row is updated in place (the unique key stays), so nothing
    is written until the runner commits the stage, however long the stage goes on after."""
    key = (job_id, scene_id, kind)
    found = [a for a in db.session.new if isinstance(a, Asset) and (a.job_id, a.scene_id, a.kind) == key] \
        + db.session.query(Asset).filter_by(job_id=job_id, scene_id=scene_id, kind=kind).order_by(Asset.id).all()
    values = {"path": str(path), "sha256": sha256_of(path), "provider": provider, "duration_ms": duration_ms}
    if not found:
        db.session.add(Asset(job_id=job_id, scene_id=scene_id, kind=kind, **values))
        return
    for name, value in {**values, "created_at": datetime.now(timezone.utc)}.items():
        setattr(found[0], name, value)
    for duplicate in found[1:]:  # job-wide assets (no scene) are not held unique by the database
        db.session.delete(duplicate)
