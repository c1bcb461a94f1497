"""The Replicate client and the FLUX image provider: the real SDK against a fake Replicate on loopback."""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from PIL import Image

from config import SettingsError, load_settings
from server.errors import BudgetExceeded, NotConfigured, ProviderError
from server.providers import resilience
from server.providers.clients.replicate import (InputRejected, OutputUnavailable, PredictionFailed, ReplicateClient,
                                                check_credentials)
from server.providers.images.replicate import PROVIDER as ReplicateImages
from server.providers.types import ImageRequest, ImageStyle, SceneSpec, Usage
from tests.conftest import wait_for
from tests.fakes.replicate import FakeReplicate, fake_replicate  # noqa: F401 - the fixture

pytestmark = pytest.mark.clients

SCENE = SceneSpec(index=0, text="The keeper climbs the tower every night.", concept="lighthouse",
                  visual="A weathered lighthouse on a rocky headland above a grey sea.")
STYLE = ImageStyle(width=270, height=480, theme="midnight", title="Lights", scene_count=1)
REQUEST = ImageRequest(scene=SCENE, style=STYLE, aspect="9:16")


@dataclass
class LedgerRow:
    provider: str
    model: str
    estimate: float
    usage: Usage = field(default_factory=Usage)
    cost: float | None = None
    detail: str = ""
    outcome: str = "open"


class ListMeter:
    """A Meter (server/providers/base.py) that keeps its rows in a list and enforces a budget.

    Stands in for the core ledger (not on this branch yet): same protocol, same budget rule.
    """

    def __init__(self, limit: float = 1.0) -> None:
        self.limit = limit
        self.rows: list[LedgerRow] = []

    @property
    def spent(self) -> float:
        return sum(row.cost or 0.0 for row in self.rows)

    @contextmanager
    def call(self, provider: str, model: str, *, estimate: float):
        if self.spent + estimate > self.limit:
            raise BudgetExceeded(self.spent, estimate, self.limit)
        row = LedgerRow(provider, model, estimate)
        try:
            yield row
            row.outcome = "ok"
        except BaseException as error:
            row.outcome = type(error).__name__
            raise
        finally:
            self.rows.append(row)


@pytest.fixture(autouse=True)
def fresh_breakers():
    resilience.reset_breakers()
    yield
    resilience.reset_breakers()


def make_settings(tmp_path: Path, fake: FakeReplicate, **overrides):
    values = dict(home=tmp_path, replicate_api_token=fake.token, replicate_base_url=fake.url,
                  replicate_poll_seconds=0.02, replicate_read_timeout=5, replicate_deadline_seconds=10,
                  provider_retry_initial_seconds=0.05, provider_retry_max_wait_seconds=0.2, provider_retry_seconds=10)
    values.update(overrides)
    return load_settings(**values)


def draw(settings, meter=None, request=REQUEST, out: Path | None = None):
    out = out or settings.home / "scene.png"
    return ReplicateImages(settings).draw(request, out, meter if meter is not None else ListMeter())


def test_draws_a_scene_picture_at_the_video_size_and_records_seed_and_prediction(tmp_path, fake_replicate):
    meter = ListMeter()
    result = draw(make_settings(tmp_path, fake_replicate), meter)

    assert fake_replicate.creates == 1
    prediction = next(iter(fake_replicate.predictions.values()))
    sent = prediction.input
    assert sent["aspect_ratio"] == "9:16" and sent["num_inference_steps"] == 4 and sent["megapixels"] == "1"
    assert sent["prompt"].startswith("A weathered lighthouse") and "moonlight" in sent["prompt"]
    assert sent["seed"] == result.seed and isinstance(result.seed, int)
    with Image.open(result.path) as picture:
        assert picture.format == "PNG" and picture.size == (270, 480)
    assert result.meta["source_size"] == list(prediction.size) and result.meta["prediction"] == prediction.id
    [row] = meter.rows
    assert (row.provider, row.model, row.outcome) == ("replicate", "black-forest-labs/flux-schnell", "ok")
    assert row.cost == pytest.approx(0.003) and row.usage.images == 1
    assert row.detail == f"prediction={prediction.id} seed={result.seed}"


