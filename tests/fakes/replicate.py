"""A loopback HTTP server that speaks Replicate's prediction API, for the real SDK to talk to.

It keeps predictions in memory and moves each one starting → processing → a terminal state
over successive status checks; outputs are real image bytes (made with Pillow at the size
the aspect implies) served from its own ``/files/`` URLs. Tests script its misbehaviour:
HTTP errors with problem-details bodies, ``Retry-After``, slow answers and hangs, a create
that succeeds server-side but whose answer is dropped, failed and canceled predictions,
outputs that 404 or expire after a TTL. ``creates`` counts predictions made, i.e. images a
real account would pay for.
"""

from __future__ import annotations

import io
import json
import math
import re
import socket
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from PIL import Image, ImageDraw

ASPECT_RATIOS = ("1:1", "16:9", "21:9", "3:2", "2:3", "4:5", "5:4", "3:4", "4:3", "9:16", "9:21")
MODELS = {"black-forest-labs/flux-schnell": {"max_steps": 4, "list_output": True},
          "black-forest-labs/flux-dev": {"max_steps": 50, "list_output": True},
          "black-forest-labs/flux-1.1-pro": {"max_steps": 0, "list_output": False}}


@dataclass
class Fault:
    """One scripted misbehaviour: matched on method and a path fragment, used ``count`` times."""

    method: str
    path: str
    status: int | None = None
    body: dict[str, Any] | None = None
    retry_after: str | None = None
    delay: float = 0.0
    drop: bool = False      # close the connection without answering (after doing the work, for a create)
    garble: bool = False    # do the work, then answer 200/201 with JSON that is not a prediction
    count: int = 1


@dataclass
class FakePrediction:
    id: str
    model: str
    input: dict[str, Any]
    created_at: str
    outcome: str
    status: str = "starting"
    polls: int = 0
    output: Any = None
    error: str | None = None
    logs: str = ""
    size: tuple[int, int] = (0, 0)
    finished_at: float = 0.0

    def as_json(self, base: str) -> dict[str, Any]:
        return {"id": self.id, "model": self.model, "version": "hidden", "status": self.status,
                "input": self.input, "output": self.output, "error": self.error, "logs": self.logs,
                "metrics": {"predict_time": 0.8} if self.status == "succeeded" else {},
                "created_at": self.created_at, "started_at": self.created_at, "source": "api",
                "data_removed": False,
                "completed_at": self.created_at if self.status in ("succeeded", "failed", "canceled") else None,
                "urls": {"get": f"{base}/v1/predictions/{self.id}", "cancel": f"{base}/v1/predictions/{self.id}/cancel",
                         "stream": f"{base}/stream/{self.id}"}}


def output_size(aspect: str, megapixels: str) -> tuple[int, int]:
    """Width and height FLUX gives for an aspect ratio: about the megapixels asked, multiples of 16."""
    w, h = (int(part) for part in aspect.split(":"))
    pixels = float(megapixels) * 1_000_000
    width = math.sqrt(pixels * w / h)
    return int(round(width / 16) * 16), int(round(width * h / w / 16) * 16)


