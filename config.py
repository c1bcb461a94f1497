"""Media Buddy settings: the one place that reads the environment.

Settings come from the environment (``MEDIABUDDY_*``, ``DATABASE_URL``, the vendor keys)
and from a ``.env`` file in the current folder. They are validated once, at start; a bad
value is reported with the variable's name and what would be valid.
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import (AliasChoices, BaseModel, ConfigDict, Field, PrivateAttr, SecretStr, ValidationError,
                      field_validator, model_validator)
from pydantic_settings import BaseSettings, SettingsConfigDict

ASPECTS: dict[str, tuple[int, int]] = {"9:16": (9, 16), "16:9": (16, 9), "1:1": (1, 1), "4:5": (4, 5)}
THEMES = ("midnight", "paper", "forest", "sunset", "ocean")
# Shut down on 2026-12-01 (calls are rerouted): never a default, refused as a setting.
RETIRED_GEMINI_MODELS = ("gemini-2.5-flash", "gemini-2.5-pro", "gemini-2.5-flash-preview-tts",
                         "gemini-2.5-pro-preview-tts")
GEMINI_VOICES = ("Zephyr", "Puck", "Charon", "Kore", "Fenrir", "Leda", "Orus", "Aoede", "Callirrhoe", "Autonoe",
                 "Enceladus", "Iapetus", "Umbriel", "Algieba", "Despina", "Erinome", "Algenib", "Rasalgethi",
                 "Laomedeia", "Achernar", "Alnilam", "Schedar", "Gacrux", "Pulcherrima", "Achird",
                 "Zubenelgenubi", "Vindemiatrix", "Sadachbia", "Sadaltager", "Sulafat")


class ModelPrice(BaseModel):
    """What a model costs, in USD: per million tokens, per million audio tokens out, or per image."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    input: float = Field(default=0.0, ge=0)
    output: float = Field(default=0.0, ge=0)
    audio_output: float = Field(default=0.0, ge=0)
    image: float = Field(default=0.0, ge=0)


