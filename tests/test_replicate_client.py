"""The Replicate client and the FLUX image provider: the real SDK against a fake Replicate on loopback."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from PIL import Image

from config import SettingsError, load_settings
from server.errors import BudgetExceeded, NotConfigured, ProviderError
from server.extensions import db
from server.intake import accept
from server.models import ProviderCall
from server.pipeline.cache import ResultCache
from server.pipeline.ledger import Ledger
from server.providers import resilience
from server.providers.clients.replicate import (
    InputRejected,
    OutputUnavailable,
    PredictionFailed,
    ReplicateClient,
    check_credentials,
)
from server.providers.images.replicate import PROVIDER as ReplicateImages
from server.providers.registry import ProviderChain
from server.providers.types import ImageRequest, ImageStyle, SceneSpec
from tests.conftest import wait_for
from tests.fakes.replicate import FakeReplicate, fake_replicate  # noqa: F401 - the fixture

pytestmark = pytest.mark.clients
BOTH = pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)

SCENE = SceneSpec(index=0, text="The keeper climbs the tower every night.", concept="lighthouse",
                  visual="A weathered lighthouse on a rocky headland above a grey sea.")
STYLE = ImageStyle(width=270, height=480, theme="midnight", title="Lights", scene_count=1)
REQUEST = ImageRequest(scene=SCENE, style=STYLE, aspect="9:16")


class Books:
    """The real cost ledger of one job on the test's database: meters to hand out and rows to read."""

    def __init__(self, app, job_id: int) -> None:
        self.app = app
        self.job_id = job_id

    def meter(self, settings, **overrides) -> Ledger:
        with self.app.app_context():
            return Ledger(db.engine, settings.model_copy(update=overrides), self.job_id, "images")

    def rows(self) -> list[ProviderCall]:
        with self.app.app_context():
            return list(db.session.scalars(sa.select(ProviderCall).where(ProviderCall.job_id == self.job_id)
                                           .order_by(ProviderCall.id)))

    def paid_images(self) -> int:
        return sum(row.images for row in self.rows() if not row.cached)   # cached rows: what a cache hit saved

    def spent(self) -> float:
        return sum(row.price_usd for row in self.rows())


@pytest.fixture
def books(app, settings, fake_replicate):
    """The job's ledger; after the test, the images it counts must be the predictions the fake made."""
    with app.app_context():
        job_id = accept(b"# Lights\n\nThe keeper climbs the tower every night.\n", "lights.md", None, settings).job_id
    ledger = Books(app, job_id)
    yield ledger
    assert ledger.paid_images() == fake_replicate.creates, "the ledger must count exactly the images Replicate made"
    assert ledger.spent() == pytest.approx(0.003 * fake_replicate.creates)



def make_settings(tmp_path: Path, fake: FakeReplicate, **overrides):
    values = dict(home=tmp_path, replicate_api_token=fake.token, replicate_base_url=fake.url,
                  replicate_poll_seconds=0.02, replicate_read_timeout=5, replicate_deadline_seconds=10,
                  provider_retry_initial_seconds=0.05, provider_retry_max_wait_seconds=0.2, provider_retry_seconds=10)
    values.update(overrides)
    return load_settings(**values)


def draw(settings, books: Books, request=REQUEST, out: Path | None = None, **meter_overrides):
    out = out or settings.home / "scene.png"
    return ReplicateImages(settings).draw(request, out, books.meter(settings, **meter_overrides))


def test_draws_a_scene_picture_at_the_video_size_and_records_seed_and_prediction(tmp_path, fake_replicate, books):
    result = draw(make_settings(tmp_path, fake_replicate), books)

    assert fake_replicate.creates == 1
    prediction = next(iter(fake_replicate.predictions.values()))
    sent = prediction.input
    assert sent["aspect_ratio"] == "9:16" and sent["num_inference_steps"] == 4 and sent["megapixels"] == "1"
    assert sent["prompt"].startswith("A weathered lighthouse") and "moonlight" in sent["prompt"]
    assert sent["seed"] == result.seed and isinstance(result.seed, int)
    with Image.open(result.path) as picture:
        assert picture.format == "PNG" and picture.size == (270, 480)
    assert result.meta["source_size"] == list(prediction.size) and result.meta["prediction"] == prediction.id
    [row] = books.rows()
    assert (row.provider, row.model, row.outcome, row.stage) == ("replicate", "black-forest-labs/flux-schnell", "ok",
                                                                 "images")
    assert row.price_usd == pytest.approx(0.003) and row.images == 1 and not row.cached
    assert row.detail == f"prediction={prediction.id} seed={result.seed}"


