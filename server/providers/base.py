"""What every provider is, whatever its kind, and what it is handed to make calls.

A provider is a class in ``server/providers/<kind>/<name>.py`` exported as ``PROVIDER``;
``MEDIABUDDY_<KIND>_PROVIDERS`` lists the names in the order to try. Constructing one with
the settings either succeeds or raises ``ProviderUnavailable`` (declines: no key, package
missing, language not spoken). Its ``name`` and ``version`` and its ``fingerprint()`` (the
model id and every setting that changes its output) are part of every cache key, so
bumping ``version`` is how a provider says "my old outputs are no longer what I would make".

Paid work goes through the ``Meter`` it is handed: ``meter.call(...)`` checks the job's
budget before the call and writes one ledger row after it, whatever the outcome. Open one
``meter.call`` per request the vendor may charge for, inside the function you hand to
``server.providers.resilience`` (so every retry is its own row, as the vendor counts it).

A provider that has no key raises ``NotConfigured`` (information: offline is the default);
any other ``ProviderUnavailable`` or ``ProviderError`` makes the registry fall back to the
next provider and mark the job degraded. Optional hooks the registry honours:
``file_suffix`` (class attribute, e.g. ``".jpg"``) and ``cache_parts(request)`` (extra
values the output depends on beyond the request minus scene indexes).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import ClassVar, Protocol

from config import Settings
from server.providers.types import Usage


class PaidCall(Protocol):
    """The ledger row of one call in progress; the provider fills in what it learned."""

    usage: Usage
    cost: float | None   # set when the vendor reports an exact price; else computed from usage
    detail: str          # e.g. a prediction id, so a retry can look for it before paying again


class Meter(Protocol):
    """Budget checks and the cost ledger, for one job and one stage."""

    def call(self, provider: str, model: str, *, estimate: float) -> AbstractContextManager[PaidCall]:
        """Open a paid call: raises ``BudgetExceeded`` before it if ``estimate`` would pass the
        job's limit; on exit records usage, cost, outcome and duration in the ledger."""

    def price(self, model: str, usage: Usage) -> float:
        """USD that ``usage`` of ``model`` costs at the configured prices (``MEDIABUDDY_PRICES``),
        for the ``estimate``; a model with no known price raises a permanent ``ProviderError``."""


class Provider(Protocol):
    """Common to every kind: identity for the cache and the ledger, and a way to decline."""

    kind: ClassVar[str]      # voice | timeline | images | narration
    name: ClassVar[str]      # as written in MEDIABUDDY_<KIND>_PROVIDERS
    version: ClassVar[str]   # bump when the same inputs would give a different output
    paid: ClassVar[bool]     # True: calls cost money and go through the Meter

    def __init__(self, settings: Settings) -> None:
        """Raise ``ProviderUnavailable`` when not configured or not installed."""

    def fingerprint(self) -> str:
        """Model id and output-changing settings, for the cache key (never a secret)."""