def test_the_same_scene_asks_for_the_same_seed_and_another_scene_for_another(tmp_path, fake_replicate):
    provider = ReplicateImages(make_settings(tmp_path, fake_replicate))
    other = ImageRequest(scene=SceneSpec(1, "x", "harbour", "A small harbour at dawn with fishing boats."),
                         style=STYLE, aspect="16:9")
    assert provider.inputs(REQUEST) == provider.inputs(REQUEST)
    assert provider.inputs(other)["seed"] != provider.inputs(REQUEST)["seed"]
    assert provider.inputs(other)["aspect_ratio"] == "16:9"


def test_polls_starting_processing_succeeded_when_the_create_does_not_wait(tmp_path, fake_replicate):
    fake_replicate.polls_to_finish = 3
    fake_replicate.wait_completes = False
    settings = make_settings(tmp_path, fake_replicate)
    client = ReplicateClient(settings)
    outcome = client.predict(settings.flux_model, ReplicateImages(settings).inputs(REQUEST))

    assert outcome.prediction.status == "succeeded" and outcome.paid
    assert fake_replicate.count("GET", "/v1/predictions/") == 3
    assert fake_replicate.creates == 1


def test_a_lost_create_answer_is_found_on_retry_and_paid_once(tmp_path, fake_replicate):
    fake_replicate.drop("POST", "/predictions")
    meter = ListMeter()
    result = draw(make_settings(tmp_path, fake_replicate), meter)

    assert fake_replicate.creates == 1, "the retry must find the prediction instead of buying another"
    assert fake_replicate.count("POST", "/predictions") == 1
    assert fake_replicate.count("GET", "/v1/predictions") >= 1   # the list that found it
    assert result.path.exists()
    assert [row.usage.images for row in meter.rows] == [1] and meter.spent == pytest.approx(0.003)


def test_a_create_that_timed_out_is_found_by_the_next_call_after_a_restart(tmp_path, fake_replicate):
    fake_replicate.slow("POST", "/predictions", 2.5)   # longer than Prefer: wait=1 plus the SDK's 0.5 s
    settings = make_settings(tmp_path, fake_replicate, replicate_prefer_wait=1, provider_retry_attempts=1)
    with pytest.raises(ProviderError, match="did not answer in time") as caught:
        draw(settings)
    assert not caught.value.permanent
    wait_for(lambda: fake_replicate.creates == 1, timeout=5)   # Replicate made it after all

    result = draw(make_settings(tmp_path, fake_replicate))     # a new process: a new client, the same journal
    assert fake_replicate.creates == 1
    assert result.meta["prediction"] == next(iter(fake_replicate.predictions))


def test_a_second_draw_of_a_bought_picture_reuses_the_prediction_at_no_cost(tmp_path, fake_replicate):
    settings = make_settings(tmp_path, fake_replicate)
    draw(settings)
    meter = ListMeter()
    result = draw(settings, meter, out=tmp_path / "again.png")   # e.g. the cache file was lost
    assert fake_replicate.creates == 1 and result.meta["paid"] is False
    [row] = meter.rows
    assert row.cost == 0.0 and row.usage.images == 0 and row.detail.endswith("reused")


def test_a_failed_prediction_is_an_error_with_its_logs_and_the_next_try_buys_anew(tmp_path, fake_replicate):
    fake_replicate.outcomes.append("failed")
    settings = make_settings(tmp_path, fake_replicate)
    meter = ListMeter()
    with pytest.raises(PredictionFailed) as caught:
        draw(settings, meter)
    error = caught.value
    assert error.state == "failed" and "CUDA out of memory" in error.error
    assert "OOM in denoise" in error.logs_tail and "loading weights 0" not in error.logs_tail
    assert meter.rows[0].outcome == "PredictionFailed" and meter.rows[0].usage.images == 1

    draw(settings)
    assert fake_replicate.creates == 2


def test_a_canceled_prediction_is_an_error(tmp_path, fake_replicate):
    fake_replicate.outcomes.append("canceled")
    with pytest.raises(PredictionFailed, match="canceled"):
        draw(make_settings(tmp_path, fake_replicate))