def test_the_same_scene_asks_for_the_same_seed_and_another_scene_for_another(tmp_path, fake_replicate):
    provider = ReplicateImages(make_settings(tmp_path, fake_replicate))
    other = ImageRequest(scene=SceneSpec(1, "x", "harbour", "A small harbour at dawn with fishing boats."),
                         style=STYLE, aspect="16:9")
    assert provider.inputs(REQUEST) == provider.inputs(REQUEST)
    assert provider.inputs(other)["seed"] != provider.inputs(REQUEST)["seed"]
    assert provider.inputs(other)["aspect_ratio"] == "16:9"


def test_polls_starting_processing_succeeded_when_the_create_does_not_wait(tmp_path, fake_replicate, books):
    fake_replicate.polls_to_finish = 3
    fake_replicate.wait_completes = False
    settings = make_settings(tmp_path, fake_replicate)
    meter = books.meter(settings)
    outcome = ReplicateClient(settings).predict(
        settings.flux_model, ReplicateImages(settings).inputs(REQUEST),
        paid_call=lambda: meter.call("replicate", settings.flux_model, estimate=0.003))

    assert outcome.prediction.status == "succeeded" and outcome.paid
    assert fake_replicate.count("GET", "/v1/predictions/") == 3
    assert fake_replicate.creates == 1


@BOTH
def test_a_lost_create_answer_is_found_on_retry_and_paid_once(tmp_path, fake_replicate, books):
    fake_replicate.drop("POST", "/predictions")
    result = draw(make_settings(tmp_path, fake_replicate), books)

    assert fake_replicate.creates == 1, "the retry must find the prediction instead of buying another"
    assert fake_replicate.count("POST", "/predictions") == 1
    assert fake_replicate.count("GET", "/v1/predictions") >= 1   # the list that found it
    assert result.path.exists()
    lost, found = books.rows()   # one row per create sent: the lost one costs nothing, the found one is the image
    assert (lost.outcome, lost.images, lost.price_usd) == ("ProviderError", 0, 0.0)
    assert (found.outcome, found.images) == ("ok", 1) and "answer was lost" in found.detail
    assert books.spent() == pytest.approx(0.003) and books.paid_images() == fake_replicate.creates


def test_a_create_that_timed_out_is_found_by_the_next_call_after_a_restart(tmp_path, fake_replicate, books):
    fake_replicate.slow("POST", "/predictions", 2.5)   # longer than Prefer: wait=1 plus the SDK's 0.5 s
    settings = make_settings(tmp_path, fake_replicate, replicate_prefer_wait=1, provider_retry_attempts=1)
    with pytest.raises(ProviderError, match="did not answer in time") as caught:
        draw(settings, books)
    assert not caught.value.permanent
    wait_for(lambda: fake_replicate.creates == 1, timeout=5)   # Replicate made it after all

    result = draw(make_settings(tmp_path, fake_replicate), books)     # a new process: a new client, the same journal
    assert fake_replicate.creates == 1
    assert result.meta["prediction"] == next(iter(fake_replicate.predictions))


def test_a_second_draw_of_a_bought_picture_reuses_the_prediction_at_no_cost(tmp_path, fake_replicate, books):
    settings = make_settings(tmp_path, fake_replicate)
    draw(settings, books)
    result = draw(settings, books, out=tmp_path / "again.png")   # e.g. the cache file was lost
    assert fake_replicate.creates == 1 and result.meta["paid"] is False
    assert len(books.rows()) == 1 and books.paid_images() == 1, "the reuse is not counted again"


