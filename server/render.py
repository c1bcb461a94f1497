"""One-shot rendering: the same pipeline, on a throwaway database, published to a chosen path."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import platformdirs

from config import Settings
from server import create_app, upgrade_database
from server.errors import ApiError, MediaBuddyError
from server.extensions import db
from server.intake import ALLOWED_SUFFIXES, accept
from server.models import STAGES, Job
from server.pipeline.runner import JobFailed, run_job
from server.pipeline.stages.publish import publish_job
from server.storage import LocalStore

log = logging.getLogger("mediabuddy.render")


class RenderError(MediaBuddyError):
    """The file could not be rendered; the message says why."""


def render_file(settings: Settings, source: Path, output: Path) -> Path:
    """Render ``source`` to ``output`` (``.mp4``; ``.srt``, ``.json``, ``.jpg`` beside it).

    Nothing is created in the current folder: the throwaway database lives in a temporary
    folder, and the caches (worth keeping between renders) in the user's cache folder, or
    under MEDIABUDDY_HOME when it is set.
    """
    # "release-1.2" is a name, not "release-1" with a suffix: only a final .mp4 is taken off.
    output = (output if output.suffix.lower() == ".mp4" else output.with_name(f"{output.name}.mp4")).resolve()
    home = settings.home if settings.home_given else work_home()
    with tempfile.TemporaryDirectory(prefix="mediabuddy-render-") as scratch:
        local = settings.model_copy(update={"home": home, "database_url": f"sqlite:///{Path(scratch) / 'render.db'}"})
        app = create_app(local)
        upgrade_database(app)
        with app.app_context():
            try:
                intake = accept(source.read_bytes(), source.name if source.suffix.lower() in ALLOWED_SUFFIXES
                                else f"{source.stem}.md", None, local)
            except ApiError as error:
                raise RenderError(f"{source}: {error.message}") from error
        try:
            run_job(app, intake.job_id, stages=STAGES[:-1])
        except JobFailed as error:   # a one-shot render has no queue to retry from: the reason is the answer
            raise RenderError(f"{source}: {error}") from error
        with app.app_context():
            publish_job(db.session.get(Job, intake.job_id), LocalStore(output.parent), output.name[:-len(".mp4")])
            db.session.remove()
            db.engine.dispose()
    log.info("rendered %s to %s", source, output)
    return output


def work_home() -> Path:
    """Where a one-shot render keeps its caches when MEDIABUDDY_HOME is not set."""
    return platformdirs.user_cache_path("mediabuddy", appauthor=False).resolve()