def test_a_prediction_past_its_deadline_is_canceled(tmp_path, fake_replicate):
    fake_replicate.polls_to_finish = 10_000
    fake_replicate.wait_completes = False
    settings = make_settings(tmp_path, fake_replicate, replicate_deadline_seconds=1)
    with pytest.raises(ProviderError, match="still processing after 1 s") as caught:
        draw(settings)
    assert caught.value.setting == "MEDIABUDDY_REPLICATE_DEADLINE_SECONDS"
    assert fake_replicate.cancels == 1


def test_a_bad_token_fails_at_once_naming_the_setting_and_never_showing_the_token(tmp_path, fake_replicate, caplog):
    caplog.set_level(logging.DEBUG)
    settings = make_settings(tmp_path, fake_replicate, replicate_api_token="r8_wrong_secret_token_42")
    with pytest.raises(ProviderError) as caught:
        draw(settings)
    error = caught.value
    assert error.status == 401 and error.permanent and error.setting == "REPLICATE_API_TOKEN"
    assert fake_replicate.count("POST", "/predictions") == 1, "a permanent error is not retried"
    assert "r8_wrong_secret_token_42" not in str(error) + caplog.text


def test_an_unknown_model_names_the_flux_model_setting(tmp_path, fake_replicate):
    settings = make_settings(tmp_path, fake_replicate, flux_model="black-forest-labs/flux-imaginary",
                             prices={"black-forest-labs/flux-imaginary": {"image": 0.01}})
    with pytest.raises(ProviderError) as caught:
        draw(settings)
    assert caught.value.status == 404 and caught.value.permanent
    assert caught.value.setting == "MEDIABUDDY_FLUX_MODEL" and "flux-imaginary" in caught.value.message


def test_rejected_input_lists_the_invalid_fields_and_the_setting_to_change(tmp_path, fake_replicate):
    with pytest.raises(InputRejected) as caught:
        draw(make_settings(tmp_path, fake_replicate, flux_steps=8))
    error = caught.value
    assert error.status == 422 and error.permanent and error.setting == "MEDIABUDDY_FLUX_STEPS"
    assert [f["field"] for f in error.invalid_fields] == ["input.num_inference_steps"]
    assert fake_replicate.creates == 0


def test_429_is_retried_after_the_time_the_server_asks(tmp_path, fake_replicate):
    fake_replicate.fail("POST", "/predictions", 429, retry_after="1")
    started = time.monotonic()
    draw(make_settings(tmp_path, fake_replicate))
    assert time.monotonic() - started >= 1.0
    assert fake_replicate.creates == 1 and fake_replicate.count("POST", "/predictions") == 2


def test_a_503_burst_on_create_is_retried_without_paying_twice(tmp_path, fake_replicate):
    fake_replicate.fail("POST", "/predictions", 503, count=2)
    draw(make_settings(tmp_path, fake_replicate))
    assert fake_replicate.creates == 1 and fake_replicate.count("POST", "/predictions") == 3


def test_a_503_burst_while_polling_is_ridden_out(tmp_path, fake_replicate):
    fake_replicate.fail("GET", "/v1/predictions/", 503, count=3)
    fake_replicate.wait_completes = False
    settings = make_settings(tmp_path, fake_replicate)
    assert draw(settings).path.exists()
    assert fake_replicate.creates == 1


def test_a_service_that_keeps_failing_gives_up_within_bounds(tmp_path, fake_replicate):
    fake_replicate.fail("POST", "/predictions", 500, count=100)
    started = time.monotonic()
    with pytest.raises(ProviderError) as caught:
        draw(make_settings(tmp_path, fake_replicate, provider_retry_attempts=3))
    assert caught.value.status == 500 and not caught.value.permanent
    assert fake_replicate.count("POST", "/predictions") == 3 and fake_replicate.creates == 0
    assert time.monotonic() - started < 5


def test_an_expired_output_url_is_a_clear_error_and_the_next_try_buys_a_new_picture(tmp_path, fake_replicate):
    fake_replicate.expire_all = True
    settings = make_settings(tmp_path, fake_replicate)
    with pytest.raises(OutputUnavailable, match="expired or deleted") as caught:
        draw(settings)
    assert caught.value.status == 404 and not caught.value.permanent
    fake_replicate.expire_all = False
    draw(settings)
    assert fake_replicate.creates == 2