def test_a_failed_prediction_is_an_error_with_its_logs_and_the_next_try_buys_anew(tmp_path, fake_replicate, books):
    fake_replicate.outcomes.append("failed")
    settings = make_settings(tmp_path, fake_replicate)
    with pytest.raises(PredictionFailed) as caught:
        draw(settings, books)
    error = caught.value
    assert error.state == "failed" and "CUDA out of memory" in error.error
    assert "OOM in denoise" in error.logs_tail and "loading weights 0" not in error.logs_tail
    assert [(row.outcome, row.images) for row in books.rows()] == [("ok", 1)]   # the create was made and counted

    draw(settings, books)
    assert fake_replicate.creates == 2


def test_a_canceled_prediction_is_an_error(tmp_path, fake_replicate, books):
    fake_replicate.outcomes.append("canceled")
    with pytest.raises(PredictionFailed, match="canceled"):
        draw(make_settings(tmp_path, fake_replicate), books)


def test_a_prediction_past_its_deadline_is_canceled(tmp_path, fake_replicate, books):
    fake_replicate.polls_to_finish = 10_000
    fake_replicate.wait_completes = False
    settings = make_settings(tmp_path, fake_replicate, replicate_deadline_seconds=1)
    with pytest.raises(ProviderError, match="still processing after 1 s") as caught:
        draw(settings, books)
    assert caught.value.setting == "MEDIABUDDY_REPLICATE_DEADLINE_SECONDS"
    assert fake_replicate.cancels == 1


def test_a_bad_token_fails_at_once_naming_the_setting_and_never_showing_the_token(tmp_path, fake_replicate, caplog,
                                                                                 books):
    caplog.set_level(logging.DEBUG)
    settings = make_settings(tmp_path, fake_replicate, replicate_api_token="r8_wrong_secret_token_42")
    with pytest.raises(ProviderError) as caught:
        draw(settings, books)
    error = caught.value
    assert error.status == 401 and error.permanent and error.setting == "REPLICATE_API_TOKEN"
    assert fake_replicate.count("POST", "/predictions") == 1, "a permanent error is not retried"
    assert "r8_wrong_secret_token_42" not in str(error) + caplog.text


def test_an_unknown_model_names_the_flux_model_setting(tmp_path, fake_replicate, books):
    settings = make_settings(tmp_path, fake_replicate, flux_model="black-forest-labs/flux-imaginary",
                             prices={"black-forest-labs/flux-imaginary": {"image": 0.01}})
    with pytest.raises(ProviderError) as caught:
        draw(settings, books)
    assert caught.value.status == 404 and caught.value.permanent
    assert caught.value.setting == "MEDIABUDDY_FLUX_MODEL" and "flux-imaginary" in caught.value.message


def test_rejected_input_lists_the_invalid_fields_and_the_setting_to_change(tmp_path, fake_replicate, books):
    with pytest.raises(InputRejected) as caught:
        draw(make_settings(tmp_path, fake_replicate, flux_steps=8), books)
    error = caught.value
    assert error.status == 422 and error.permanent and error.setting == "MEDIABUDDY_FLUX_STEPS"
    assert [f["field"] for f in error.invalid_fields] == ["input.num_inference_steps"]
    assert fake_replicate.creates == 0


def test_429_is_retried_after_the_time_the_server_asks(tmp_path, fake_replicate, books):
    fake_replicate.fail("POST", "/predictions", 429, retry_after="1")
    started = time.monotonic()
    draw(make_settings(tmp_path, fake_replicate), books)
    assert time.monotonic() - started >= 1.0
    assert fake_replicate.creates == 1 and fake_replicate.count("POST", "/predictions") == 2


def test_a_503_burst_on_create_is_retried_without_paying_twice(tmp_path, fake_replicate, books):
    fake_replicate.fail("POST", "/predictions", 503, count=2)
    draw(make_settings(tmp_path, fake_replicate), books)
    assert fake_replicate.creates == 1 and fake_replicate.count("POST", "/predictions") == 3


