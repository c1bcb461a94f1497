"""Chooses the provider for each call: the configured order, falling back down the list.

Per kind (``voice``, ``timeline``, ``images``, ``narration``) the settings give an ordered
list of names (``MEDIABUDDY_IMAGE_PROVIDERS=replicate,local``). The name ``x`` is the module
``server/providers/<kind>/x.py``, which exports ``PROVIDER``: a class following
``server.providers.base.Provider`` and its kind's protocol. Adding a provider is that one
module plus its settings; nothing here or in the stages names a concrete provider.

For every call (one scene's image, one scene's speech, a job's timeline) the chain tries
the providers in order, each through THE result cache:

- not configured (``NotConfigured``: no key) — skipped silently; offline is the default;
- declines for another reason, fails (a ``ProviderError`` after the client's retries), or
  has its breaker open — skipped for the next one, and the job is marked degraded with a
  note saying which provider, why, what was used instead and which setting to fix; with
  ``MEDIABUDDY_STRICT_PROVIDERS=true`` the stage fails instead. A provider that failed
  permanently (a bad key) is not asked again in the same stage;
- narration providers that do not speak the job's language are passed over (never an
  English voice reading Japanese); if none speaks it the stage fails, not retryable;
- ``BudgetExceeded`` is not a reason to fall back: it stops the job.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import pkgutil
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from pydantic import TypeAdapter

from config import Settings
from server.errors import BudgetExceeded, NotConfigured, ProviderError, ProviderUnavailable, StageError
from server.pipeline.cache import ResultCache, provider_key
from server.pipeline.ledger import Ledger, records_from_json
from server.providers.resilience import CircuitOpen
from server.providers.types import ImageResult, NarrationClip, Timeline, VoiceResult

log = logging.getLogger("mediabuddy.providers")

KINDS = ("voice", "timeline", "images", "narration")
SETTING = {"voice": "MEDIABUDDY_VOICE_PROVIDERS", "timeline": "MEDIABUDDY_TIMELINE_PROVIDERS",
           "images": "MEDIABUDDY_IMAGE_PROVIDERS", "narration": "MEDIABUDDY_NARRATION_PROVIDERS"}
_FIELD = {"voice": "voice_providers", "timeline": "timeline_providers", "images": "image_providers",
          "narration": "narration_providers"}
RESULT_TYPE: dict[str, type] = {"voice": VoiceResult, "timeline": Timeline, "images": ImageResult,
                                "narration": NarrationClip}
FILE_SUFFIX = {"images": ".png", "narration": ".wav"}  # kinds whose results are files
_NOT_PROVIDERS = {"base", "contract"}
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")

T = TypeVar("T")


class ProviderSettingsError(StageError):
    """A provider list names something that is not a provider; retrying cannot help."""

    def __init__(self, kind: str, message: str):
        super().__init__(kind, message, hint=f"fix {SETTING[kind]} (available: {', '.join(available(kind)) or 'none'})",
                         retryable=False)
        self.kind = kind


def available(kind: str) -> list[str]:
    """Names of the provider modules installed for ``kind``."""
    package = importlib.import_module(f"server.providers.{kind}")
    names = []
    for module in pkgutil.iter_modules(package.__path__):
        if module.name.startswith("_") or module.name in _NOT_PROVIDERS:
            continue
        try:
            loaded = importlib.import_module(f"server.providers.{kind}.{module.name}")
        except Exception:  # noqa: BLE001 - a broken module is simply not offered
            continue
        if hasattr(loaded, "PROVIDER"):
            names.append(module.name)
    return sorted(names)


def provider_classes(kind: str, settings: Settings) -> list[type]:
    """The ``PROVIDER`` classes named for ``kind``, in order. A missing module in the default
    list is skipped (its helper may not have landed); one the user named is an error."""
    if kind not in KINDS:
        raise ValueError(f"unknown provider kind {kind!r}")
    explicit = _FIELD[kind] in settings.model_fields_set or (kind == "narration" and settings.tts_engine != "auto")
    classes = []
    for name in settings.providers_for(kind):
        if not _NAME.match(name):
            raise ProviderSettingsError(kind, f"{name!r} is not a provider name")
        module_name = f"server.providers.{kind}.{name}"
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name != module_name:
                raise
            if not explicit:
                log.debug("%s provider %r is in the default list but not installed; skipped", kind, name)
                continue
            raise ProviderSettingsError(kind, f"there is no {kind} provider called {name!r}") from None
        provider = getattr(module, "PROVIDER", None)
        if provider is None or getattr(provider, "name", None) != name or getattr(provider, "kind", None) != kind:
            raise ProviderSettingsError(kind, f"{module_name} does not export a {kind} PROVIDER named {name!r}")
        classes.append(provider)
    return classes


def check_settings(settings: Settings) -> list[str]:
    """Problems with the provider lists, as sentences (for ``doctor`` and start-up)."""
    problems = []
    for kind in KINDS:
        try:
            provider_classes(kind, settings)
        except ProviderSettingsError as error:
            problems.append(f"{error.message}; {error.hint}")
    return problems


@dataclass(frozen=True)
class Made(Generic[T]):
    """One call's result and who made it."""

    value: T
    provider: str
    cached: bool


