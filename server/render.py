"""One-shot rendering: the same pipeline, on a throwaway database, published to a chosen path."""

from __future__ import annotations

import tempfile
from pathlib import Path

from config import Settings
from server import create_app, upgrade_database
from server.errors import ApiError, MediaBuddyError
from server.extensions import db
from server.intake import accept
from server.models import STAGES, Job
from server.pipeline.runner import run_job
from server.pipeline.stages.publish import publish_job


class RenderError(MediaBuddyError):
    """The file could not be rendered; the message says why."""


def render_file(settings: Settings, source: Path, output: Path) -> Path:
    """Render ``source`` to ``output`` (``.mp4``; ``.srt``, ``.json``, ``.jpg`` beside it)."""
    output = output.with_suffix(".mp4").resolve()
    with tempfile.TemporaryDirectory(prefix="mediabuddy-render-") as scratch:
        local = settings.model_copy(update={"database_url": f"sqlite:///{Path(scratch) / 'render.db'}"})
        app = create_app(local)
        upgrade_database(app)
        with app.app_context():
            try:
                intake = accept(source.read_bytes(), source.name if source.suffix.lower() in (".md", ".markdown")
                                else f"{source.stem}.md", None, local)
            except ApiError as error:
                raise RenderError(f"{source}: {error.message}") from error
        run_job(app, intake.job_id, stages=STAGES[:-1])
        with app.app_context():
            publish_job(db.session.get(Job, intake.job_id), output.with_suffix(""))
            db.session.remove()
            db.engine.dispose()
    return output