def test_a_503_burst_while_polling_is_ridden_out(tmp_path, fake_replicate, books):
    fake_replicate.fail("GET", "/v1/predictions/", 503, count=3)
    fake_replicate.wait_completes = False
    settings = make_settings(tmp_path, fake_replicate)
    assert draw(settings, books).path.exists()
    assert fake_replicate.creates == 1


def test_a_service_that_keeps_failing_gives_up_within_bounds(tmp_path, fake_replicate, books):
    fake_replicate.fail("POST", "/predictions", 500, count=100)
    started = time.monotonic()
    with pytest.raises(ProviderError) as caught:
        draw(make_settings(tmp_path, fake_replicate, provider_retry_attempts=3), books)
    assert caught.value.status == 500 and not caught.value.permanent
    assert fake_replicate.count("POST", "/predictions") == 3 and fake_replicate.creates == 0
    assert time.monotonic() - started < 20   # bounded by the retry policy, even on a loaded machine


def test_an_expired_output_url_is_a_clear_error_and_the_next_try_buys_a_new_picture(tmp_path, fake_replicate,
                                                                                    books):
    fake_replicate.expire_all = True
    settings = make_settings(tmp_path, fake_replicate)
    with pytest.raises(OutputUnavailable, match="expired or deleted") as caught:
        draw(settings, books)
    assert caught.value.status == 404 and caught.value.permanent   # fetching it again cannot help
    assert fake_replicate.count("GET", "/files/") == 1
    fake_replicate.expire_all = False
    draw(settings, books)
    assert fake_replicate.creates == 2


def test_an_output_that_is_not_an_image_is_refused(tmp_path, fake_replicate, books):
    fake_replicate.corrupt_outputs = True
    with pytest.raises(OutputUnavailable, match="not an image"):
        draw(make_settings(tmp_path, fake_replicate), books)


def test_an_output_of_the_wrong_shape_is_refused(tmp_path, fake_replicate, books):
    fake_replicate.output_size_override = (1024, 1024)
    settings = make_settings(tmp_path, fake_replicate)
    with pytest.raises(OutputUnavailable, match="not the 9:16"):
        draw(settings, books)
    fake_replicate.output_size_override = None
    draw(settings, books)
    assert fake_replicate.creates == 2, "the refused picture is not fetched again; a new one is bought"


def test_the_budget_is_checked_before_paying(tmp_path, fake_replicate, books):
    with pytest.raises(BudgetExceeded):
        draw(make_settings(tmp_path, fake_replicate), books, max_cost_per_job=0.001)
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


def test_check_credentials_names_the_base_url_when_nothing_answers(tmp_path):
    from tests.conftest import free_port

    settings = load_settings(home=tmp_path, replicate_api_token="r8_whatever",
                             replicate_base_url=f"http://127.0.0.1:{free_port()}", replicate_connect_timeout=1)
    with pytest.raises(ProviderError, match="could not talk to Replicate") as caught:
        check_credentials(settings)
    assert caught.value.setting == "MEDIABUDDY_REPLICATE_BASE_URL" and "r8_whatever" not in str(caught.value)


@pytest.mark.parametrize("name, value", [("flux_model", "flux-schnell"), ("replicate_base_url", "api.replicate.com"),
                                         ("flux_output_format", "gif"), ("flux_steps", "0")])
def test_bad_settings_name_the_variable(tmp_path, name, value):
    with pytest.raises(SettingsError, match=f"MEDIABUDDY_{name.upper()}"):
        load_settings(home=tmp_path, **{name: value})


def test_a_huge_retry_after_while_polling_does_not_park_the_worker(tmp_path, fake_replicate, books):
    fake_replicate.fail("GET", "/v1/predictions/", 429, retry_after="3600", count=2)
    fake_replicate.wait_completes = False
    started = time.monotonic()
    assert draw(make_settings(tmp_path, fake_replicate), books).path.exists()
    assert time.monotonic() - started < 20   # not 3600 s: bounded even on a loaded machine
    assert fake_replicate.creates == 1


