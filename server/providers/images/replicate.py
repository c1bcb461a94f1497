"""Scene pictures drawn by FLUX on Replicate (``MEDIABUDDY_FLUX_MODEL``, schnell by default).

One prediction per scene, paid through the job's ``Meter``: the budget is checked before
each create, and its ledger row carries the prediction id and the seed. The seed is derived
from the request, so the same scene always asks for the same picture, and a retry after a
lost answer finds the prediction already bought (see ``clients/replicate.py``). The output
is verified (decodes, the aspect and size asked for) and fitted to the video's frame.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, ClassVar

from PIL import Image, ImageOps

from config import Settings
from server.errors import ProviderUnavailable
from server.providers.base import Meter
from server.providers.clients.replicate import Outcome, OutputUnavailable, ReplicateClient
from server.providers.images import prompts
from server.providers.images.prompts import flux_prompt
from server.providers.types import ImageRequest, ImageResult

# Video aspects to FLUX's aspect_ratio values (every video aspect is one FLUX knows today).
FLUX_ASPECTS = ("1:1", "16:9", "21:9", "3:2", "2:3", "4:5", "5:4", "3:4", "4:3", "9:16", "9:21")
# Inputs only the FLUX.1 [schnell]/[dev] family takes; the pro models reject nothing but ignore them.
STEPPED_MODELS = ("black-forest-labs/flux-schnell", "black-forest-labs/flux-dev")
ASPECT_TOLERANCE = 0.04       # FLUX rounds sides to multiples of 16
PIXEL_RANGE = (0.6, 1.5)      # of the megapixels asked


def flux_aspect(aspect: str) -> str:
    """The FLUX aspect_ratio nearest to the video's (exact for 9:16, 16:9, 1:1 and 4:5)."""
    if aspect in FLUX_ASPECTS:
        return aspect
    w, h = (int(n) for n in aspect.split(":"))
    return min(FLUX_ASPECTS, key=lambda a: abs(int(a.split(":")[0]) / int(a.split(":")[1]) - w / h))


def seed_for(model: str, prompt: str, aspect_ratio: str) -> int:
    """A seed that depends only on what is asked, so a request always means the same picture."""
    digest = hashlib.sha256(f"{model}\n{aspect_ratio}\n{prompt}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


class ReplicateImages:
    """The ``images`` provider named ``replicate``; declines without REPLICATE_API_TOKEN."""

    kind: ClassVar[str] = "images"
    name: ClassVar[str] = "replicate"
    version: ClassVar[str] = "1"
    paid: ClassVar[bool] = True

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.model = settings.flux_model
        price = settings.model_prices.get(self.model)
        if price is None or not price.image:
            raise ProviderUnavailable(self.name, f"no price per image is known for {self.model}: add it to "
                                      "MEDIABUDDY_PRICES (e.g. {\"%s\": {\"image\": 0.003}})" % self.model)
        self.price = price.image
        self.client = ReplicateClient(settings)   # raises NotConfigured without a token

    def fingerprint(self) -> str:
        s = self.settings
        return (f"{self.model} steps={s.flux_steps} format={s.flux_output_format} quality={s.flux_output_quality} "
                f"megapixels={s.flux_megapixels} go_fast={s.flux_go_fast} prompts={prompts.VERSION}")

    def inputs(self, request: ImageRequest) -> dict[str, Any]:
        """The model input for a scene; deterministic, so equal requests are equal predictions."""
        s = self.settings
        aspect_ratio = flux_aspect(request.aspect)
        prompt = flux_prompt(request.scene, request.style.theme, aspect_ratio)
        payload: dict[str, Any] = {"prompt": prompt, "aspect_ratio": aspect_ratio,
                                   "seed": seed_for(self.model, prompt, aspect_ratio),
                                   "output_format": s.flux_output_format, "output_quality": s.flux_output_quality}
        if self.model in STEPPED_MODELS:
            payload.update(num_outputs=1, num_inference_steps=s.flux_steps, megapixels=s.flux_megapixels,
                           go_fast=s.flux_go_fast)
        return payload

    def draw(self, request: ImageRequest, out: Path, meter: Meter) -> ImageResult:
        payload = self.inputs(request)

        def buy() -> Outcome:
            return self.client.predict(self.model, payload, note=f"seed={payload['seed']}",
                                       paid_call=lambda: meter.call(self.name, self.model, estimate=self.price))

        def fetch(outcome: Outcome) -> Image.Image:
            return self.client.fetch_image(outcome, check=lambda got: self._verify(outcome.prediction.id, got, payload))

        outcome = buy()
        try:
            image = fetch(outcome)
        except OutputUnavailable:
            if outcome.paid:
                raise
            # An earlier call's prediction whose output has expired since: the journal has
            # forgotten it, so this buys the picture anew (once).
            outcome = buy()
            image = fetch(outcome)
        picture = ImageOps.fit(image.convert("RGB"), (request.style.width, request.style.height),
                               Image.Resampling.LANCZOS)
        if out.suffix.lower() in (".jpg", ".jpeg"):
            picture.save(out, format="JPEG", quality=92)
        else:
            picture.save(out, format="PNG", compress_level=3)
        return ImageResult(out, seed=payload["seed"],
                           meta={"prediction": outcome.prediction.id, "model": self.model, "prompt": payload["prompt"],
                                 "paid": outcome.paid, "source_size": list(image.size)})

    def _verify(self, prediction_id: str, image: Image.Image, payload: dict[str, Any]) -> None:
        """The picture is the shape asked for (and about the size, where the model takes megapixels)."""
        width, height = image.size
        w, h = (int(n) for n in payload["aspect_ratio"].split(":"))
        if abs((width / height) / (w / h) - 1) > ASPECT_TOLERANCE:
            raise OutputUnavailable(prediction_id, f"the image is {width}x{height}, not the {payload['aspect_ratio']} "
                                    "asked for")
        if "megapixels" in payload:
            asked = float(payload["megapixels"]) * 1_000_000
            if not PIXEL_RANGE[0] <= width * height / asked <= PIXEL_RANGE[1]:
                raise OutputUnavailable(prediction_id, f"the image is {width}x{height}, far from the "
                                        f"{payload['megapixels']} megapixels asked for")


PROVIDER = ReplicateImages
