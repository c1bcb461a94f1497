"""Media Buddy settings: the one place that reads the environment.

Settings come from the environment (``MEDIABUDDY_*``, ``DATABASE_URL``, the vendor keys)
and from a ``.env`` file in the current folder. They are validated once, at start; a bad
value is reported with the variable's name and what would be valid.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ASPECTS: dict[str, tuple[int, int]] = {"9:16": (9, 16), "16:9": (16, 9), "1:1": (1, 1), "4:5": (4, 5)}
THEMES = ("midnight", "paper", "forest", "sunset", "ocean")


class SettingsError(ValueError):
    """Raised when the environment holds a value Media Buddy cannot run with."""


class Settings(BaseSettings):
    """Every knob Media Buddy has; see the README's settings table."""

    model_config = SettingsConfigDict(
        env_prefix="MEDIABUDDY_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
    )

    home: Path = Field(default_factory=Path.cwd, description="Base folder for inbox/, outbox/ and var/.")
    inbox: Path | None = Field(default=None, description="Drop folder (default: HOME/inbox).")
    outbox: Path | None = Field(default=None, description="Where videos appear (default: HOME/outbox).")
    data_dir: Path | None = Field(default=None, description="Database, queues, caches, token (default: HOME/var).")

    host: str = Field(default="127.0.0.1", description="Address the API listens on.")
    port: int = Field(default=8765, ge=1, le=65535, description="Port the API listens on.")
    server_url: str | None = Field(default=None, description="Where the daemon posts (default: http://HOST:PORT).")
    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "MEDIABUDDY_DATABASE_URL"),
        description="SQLAlchemy URL (default: SQLite file in var/).",
    )
    redis_url: str | None = Field(default=None, description="Use Redis for the job queue (several workers).")
    api_token: SecretStr | None = Field(default=None, description="Bearer token (default: generated into var/).")

    gemini_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("GEMINI_API_KEY", "GOOGLE_API_KEY")
    )
    replicate_api_token: SecretStr | None = Field(default=None, validation_alias=AliasChoices("REPLICATE_API_TOKEN"))

    max_document_bytes: int = Field(default=1_048_576, ge=1024, le=64 * 1_048_576)
    stability_seconds: float = Field(default=1.0, ge=0.05, le=600)
    rescan_seconds: float = Field(default=30.0, ge=1, le=3600)
    max_delivery_attempts: int = Field(default=12, ge=1, le=1000,
                                       description="Failed answers a file may get before it is dead-lettered.")
    max_delivery_age_seconds: float = Field(default=7 * 86400, ge=60, le=365 * 86400,
                                            description="How long a file may wait undelivered before it is "
                                                        "dead-lettered.")
    delivery_workers: int = Field(default=4, ge=1, le=32, description="Parallel uploads from the daemon.")
    settle_cap_seconds: float = Field(default=600.0, ge=1, le=86400,
                                      description="Report a file that is still changing after this long.")
    watch_mode: Literal["auto", "events", "polling"] = Field(
        default="auto", description="auto: inotify, or polling on network/FUSE mounts and when inotify fails.")
    poll_seconds: float = Field(default=2.0, ge=0.1, le=600, description="Polling interval when polling.")

    aspect: str = Field(default="9:16", description="Video aspect: 9:16, 16:9, 1:1 or 4:5.")
    short_side: int = Field(default=1080, ge=240, le=2160, description="Pixels on the video's short side.")
    fps: int = Field(default=30, ge=10, le=60)
    theme: str = Field(default="midnight", description=f"Scene image theme: {', '.join(THEMES)}.")
    tts_engine: Literal["auto", "piper", "espeak"] = "auto"
    piper_voice: Path | None = Field(default=None, description="Any piper .onnx voice (its .onnx.json beside it).")
    scene_pause_ms: int = Field(default=350, ge=0, le=5000, description="Silence after each scene.")
    render_workers: int = Field(default=2, ge=1, le=16)
    worker_threads: int = Field(default=1, ge=1, le=32)
    job_retries: int = Field(default=2, ge=0, le=10)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = Field(default="text", description="json: one JSON object per line.")

    # --- providers-core: registry order, strictness, budget, prices (core) ---
    #

    # --- gemini: base URL, models, timeouts (gemini) ---
    #

    # --- replicate: base URL, FLUX model and inputs (replicate) ---
    #

    # --- extraction and language (extract) ---
    #

    # --- storyboard: timeline and offline pictures (storyboard) ---
    #

    # --- author's voice and length (voice) ---
    #

    # --- renderer: house style, encoder, music, captions (render) ---
    render_preset: Literal["ultrafast", "superfast", "veryfast", "faster", "fast", "medium"] = Field(
        default="veryfast", description="x264 preset for the final video (draft: ultrafast).")
    render_crf: int = Field(default=23, ge=10, le=40, description="x264 quality (lower: better, larger).")
    render_draft: bool = Field(default=False, description="Half resolution and the fastest preset, for previews.")
    music_dir: Path | None = Field(default=None, description="Folder of background music (front matter `music` "
                                                             "names a file in it; `none` turns music off).")
    music_gain_db: float = Field(default=-20.0, ge=-40, le=0, description="Music level before ducking, in dB.")
    title_seconds: float = Field(default=1.8, ge=0, le=6, description="Title card length; 0: no title card.")
    crossfade_ms: int = Field(default=320, ge=0, le=2000, description="Crossfade between scenes; 0: hard cuts.")
    burn_captions: bool = Field(default=True, description="Burn word-timed captions into the video.")
    #

    # --- workers, leases, retries, storage (server) ---
    #

    # --- API hardening: binding, rate limits, paging (api) ---
    #

    @field_validator("aspect")
    @classmethod
    def _known_aspect(cls, value: str) -> str:
        if value not in ASPECTS:
            raise ValueError(f"must be one of {', '.join(ASPECTS)}")
        return value

    @field_validator("theme")
    @classmethod
    def _known_theme(cls, value: str) -> str:
        if value not in THEMES:
            raise ValueError(f"must be one of {', '.join(THEMES)}")
        return value

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: str | None) -> str | None:
        if value and not value.startswith(("sqlite:", "postgresql:", "postgresql+psycopg:", "postgresql+psycopg2:")):
            raise ValueError("must be a sqlite:/// or postgresql:// URL")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str | None) -> str | None:
        if value and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must be a redis://host:port/db URL")
        return value

    @field_validator("music_dir")
    @classmethod
    def _music_folder(cls, value: Path | None) -> Path | None:
        if value is not None and not value.expanduser().is_dir():
            raise ValueError("must be an existing folder of audio files")
        return value.expanduser().resolve() if value is not None else None

    @field_validator("piper_voice")
    @classmethod
    def _voice_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not (value.is_file() and value.suffix == ".onnx"):
            raise ValueError(f"must be an existing piper .onnx voice file (got {value})")
        return value

    @model_validator(mode="after")
    def _absolute_home(self) -> "Settings":
        self.home = self.home.expanduser().resolve()
        return self

    # Derived locations -------------------------------------------------------------------

    @property
    def inbox_dir(self) -> Path:
        return (self.inbox or self.home / "inbox").expanduser().resolve()

    @property
    def outbox_dir(self) -> Path:
        return (self.outbox or self.home / "outbox").expanduser().resolve()

    @property
    def var_dir(self) -> Path:
        return (self.data_dir or self.home / "var").expanduser().resolve()

    @property
    def token_file(self) -> Path:
        return self.var_dir / "api-token"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.var_dir / 'mediabuddy.db'}"

    @property
    def effective_server_url(self) -> str:
        return (self.server_url or f"http://{self.host}:{self.port}").rstrip("/")

    @cached_property
    def video_size(self) -> tuple[int, int]:
        return video_size(self.aspect, self.short_side)

    def ensure_dirs(self) -> None:
        """Create inbox/, outbox/ and var/ if they are missing."""
        for folder in (self.inbox_dir, self.outbox_dir, self.var_dir):
            folder.mkdir(parents=True, exist_ok=True)


def video_size(aspect: str, short_side: int) -> tuple[int, int]:
    """Width and height (both even, as H.264 needs) for an aspect such as ``9:16``."""
    w, h = ASPECTS[aspect]
    if w <= h:
        width, height = short_side, short_side * h / w
    else:
        width, height = short_side * w / h, short_side
    return int(width) // 2 * 2, int(height) // 2 * 2


_ENV_NAMES = {
    "database_url": "DATABASE_URL",
    "gemini_api_key": "GEMINI_API_KEY",
    "replicate_api_token": "REPLICATE_API_TOKEN",
}


def _describe(error: ValidationError) -> str:
    lines = []
    for problem in error.errors():
        field = str(problem["loc"][0]) if problem["loc"] else "settings"
        name = _ENV_NAMES.get(field, f"MEDIABUDDY_{field.upper()}")
        message = problem["msg"].removeprefix("Value error, ")
        shown = "" if "key" in field or "token" in field else f" (got {problem.get('input')!r})"
        lines.append(f"{name}: {message}{shown}")
    return "invalid settings:\n  " + "\n  ".join(lines)


def load_settings(**overrides: object) -> Settings:
    """Read and validate the settings; raise SettingsError naming each bad variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        raise SettingsError(_describe(error)) from None