def test_a_huge_retry_after_on_create_gives_up_at_once_with_the_hint(tmp_path, fake_replicate, books):
    fake_replicate.fail("POST", "/predictions", 429, retry_after="3600", count=5)
    started = time.monotonic()
    with pytest.raises(ProviderError) as caught:
        draw(make_settings(tmp_path, fake_replicate), books)
    assert caught.value.status == 429 and caught.value.retry_after == pytest.approx(3600)
    assert time.monotonic() - started < 20 and fake_replicate.creates == 0   # not 3600 s, even on a loaded machine


def test_scenes_drawn_in_parallel_with_lost_answers_are_each_paid_once(tmp_path, fake_replicate, books):
    from concurrent.futures import ThreadPoolExecutor

    fake_replicate.drop("POST", "/predictions", count=3)
    provider = ReplicateImages(make_settings(tmp_path, fake_replicate))
    meter = books.meter(provider.settings)
    requests = [ImageRequest(SceneSpec(i, "t", f"thing {i}", f"A small wooden boat number {i} on a lake."), STYLE)
                for i in range(5)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda r: provider.draw(r, tmp_path / f"{r.scene.index}.png", meter), requests))
    assert fake_replicate.creates == 5 and len({r.meta["prediction"] for r in results}) == 5
    assert books.paid_images() == 5 and books.spent() == pytest.approx(0.015)
    assert sorted(row.outcome for row in books.rows()) == ["ProviderError"] * 3 + ["ok"] * 5


def image_chain(settings, books: Books):
    with books.app.app_context():
        return ProviderChain("images", settings, Ledger(db.engine, settings, books.job_id, "images"),
                             ResultCache(settings.var_dir / "cache"))


@BOTH
def test_through_the_registry_a_rerun_pays_nothing_and_the_ledger_says_what_was_saved(tmp_path, fake_replicate,
                                                                                     books):
    settings = make_settings(tmp_path, fake_replicate, image_providers="replicate,local")
    scenes = [ImageRequest(SceneSpec(i, "t", f"boat {i}", f"A small wooden boat number {i} on a lake."), STYLE)
              for i in range(3)]
    first = [image_chain(settings, books).make(request) for request in scenes]
    assert [(m.provider, m.cached) for m in first] == [("replicate", False)] * 3 and fake_replicate.creates == 3

    again = [image_chain(settings, books).make(request) for request in scenes]
    assert [(m.provider, m.cached) for m in again] == [("replicate", True)] * 3
    assert fake_replicate.creates == 3, "a re-run makes no paid call"
    assert [m.value.seed for m in again] == [m.value.seed for m in first]
    saved = [row for row in books.rows() if row.cached]
    assert len(saved) == 3 and all(row.price_usd == 0 and "saved $0.0030" in row.detail for row in saved)


def test_through_the_registry_a_503_storm_falls_back_to_local_and_says_why(tmp_path, fake_replicate, books):
    fake_replicate.fail("POST", "/predictions", 503, count=1000)
    settings = make_settings(tmp_path, fake_replicate, image_providers="replicate,local", provider_retry_attempts=2)
    chain = image_chain(settings, books)
    made = chain.make(REQUEST)
    assert made.provider == "local" and made.value.path.exists() and chain.degraded
    [note] = chain.notes()
    assert "replicate failed after 2 attempts" in note and "503" in note and "local instead" in note
    assert fake_replicate.creates == 0


def test_a_download_that_fails_once_is_fetched_again_without_buying_again(tmp_path, fake_replicate, books):
    fake_replicate.fail("GET", "/files/", 502)
    assert draw(make_settings(tmp_path, fake_replicate), books).path.exists()
    assert fake_replicate.count("GET", "/files/") == 2 and fake_replicate.creates == 1