@dataclass
class _Candidate:
    name: str
    provider: Any = None
    declined: str = ""       # why it cannot be used in this stage ("" when usable)
    hint: str = ""


@dataclass
class _Problem:
    reason: str
    hint: str
    count: int = 0


@dataclass
class ProviderChain:
    """The providers of one kind for one stage of one job, with the ledger and the cache."""

    kind: str
    settings: Settings
    ledger: Ledger
    cache: ResultCache
    language: str | None = None
    candidates: list[_Candidate] = field(default_factory=list)
    calls: int = 0
    used: dict[str, int] = field(default_factory=dict)
    problems: dict[tuple[str, str], _Problem] = field(default_factory=dict)
    info: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)  # stages call make() from threads

    def __post_init__(self) -> None:
        for cls in provider_classes(self.kind, self.settings):
            try:
                candidate = _Candidate(cls.name, cls(self.settings))
            except NotConfigured as error:
                log.debug("%s provider %s is not configured (%s); skipped", self.kind, cls.name, error.reason)
                continue
            except ProviderUnavailable as error:
                candidate = _Candidate(cls.name, declined=f"declined: {error.reason}", hint=_fix(self.kind, cls.name))
            except Exception as error:  # noqa: BLE001 - a provider that cannot start must not stop the job
                log.exception("%s provider %s could not start", self.kind, cls.name)
                candidate = _Candidate(cls.name, declined=f"could not start ({type(error).__name__}: {error})",
                                       hint=_fix(self.kind, cls.name))
            if self.kind == "narration" and candidate.provider is not None and self.language:
                if not candidate.provider.speaks(self.language):
                    self.info.append(f"narration: {cls.name} has no voice for language {self.language!r}; skipped")
                    continue
            self.candidates.append(candidate)
        if not self.candidates:
            tried = ", ".join(self.settings.providers_for(self.kind)) or "none"
            if self.kind == "narration" and self.language:
                raise StageError(self.kind, f"no narration provider speaks language {self.language!r} "
                                 f"(tried {tried})", retryable=False,
                                 hint=f"add a narrator for {self.language!r} to {SETTING[self.kind]}, or set the "
                                      "article's language in its front matter if it was detected wrongly")
            raise StageError(self.kind, f"no {self.kind} provider is configured (tried {tried})", retryable=False,
                             hint=f"add a usable provider (e.g. local) to {SETTING[self.kind]}")

    # Calls -------------------------------------------------------------------------------

    def make(self, request: object, *, starting_with: str | None = None) -> Made[Any]:
        """Ask each provider in turn for ``request``'s result, through the cache.

        ``starting_with`` skips the providers before that one (a stage that must use one
        provider throughout, like narration, re-asks with the fallback it ended up on)."""
        candidates = self.candidates
        if starting_with is not None:
            names = [c.name for c in candidates]
            candidates = candidates[names.index(starting_with):]
        else:
            with self._lock:
                self.calls += 1
        failures: list[str] = []
        retryable = False
        for candidate in candidates:
            if candidate.declined:
                self._refuse_if_strict(candidate.name, candidate.declined, candidate.hint, retryable=False)
                self._note(candidate.name, candidate.declined, candidate.hint)
                failures.append(f"{candidate.name} {candidate.declined}")
                continue
            try:
                made = self._made_by(candidate, request)
            except BudgetExceeded:
                raise
            except NotConfigured as error:
                log.debug("%s provider %s is not configured (%s)", self.kind, candidate.name, error.reason)
                continue
            except ProviderUnavailable as error:
                reason, hint, transient = f"declined: {error.reason}", _fix(self.kind, candidate.name), False
            except CircuitOpen as error:
                reason, hint, transient = f"was not asked: {error.message}", _fix(self.kind, candidate.name), True
            except ProviderError as error:
                tries = f" after {error.attempts} attempts" if error.attempts > 1 else ""
                reason, transient = f"failed{tries}: {error.message}", not error.permanent
                hint = f"check {error.setting}" if error.setting else _fix(self.kind, candidate.name)
                if error.permanent:  # a bad key or model will not get better during this stage
                    candidate.declined, candidate.hint = reason, hint
            except (StageError, KeyboardInterrupt):
                raise
            except Exception as error:  # noqa: BLE001 - a provider's bug or an untranslated vendor error
                log.exception("%s provider %s failed unexpectedly", self.kind, candidate.name)
                reason, transient = f"failed unexpectedly ({type(error).__name__}: {error})", True
                hint = f"report it; meanwhile remove {candidate.name} from {SETTING[self.kind]}"
            else:
                with self._lock:
                    self.used[made.provider] = self.used.get(made.provider, 0) + 1
                return made
            log.warning("%s: %s %s", self.kind, candidate.name, reason)
            self._refuse_if_strict(candidate.name, reason, hint, retryable=transient)
            self._note(candidate.name, reason, hint)
            failures.append(f"{candidate.name} {reason}")
            retryable = retryable or transient
        raise StageError(self.kind, f"no {self.kind} provider could make it: {'; '.join(failures) or 'none usable'}",
                         hint=f"see the reasons above; fix them or add a fallback (e.g. local) to {SETTING[self.kind]}",
                         retryable=retryable)

    def _made_by(self, candidate: _Candidate, request: object) -> Made[Any]:
        provider = candidate.provider
        extra = provider.cache_parts(request) if hasattr(provider, "cache_parts") else ()
        key = provider_key(self.kind, provider, request, extra)
        adapter: TypeAdapter[Any] = TypeAdapter(RESULT_TYPE[self.kind])
        meter = self.ledger.scope()

        if self.kind in FILE_SUFFIX:
            suffix = getattr(provider, "file_suffix", FILE_SUFFIX[self.kind])

            def produce(out: Path) -> dict[str, object]:
                result = self._invoke(provider, request, meter, out)
                return {"result": adapter.dump_python(result, mode="json"), "paid_calls": meter.as_json()}

            path, meta, hit = self.cache.file(self.kind, key, suffix, produce)
            value = dataclasses.replace(adapter.validate_python(meta["result"]), path=path)
        elif provider.paid:
            def produce_json() -> dict[str, object]:
                result = self._invoke(provider, request, meter, None)
                return {"result": adapter.dump_python(result, mode="json"), "paid_calls": meter.as_json()}

            meta, hit = self.cache.json(self.kind, key, produce_json)
            value = adapter.validate_python(meta["result"])
        else:  # free and quick: not worth a cache entry that a code change could leave stale
            return Made(self._invoke(provider, request, meter, None), candidate.name, False)
        if hit and provider.paid:
            for record in records_from_json(meta.get("paid_calls")):
                self.ledger.saved(record)
        return Made(value, candidate.name, hit)

    def _invoke(self, provider: Any, request: object, meter: object, out: Path | None) -> object:
        if self.kind == "voice":
            return provider.rewrite(request, meter)
        if self.kind == "timeline":
            return provider.plan(request, meter)
        if self.kind == "images":
            return provider.draw(request, out, meter)
        return provider.narrate(request, out, meter)

    def position(self, name: str) -> int:
        """Where ``name`` stands in the configured order."""
        return [c.name for c in self.candidates].index(name)

    # What the job is told ----------------------------------------------------------------

    @property
    def degraded(self) -> bool:
        return any(problem.count for problem in self.problems.values())

    def notes(self) -> list[str]:
        """One sentence per provider problem: who, why, for how many calls, what was used, what to fix."""
        notes = list(self.info)
        for (name, _category), problem in self.problems.items():
            others = {other: count for other, count in self.used.items() if other != name}
            instead = ", ".join(f"{other} ({count})" if len(others) > 1 else other for other, count in others.items())
            share = "" if self.calls == 1 else f" for {problem.count} of {self.calls} calls"
            notes.append(f"{self.kind}: {name} {problem.reason}{share}; used {instead or 'nothing'} instead. "
                         f"To fix: {problem.hint}.")
        return notes

    def _note(self, name: str, reason: str, hint: str) -> None:
        category = reason.split(":", 1)[0].split(" after ")[0]  # "failed", "declined", "was not asked"
        with self._lock:
            problem = self.problems.setdefault((name, category), _Problem(reason, hint))
            problem.count += 1

    def _refuse_if_strict(self, name: str, reason: str, hint: str, *, retryable: bool) -> None:
        if self.settings.strict_providers:
            raise StageError(self.kind, f"{name} {reason} (MEDIABUDDY_STRICT_PROVIDERS is on, so no fallback)",
                             hint=hint, retryable=retryable)


def _fix(kind: str, name: str) -> str:
    return f"run `mediabuddy doctor` to check {name}'s settings, or remove {name} from {SETTING[kind]}"