# From EXTERNAL-APIS.md (late 2026); override any of them with MEDIABUDDY_PRICES.
DEFAULT_PRICES: dict[str, ModelPrice] = {
    "gemini-3.5-flash-lite": ModelPrice(input=0.30, output=2.50),
    "gemini-3.8-flash": ModelPrice(input=0.75, output=3.75),
    "gemini-3.8-flash-tts": ModelPrice(input=0.50, audio_output=9.00),
    "gemini-3.8-flash-lite-tts": ModelPrice(input=0.50, audio_output=6.00),
    "black-forest-labs/flux-schnell": ModelPrice(image=0.003),
    "black-forest-labs/flux-dev": ModelPrice(image=0.025),
    "black-forest-labs/flux-1.1-pro": ModelPrice(image=0.04),
    "black-forest-labs/flux-kontext-pro": ModelPrice(image=0.04),
}


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
    voice_providers: str = Field(default="gemini,local", description="Voice providers to try, in order.")
    timeline_providers: str = Field(default="gemini,local", description="Timeline providers to try, in order.")
    image_providers: str = Field(
        default="replicate,local", validation_alias=AliasChoices("MEDIABUDDY_IMAGE_PROVIDERS",
                                                                 "MEDIABUDDY_IMAGES_PROVIDERS"),
        description="Image providers to try, in order.")
    narration_providers: str = Field(default="piper,kokoro,gemini,espeak", description="Narration providers to try, in order.")
    strict_providers: bool = Field(default=False, description="Fail a job instead of falling back to the next "
                                                              "provider when a configured one fails.")
    max_cost_per_job: float = Field(default=1.00, ge=0, le=10_000, description="USD a job may spend on paid calls.")
    prices: dict[str, ModelPrice] = Field(default_factory=dict, description="Per-model prices (USD) merged over "
                                          "the defaults, as JSON: {\"model\": {\"input\": 0.3, \"output\": 2.5}}.")
    provider_retry_attempts: int = Field(default=4, ge=1, le=20, description="Tries per remote call.")
    provider_retry_seconds: float = Field(default=60.0, ge=0, le=3600,
                                          description="Most seconds one remote call may spend waiting to retry.")
    provider_retry_initial_seconds: float = Field(default=0.5, ge=0, le=60, description="First backoff wait.")
    provider_retry_max_wait_seconds: float = Field(default=20.0, ge=0, le=600, description="Longest backoff wait.")
    provider_breaker_failures: int = Field(default=5, ge=1, le=1000,
                                           description="Transient failures in a row that open a provider's breaker.")
    provider_breaker_reset_seconds: float = Field(default=60.0, ge=0.01, le=86400,
                                                  description="How long an open breaker refuses calls.")

    @property
    def model_prices(self) -> dict[str, "ModelPrice"]:
        """The default prices with ``MEDIABUDDY_PRICES`` merged over them."""
        return {**DEFAULT_PRICES, **self.prices}

    def providers_for(self, kind: str) -> list[str]:
        """The provider names for ``voice``, ``timeline``, ``images`` or ``narration``, in order."""
        if kind == "narration" and self.tts_engine != "auto":  # the older, narrower setting still wins
            return [self.tts_engine]
        raw = {"voice": self.voice_providers, "timeline": self.timeline_providers,
               "images": self.image_providers, "narration": self.narration_providers}[kind]
        return [name.strip() for name in raw.split(",") if name.strip()]


    # --- gemini: base URL, models, timeouts (gemini) ---
    #
    gemini_base_url: str = Field(default="https://generativelanguage.googleapis.com",
                                 description="Gemini API root (a local fake in tests).")
    gemini_api_version: Literal["v1beta", "v1"] = Field(
        default="v1beta", description="Gemini API version; v1beta has structured output, thinking and speech.")
    gemini_model: str = Field(default="gemini-3.5-flash-lite", description="Gemini text model id.")
    gemini_tts_model: str = Field(default="gemini-3.8-flash-lite-tts", description="Gemini speech model id.")
    gemini_tts_voice: str = Field(default="Kore", description="One of Gemini's 30 prebuilt speech voices.")
    gemini_timeout_seconds: float = Field(default=60.0, ge=1, le=600,
                                          description="How long one Gemini request may take before it is abandoned.")
    gemini_max_output_tokens: int = Field(default=8192, ge=256, le=65536,
                                          description="Output tokens (thinking included) one text call may use.")
    gemini_thinking_budget: int = Field(default=1024, ge=0, le=32768,
                                        description="Thinking tokens per text call; 0 turns thinking off.")

    @field_validator("gemini_base_url")
    @classmethod
    def _gemini_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")

    @field_validator("gemini_model", "gemini_tts_model")
    @classmethod
    def _current_gemini_model(cls, value: str) -> str:
        model = value.strip().removeprefix("models/")
        if not model or any(c in model for c in "/?# "):
            raise ValueError("must be a Gemini model id such as gemini-3.5-flash-lite")
        if model in RETIRED_GEMINI_MODELS or model.startswith(("gemini-1.0", "gemini-1.5", "gemini-2.0")):
            raise ValueError(f"{model} is retired; use a current model such as gemini-3.5-flash-lite "
                             "or gemini-3.8-flash (speech: gemini-3.8-flash-lite-tts)")
        return model

    @field_validator("gemini_tts_voice")
    @classmethod
    def _known_gemini_voice(cls, value: str) -> str:
        voice = value.strip().capitalize()
        if voice not in GEMINI_VOICES:
            raise ValueError(f"must be one of Gemini's prebuilt voices: {', '.join(GEMINI_VOICES)}")
        return voice

    @field_validator("gemini_thinking_budget")
    @classmethod
    def _thinking_leaves_room(cls, value: int, info) -> int:  # noqa: ANN001 - pydantic's ValidationInfo
        most = info.data.get("gemini_max_output_tokens", 8192) // 2
        if value > most:
            raise ValueError(f"must be at most half of MEDIABUDDY_GEMINI_MAX_OUTPUT_TOKENS ({most}), or thinking "
                             "can use the whole output budget and leave no answer")
        return value


    # --- replicate: base URL, FLUX model and inputs (replicate) ---
    replicate_base_url: str = Field(default="https://api.replicate.com",
                                    description="Replicate API root (point it at a fake in tests).")
    flux_model: str = Field(default="black-forest-labs/flux-schnell",
                            description="FLUX model on Replicate, owner/name.")
    flux_steps: int = Field(default=4, ge=1, le=50, description="num_inference_steps (schnell allows 1-4).")
    flux_output_format: Literal["png", "jpg", "webp"] = Field(default="jpg", description="Format FLUX returns.")
    flux_output_quality: int = Field(default=90, ge=0, le=100, description="Quality of jpg/webp outputs.")
    flux_megapixels: Literal["1", "0.25"] = Field(default="1", description="Output size: about 1 or 0.25 megapixels.")
    flux_go_fast: bool = Field(default=True, description="FLUX fp8 fast path (schnell and dev).")
    replicate_connect_timeout: float = Field(default=5.0, gt=0, le=120, description="Seconds to connect to Replicate.")
    replicate_read_timeout: float = Field(default=30.0, gt=0, le=600, description="Seconds to wait for one answer.")
    replicate_prefer_wait: int = Field(default=5, ge=1, le=60,
                                       description="Seconds the create call may hold for the result; its timeout "
                                                   "is this plus 0.5 s.")
    replicate_poll_seconds: float = Field(default=0.5, ge=0.01, le=30, description="Pause between status checks.")
    replicate_deadline_seconds: float = Field(default=180.0, ge=1, le=3600,
                                              description="Longest wait for one prediction; then it is canceled.")
    replicate_download_timeout: float = Field(default=30.0, gt=0, le=600, description="Seconds to fetch one output.")

    @field_validator("replicate_base_url")
    @classmethod
    def _replicate_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")) or len(value) < 10:
            raise ValueError("must be an http(s):// URL such as https://api.replicate.com")
        return value.rstrip("/")

    @field_validator("flux_model")
    @classmethod
    def _flux_model_name(cls, value: str) -> str:
        owner, _, name = value.partition("/")
        if not owner or not name or "/" in name or ":" in value or " " in value:
            raise ValueError("must be a Replicate model as owner/name, e.g. black-forest-labs/flux-schnell")
        return value

    # --- extraction and language (extract) ---
    language: str | None = Field(
        default=None, description="Narration language when the article's front matter names none "
                                  "(BCP 47, e.g. en, fr, ja); unset: detected from the text.")
    #

    # --- storyboard: timeline and offline pictures (storyboard) ---
    #

    # --- author's voice and length (voice) ---
    #
    voice_samples: Path | None = Field(
        default=None, description="The author's writing samples (a .txt/.md file or a folder of them; 70 KB+ "
                                  "recommended) whose style the narration is rewritten in.")
    max_minutes: float = Field(default=5.0, ge=0.5, le=120,
                               description="Longest narration a job may plan; longer articles are condensed "
                                           "(Gemini), trimmed (TRIM_TO_LENGTH) or refused before heavy work.")
    trim_to_length: bool = Field(default=False,
                                 description="Offline, cut an over-long article at a section boundary (marked "
                                             "degraded) instead of refusing it.")
    kokoro_voice: Literal["jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo"] = Field(
        default="jf_alpha", description="Kokoro voice for Japanese narration.")
    kokoro_speed: float = Field(default=1.0, ge=0.5, le=2.0, description="Kokoro speaking speed.")

    # --- renderer: house style, encoder, music, captions (render) ---
    render_preset: Literal["ultrafast", "superfast", "veryfast", "faster", "fast", "medium"] = Field(
        default="veryfast", description="x264 preset for the final video (draft: ultrafast); the default is "
                                        "the knee of bench/encoder_presets.py's speed/size/SSIM table.")
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
    lease_seconds: float = Field(default=60.0, ge=2, le=3600,
                                 description="How long a worker's claim on a job lasts without a heartbeat; "
                                             "a killed worker's job is resumed by another after this.")
    lease_sweep_seconds: float = Field(default=15.0, ge=0.5, le=3600,
                                       description="How often each worker looks for jobs whose lease expired "
                                                   "or whose retry is due.")
    retry_backoff_seconds: float = Field(default=10.0, ge=0, le=3600,
                                         description="Wait before a failed job's first retry; doubles each retry "
                                                     "(at most 1 hour).")
    cancel_poll_seconds: float = Field(default=1.0, ge=0.1, le=60,
                                       description="How often a running job's heartbeat looks for a cancel "
                                                   "request; a canceled render stops within about this long.")
    worker_nice: int = Field(default=10, ge=0, le=19,
                             description="How much a worker (and the ffmpeg and voices it runs) yields the CPU to "
                                         "everything else on the machine, as POSIX nice: renders are background "
                                         "work, the API and the inbox daemon stay quick. 0: no change. "
                                         "Ignored on Windows.")
    worker_name: str | None = Field(default=None, max_length=80, pattern=r"^[A-Za-z0-9._-]+$",
                                    description="This worker's name in job leases, before its pid "
                                                "(default: the host name). Letters, digits, '.', '_', '-'.")
    #

    # --- API hardening: binding, rate limits, paging (api) ---
    _home_given: bool = PrivateAttr(default=False)
    rate_limit_per_second: float = Field(default=50.0, ge=0, le=100_000,
                                         description="Requests per second each client (address) may make without the "
                                                     "API token (a scan, a flood, a misconfigured client); 0: no limit.")
    rate_limit_burst: int = Field(default=100, ge=1, le=1_000_000,
                                  description="Requests a client without the token may make at once before the limit applies.")
    token_rate_limit_per_second: float = Field(
        default=20_000.0, ge=0, le=1_000_000,
        description="Requests per second each client (address) may make with the API token: above what one server "
                    "answers (~6,000 status reads/s on 2 cores), so the owner's own tools and pollers are never "
                    "refused, but a runaway loop is; 0: no limit.")
    token_rate_limit_burst: int = Field(default=10_000, ge=1, le=10_000_000,
                                        description="Requests a client with the token may make at once.")
    page_size: int = Field(default=100, ge=1, le=1000, description="Items per page when a list is asked no ?limit=.")
    status_cache_ms: int = Field(
        default=1000, ge=0, le=60_000,
        description="How long a job's status answer is kept for pollers (server/api/status.py). This server's own "
                    "writes are seen at once; a worker's progress within this time. 0: every read goes to the database.")
    server_threads: int = Field(
        default_factory=lambda: default_server_threads(), ge=1, le=64,
        description="Waitress threads answering API requests (default: one per CPU core, 2 to 8). More threads "
                    "than cores only fight over the GIL: on 2 cores, 6 threads doubled the server CPU of a status "
                    "read (511 against 246-277 us) and halved reads/s (bench/api_load.py --threads).")
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

    @field_validator("language")
    @classmethod
    def _language_tag(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        tag = value.strip()
        parts = tag.replace("_", "-").split("-")
        if not (2 <= len(parts[0]) <= 3 and parts[0].isalpha() and all(p.isalnum() and 1 <= len(p) <= 8 for p in parts)):
            raise ValueError("must be a BCP 47 language tag such as en, fr, de, es or ja")
        return parts[0].lower()

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

    @field_validator("voice_samples")
    @classmethod
    def _samples_exist(cls, value: Path | None) -> Path | None:
        if value is not None and not value.expanduser().exists():
            raise ValueError(f"must be an existing file or folder of writing samples (got {value})")
        return value.expanduser().resolve() if value is not None else None

    @field_validator("piper_voice")
    @classmethod
    def _voice_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not (value.is_file() and value.suffix == ".onnx"):
            raise ValueError(f"must be an existing piper .onnx voice file (got {value})")
        return value

    @model_validator(mode="after")
    def _remote_bind_needs_a_token(self) -> "Settings":
        # Off loopback the API is reachable by others: refuse unless a strong token was set on
        # purpose (a generated one sits in a file anyone with the folder can read).
        if not is_loopback(self.host) and (self.api_token is None or len(self.api_token.get_secret_value()) < 24):
            raise ValueError(f"MEDIABUDDY_HOST={self.host} is not a loopback address: set MEDIABUDDY_API_TOKEN to "
                             "a secret of 24 characters or more to serve beyond this machine, or keep "
                             "MEDIABUDDY_HOST=127.0.0.1")
        return self

    @model_validator(mode="after")
    def _absolute_home(self) -> "Settings":
        self._home_given = "home" in self.model_fields_set  # before the assignment below marks it set
        self.home = self.home.expanduser().resolve()
        return self

    @property
    def home_given(self) -> bool:
        """True when MEDIABUDDY_HOME (or a ``home=`` override) was set, not defaulted to the cwd."""
        return self._home_given

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


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    import ipaddress

    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name or 0.0.0.0-like wildcard: assume others can reach it


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
        if not problem["loc"]:  # a check across several settings: its message names them; never echo the input
            lines.append(problem["msg"].removeprefix("Value error, "))
            continue
        field = str(problem["loc"][0])
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



def default_server_threads() -> int:
    """One waitress thread per CPU core, at least 2 (a slow upload never holds up every read) and at most 8."""
    return max(2, min(8, os.cpu_count() or 2))