def test_through_the_registry_lost_outputs_stop_the_buying_for_the_stage(tmp_path, fake_replicate, books):
    fake_replicate.expire_all = True
    settings = make_settings(tmp_path, fake_replicate, image_providers="replicate,local")
    chain = image_chain(settings, books)
    scenes = [ImageRequest(SceneSpec(i, "t", f"boat {i}", f"A small wooden boat number {i} on a lake."), STYLE)
              for i in range(3)]
    assert [chain.make(request).provider for request in scenes] == ["local"] * 3
    assert fake_replicate.creates == 1, "one lost picture is enough: the others are not bought"
    assert any("expired or deleted" in note and "local instead" in note for note in chain.notes())


def test_a_create_answered_with_garbage_is_found_and_paid_once(tmp_path, fake_replicate, books):
    fake_replicate.garble("POST", "/predictions")
    assert draw(make_settings(tmp_path, fake_replicate), books).path.exists()
    assert fake_replicate.creates == 1
    # The unreadable answer's row counts the image (it was made); finding it later adds no row.
    assert [(row.outcome, row.images) for row in books.rows()] == [("ProviderError", 1)]


def test_a_garbled_status_answer_is_checked_again(tmp_path, fake_replicate, books):
    fake_replicate.garble("GET", "/v1/predictions/", count=2)
    fake_replicate.wait_completes = False
    assert draw(make_settings(tmp_path, fake_replicate), books).path.exists()
    assert fake_replicate.creates == 1


@pytest.mark.parametrize("output_format", ["png", "jpg", "webp"])
def test_every_output_format_is_decoded_and_saved_as_the_frame_png(tmp_path, fake_replicate, books, output_format):
    result = draw(make_settings(tmp_path, fake_replicate, flux_output_format=output_format), books)
    served = next(iter(fake_replicate.predictions.values())).output[0]
    assert served.endswith(f".{output_format}")
    with Image.open(result.path) as picture:
        assert picture.format == "PNG" and picture.size == (STYLE.width, STYLE.height)


def test_an_open_breaker_stops_calls_to_a_service_that_is_down(tmp_path, fake_replicate, books):
    fake_replicate.fail("POST", "/predictions", 503, count=1000)
    settings = make_settings(tmp_path, fake_replicate, provider_retry_attempts=2, provider_breaker_failures=2)
    with pytest.raises(ProviderError):
        draw(settings, books)
    sent = len(fake_replicate.requests)
    with pytest.raises(resilience.CircuitOpen):
        draw(settings, books, out=tmp_path / "second.png")
    assert len(fake_replicate.requests) == sent, "an open breaker sends nothing"
    assert fake_replicate.creates == 0


def test_two_scenes_asking_for_the_same_picture_at_once_buy_it_once(tmp_path, fake_replicate, books):
    from concurrent.futures import ThreadPoolExecutor

    fake_replicate.slow("POST", "/predictions", 0.5)   # so the two asks overlap
    provider = ReplicateImages(make_settings(tmp_path, fake_replicate))
    meter = books.meter(provider.settings)
    twins = [ImageRequest(SceneSpec(i, f"text {i}", "lighthouse", SCENE.visual), STYLE) for i in range(2)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda r: provider.draw(r, tmp_path / f"{r.scene.index}.png", meter), twins))
    assert fake_replicate.creates == 1 and results[0].meta["prediction"] == results[1].meta["prediction"]
    assert sorted(r.meta["paid"] for r in results) == [False, True]


def test_a_reused_prediction_whose_output_has_expired_is_bought_anew_at_once(tmp_path, fake_replicate, books):
    settings = make_settings(tmp_path, fake_replicate)
    first = draw(settings, books)
    fake_replicate.expired.add(first.meta["prediction"])   # the cache file is lost and the output has expired since
    again = draw(settings, books, out=tmp_path / "again.png")
    assert again.meta["paid"] is True and fake_replicate.creates == 2
    assert again.meta["prediction"] != first.meta["prediction"]
    assert fake_replicate.count("GET", "/files/") == 3   # the first, the expired one, the new one


def test_an_output_past_its_lifetime_is_gone(tmp_path, fake_replicate, books):
    fake_replicate.output_ttl = 0.0   # Replicate deletes outputs after an hour; here at once
    with pytest.raises(OutputUnavailable, match="expired or deleted"):
        draw(make_settings(tmp_path, fake_replicate), books)