class FakeReplicate:
    """The server's state and the knobs a test turns; start() binds a free loopback port."""

    def __init__(self, token: str = "r8_fake_token_0123456789") -> None:
        self.token = token
        self.lock = threading.Lock()
        self.predictions: dict[str, FakePrediction] = {}
        self.faults: list[Fault] = []
        self.outcomes: deque[str] = deque()    # next creates' outcomes; empty → "succeeded"
        self.polls_to_finish = 2               # status checks before a prediction is done
        self.wait_completes = True             # `Prefer: wait` answers with the finished prediction
        self.expired: set[str] = set()         # prediction ids whose output URLs 404
        self.expire_all = False
        self.output_ttl: float | None = None   # seconds an output is served after it is made (Replicate: 3600)
        self.corrupt_outputs = False
        self.output_size_override: tuple[int, int] | None = None
        self.creates = 0
        self.cancels = 0
        self.requests: list[tuple[str, str]] = []
        self.stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None

    # Knobs ------------------------------------------------------------------------------

    def fail(self, method: str, path: str, status: int, *, count: int = 1, retry_after: str | None = None,
             body: dict[str, Any] | None = None) -> None:
        self.faults.append(Fault(method, path, status=status, body=body, retry_after=retry_after, count=count))

    def slow(self, method: str, path: str, seconds: float, *, count: int = 1) -> None:
        self.faults.append(Fault(method, path, delay=seconds, count=count))

    def drop(self, method: str, path: str, *, count: int = 1) -> None:
        self.faults.append(Fault(method, path, drop=True, count=count))

    def garble(self, method: str, path: str, *, count: int = 1) -> None:
        self.faults.append(Fault(method, path, garble=True, count=count))

    def count(self, method: str, fragment: str) -> int:
        with self.lock:
            return sum(1 for m, p in self.requests if m == method and fragment in p)

    # Lifecycle --------------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the fake first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> "FakeReplicate":
        fake = self

        class Handler(_Handler):
            state = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="fake-replicate", daemon=True).start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # Behaviour --------------------------------------------------------------------------

    def take_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.method == method and fault.path in path and fault.count > 0:
                    fault.count -= 1
                    return fault
        return None

    def create(self, model: str, body: dict[str, Any]) -> FakePrediction:
        with self.lock:
            self.creates += 1
            outcome = self.outcomes.popleft() if self.outcomes else "succeeded"
            prediction = FakePrediction(id=uuid.uuid4().hex[:20], model=model, input=body["input"],
                                        created_at=time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime()),
                                        outcome=outcome)
            self.predictions[prediction.id] = prediction
            return prediction

    def advance(self, prediction: FakePrediction, *, finish: bool = False) -> None:
        with self.lock:
            if prediction.status in ("succeeded", "failed", "canceled"):
                return
            prediction.polls += 1
            if finish or prediction.polls >= self.polls_to_finish:
                self._finish(prediction)
            else:
                prediction.status = "processing"
                prediction.logs += f"step {prediction.polls}\n"

    def _finish(self, prediction: FakePrediction) -> None:
        prediction.status = prediction.outcome
        prediction.finished_at = time.monotonic()
        if prediction.outcome == "failed":
            prediction.error = "CUDA out of memory: tried to allocate 2.00 GiB"
            prediction.logs += "".join(f"loading weights {n}\n" for n in range(40)) + "Traceback: OOM in denoise\n"
        elif prediction.outcome == "succeeded":
            fmt = prediction.input.get("output_format", "webp")
            prediction.size = output_size(prediction.input.get("aspect_ratio", "1:1"),
                                          str(prediction.input.get("megapixels", "1")))
            url = f"{self.url}/files/{prediction.id}.{fmt}"
            prediction.output = [url] if MODELS[prediction.model]["list_output"] else url

    def image_bytes(self, prediction: FakePrediction, fmt: str) -> bytes:
        if self.corrupt_outputs:
            return b"\x89PNG\r\n\x1a\n not really an image"
        size = self.output_size_override or prediction.size
        seed = int(prediction.input.get("seed") or 7)
        image = Image.new("RGB", size, ((seed * 37) % 256, (seed * 91) % 256, 120))
        ImageDraw.Draw(image).ellipse((size[0] // 4, size[1] // 3, size[0] * 3 // 4, size[1] * 2 // 3),
                                      fill=(240, 200, 80))
        buffer = io.BytesIO()
        image.save(buffer, {"jpg": "JPEG", "png": "PNG", "webp": "WEBP"}[fmt])
        return buffer.getvalue()


def validate_input(model: str, data: dict[str, Any]) -> list[dict[str, str]]:
    """The fields Replicate would reject, as its 422 ``invalid_fields`` lists them."""
    problems = []

    def bad(name: str, description: str) -> None:
        problems.append({"type": "invalid", "field": f"input.{name}", "description": description})

    if not isinstance(data.get("prompt"), str) or not data["prompt"].strip():
        bad("prompt", "prompt is required")
    if "aspect_ratio" in data and data["aspect_ratio"] not in ASPECT_RATIOS:
        bad("aspect_ratio", f"aspect_ratio must be one of the following: {', '.join(ASPECT_RATIOS)}")
    steps = data.get("num_inference_steps")
    if steps is not None and not (isinstance(steps, int) and 1 <= steps <= MODELS[model]["max_steps"]):
        bad("num_inference_steps", f"Must be less than or equal to {MODELS[model]['max_steps']}")
    if data.get("output_format", "webp") not in ("webp", "jpg", "png"):
        bad("output_format", "output_format must be one of the following: webp, jpg, png")
    if str(data.get("megapixels", "1")) not in ("1", "0.25"):
        bad("megapixels", "megapixels must be one of the following: 1, 0.25")
    if "seed" in data and not isinstance(data["seed"], int):
        bad("seed", "Invalid type. Expected: integer")
    return problems


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state: FakeReplicate

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's name
        pass

    def _answer(self, status: int, body: dict[str, Any] | None = None, headers: dict[str, str] | None = None,
                raw: bytes | None = None, content_type: str = "application/json") -> None:
        payload = raw if raw is not None else json.dumps(body or {}).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def _problem(self, status: int, title: str, detail: str, **extra: object) -> None:
        self._answer(status, {"type": f"https://replicate.com/docs/errors#{status}", "title": title,
                              "status": status, "detail": detail, **extra}, content_type="application/problem+json")

    def _hang_up(self) -> None:
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        self._route("GET")

    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        self._route("POST")

    def _route(self, method: str) -> None:
        fake = self.state
        path = self.path.split("?")[0]
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with fake.lock:
            fake.requests.append((method, path))
        fault = fake.take_fault(method, path)
        if fault and fault.delay:
            fake.stopping.wait(fault.delay)
        if fault and fault.status:
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            detail = {429: "Request was throttled. Expected available in 1 second.",
                      503: "Service Unavailable", 500: "Internal Server Error"}.get(fault.status, "scripted error")
            self._answer(fault.status, fault.body or {"title": "error", "status": fault.status, "detail": detail},
                         headers=headers, content_type="application/problem+json")
            return
        if path.startswith("/files/"):
            self._file(path, dropped=bool(fault and fault.drop))
            return
        if self.headers.get("Authorization") != f"Bearer {fake.token}":
            self._problem(401, "Unauthenticated", "You did not pass a valid authentication token")
            return
        self._api(method, path, body, dropped=bool(fault and fault.drop), garbled=bool(fault and fault.garble))

    def _api(self, method: str, path: str, body: bytes, *, dropped: bool, garbled: bool) -> None:
        fake = self.state
        if method == "GET" and path == "/v1/account":
            self._answer(200, {"type": "user", "username": "tester", "name": "Test Account", "github_url": None})
            return
        if method == "GET" and path == "/v1/predictions":
            with fake.lock:
                newest = sorted(fake.predictions.values(), key=lambda p: p.created_at, reverse=True)
            self._answer(200, {"next": None, "previous": None, "results": [p.as_json(fake.url) for p in newest]})
            return
        if match := re.fullmatch(r"/v1/models/([^/]+)/([^/]+)(/predictions)?", path):
            model = f"{match[1]}/{match[2]}"
            if model not in MODELS:
                self._problem(404, "Not found", f"Model {model} does not exist or you do not have access to it")
            elif method == "GET" and not match[3]:
                self._answer(200, {"url": f"https://replicate.com/{model}", "owner": match[1], "name": match[2],
                                   "description": "fake FLUX", "visibility": "public", "github_url": None,
                                   "paper_url": None, "license_url": None, "run_count": 1, "cover_image_url": None,
                                   "default_example": None, "latest_version": None})
            elif method == "POST" and match[3]:
                self._create(model, body, dropped=dropped, garbled=garbled)
            else:
                self._problem(405, "Method not allowed", path)
            return
        if match := re.fullmatch(r"/v1/predictions/([^/]+)(/cancel)?", path):
            prediction = fake.predictions.get(match[1])
            if prediction is None:
                self._problem(404, "Not found", "The requested resource could not be found")
                return
            if match[2] and method == "POST":
                with fake.lock:
                    fake.cancels += 1
                    if prediction.status not in ("succeeded", "failed"):
                        prediction.status = "canceled"
            elif method == "GET":
                fake.advance(prediction)
            if dropped:
                self._hang_up()
                return
            self._answer(200, {"id": prediction.id, "status": "thinking"} if garbled else prediction.as_json(fake.url))
            return
        self._problem(404, "Not found", f"no route for {method} {path}")

    def _create(self, model: str, body: bytes, *, dropped: bool, garbled: bool) -> None:
        fake = self.state
        try:
            request = json.loads(body)
        except ValueError:
            self._problem(400, "Bad request", "body is not JSON")
            return
        problems = validate_input(model, request.get("input") or {})
        if problems:
            self._problem(422, "Input validation failed",
                          "\n".join(f"- {p['field']}: {p['description']}" for p in problems), invalid_fields=problems)
            return
        prediction = fake.create(model, request)
        prefer = self.headers.get("Prefer", "")
        if prefer.startswith("wait") and fake.wait_completes:
            fake.advance(prediction, finish=True)
        if dropped:
            self._hang_up()
            return
        self._answer(201, {"id": prediction.id, "status": "thinking"} if garbled else prediction.as_json(fake.url))

    def _file(self, path: str, *, dropped: bool) -> None:
        fake = self.state
        name = path.removeprefix("/files/")
        prediction_id, _, fmt = name.partition(".")
        prediction = fake.predictions.get(prediction_id)
        expired = fake.output_ttl is not None and prediction is not None and \
            time.monotonic() - prediction.finished_at > fake.output_ttl
        if prediction is None or fake.expire_all or prediction_id in fake.expired or expired:
            self._answer(404, raw=b"Not Found", content_type="text/plain")
            return
        if dropped:
            self._hang_up()
            return
        self._answer(200, raw=fake.image_bytes(prediction, fmt), content_type=f"image/{fmt}")


@pytest.fixture
def fake_replicate():
    """A started fake Replicate on a free loopback port, stopped after the test."""
    fake = FakeReplicate().start()
    yield fake
    fake.stop()