def test_an_output_that_is_not_an_image_is_refused(tmp_path, fake_replicate):
    fake_replicate.corrupt_outputs = True
    with pytest.raises(OutputUnavailable, match="not an image"):
        draw(make_settings(tmp_path, fake_replicate))


def test_an_output_of_the_wrong_shape_is_refused(tmp_path, fake_replicate):
    fake_replicate.output_size_override = (1024, 1024)
    with pytest.raises(OutputUnavailable, match="not the 9:16"):
        draw(make_settings(tmp_path, fake_replicate))


def test_the_budget_is_checked_before_paying(tmp_path, fake_replicate):
    with pytest.raises(BudgetExceeded):
        draw(make_settings(tmp_path, fake_replicate), ListMeter(limit=0.001))
    assert fake_replicate.creates == 0 and fake_replicate.requests == []


def test_declines_without_a_token(tmp_path):
    with pytest.raises(NotConfigured, match="REPLICATE_API_TOKEN"):
        ReplicateImages(load_settings(home=tmp_path))


def test_check_credentials_reads_the_account_and_the_model(tmp_path, fake_replicate):
    assert "account tester" in check_credentials(make_settings(tmp_path, fake_replicate))
    with pytest.raises(ProviderError) as bad_token:
        check_credentials(make_settings(tmp_path, fake_replicate, replicate_api_token="r8_nope"))
    assert bad_token.value.setting == "REPLICATE_API_TOKEN" and "r8_nope" not in str(bad_token.value)
    with pytest.raises(ProviderError) as bad_model:
        check_credentials(make_settings(tmp_path, fake_replicate, flux_model="someone/nothing"))
    assert bad_model.value.setting == "MEDIABUDDY_FLUX_MODEL"
    assert fake_replicate.creates == 0


@pytest.mark.parametrize("name, value", [("flux_model", "flux-schnell"), ("replicate_base_url", "api.replicate.com"),
                                         ("flux_output_format", "gif"), ("flux_steps", "0")])
def test_bad_settings_name_the_variable(tmp_path, name, value):
    with pytest.raises(SettingsError, match=f"MEDIABUDDY_{name.upper()}"):
        load_settings(home=tmp_path, **{name: value})


def test_a_huge_retry_after_while_polling_does_not_park_the_worker(tmp_path, fake_replicate):
    fake_replicate.fail("GET", "/v1/predictions/", 429, retry_after="3600", count=2)
    fake_replicate.wait_completes = False
    started = time.monotonic()
    assert draw(make_settings(tmp_path, fake_replicate)).path.exists()
    assert time.monotonic() - started < 5
    assert fake_replicate.creates == 1


def test_a_huge_retry_after_on_create_gives_up_at_once_with_the_hint(tmp_path, fake_replicate):
    fake_replicate.fail("POST", "/predictions", 429, retry_after="3600", count=5)
    started = time.monotonic()
    with pytest.raises(ProviderError) as caught:
        draw(make_settings(tmp_path, fake_replicate))
    assert caught.value.status == 429 and caught.value.retry_after == pytest.approx(3600)
    assert time.monotonic() - started < 5 and fake_replicate.creates == 0


def test_scenes_drawn_in_parallel_with_lost_answers_are_each_paid_once(tmp_path, fake_replicate):
    from concurrent.futures import ThreadPoolExecutor

    fake_replicate.drop("POST", "/predictions", count=3)
    provider = ReplicateImages(make_settings(tmp_path, fake_replicate))
    meter = ListMeter()
    requests = [ImageRequest(SceneSpec(i, "t", f"thing {i}", f"A small wooden boat number {i} on a lake."), STYLE)
                for i in range(5)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda r: provider.draw(r, tmp_path / f"{r.scene.index}.png", meter), requests))
    assert fake_replicate.creates == 5 and len({r.meta["prediction"] for r in results}) == 5
    assert sorted(row.usage.images for row in meter.rows) == [1] * 5 and meter.spent == pytest.approx(0.015)
