"""A local Gemini: a real HTTP server on a loopback port speaking the Gemini REST wire format.

Point the real ``google-genai`` SDK at it through ``MEDIABUDDY_GEMINI_BASE_URL`` (``fake.configure(settings)``
does that and sets the key). It serves ``POST /{v1,v1beta}/models/{model}:generateContent``,
``:countTokens`` and ``GET /{v1,v1beta}/models``, and behaves like the real service where our
code depends on it: a missing key is a 403, a wrong key a 400 ``INVALID_ARGUMENT`` "API key
not valid", an unknown model a 404, speech is 16-bit PCM at 24 kHz in ``inlineData``.

Scripting, per test::

    fake.script(rate_limited(retry_after=1), unavailable(), text("hello"))  # next requests, in order
    fake.respond_with(lambda request_json: {"scenes": [...]})              # then, for every other one

A responder returns a ``Reply`` (any behaviour below), a ``str`` (answered as text), or a
dict/list (answered as JSON text; a dict with ``candidates`` or ``promptFeedback`` is sent
as the whole body). ``fake.requests`` records every request; ``fake.count()`` counts them.
Every request body is checked against the wire format: a request the real service would
refuse gets its 400 ``INVALID_ARGUMENT``, ``fake.problems`` lists what was wrong, and the
``fake_gemini`` fixture fails the test if anything was.
"""

from __future__ import annotations

import json
import re
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterator

import pytest
from pydantic import SecretStr

from tests.fakes.gemini_replies import (RATE, Reply, audio, blocked, continuing, error, hang, internal,  # noqa: F401
                                        invalid_key, json_reply, malformed, max_tokens, rate_limited, safety_stop,
                                        text, tone, unavailable, unknown_model)

KEY = "AIzaFAKE-test-key-0123456789abcdefghij"
MODELS = ("gemini-3.5-flash-lite", "gemini-3.8-flash", "gemini-3.8-flash-tts", "gemini-3.8-flash-lite-tts")
_PATH = re.compile(r"^/(v1|v1beta)/models(?:/([^:/?]+)(?::(\w+))?)?$")


# The server ----------------------------------------------------------------------------------


@dataclass
class Seen:
    """One request as the fake received it (the key itself is not kept)."""

    method: str
    path: str
    version: str
    model: str
    action: str            # generateContent | countTokens | list | get
    body: Any
    key_sent: bool
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def prompt(self) -> str:
        """All text of the request's contents, joined (what a responder usually looks at)."""
        return prompt_text(self.body)


def prompt_text(request_json: Any) -> str:
    if not isinstance(request_json, dict):
        return ""
    return "\n".join(part.get("text", "") for content in request_json.get("contents", [])
                     for part in content.get("parts", []) if isinstance(part, dict))


class FakeGemini:
    """The server; ``start()``/``stop()`` or the ``fake_gemini`` fixture."""

    def __init__(self, key: str = KEY, models: tuple[str, ...] = MODELS):
        self.key = key
        self.models = set(models)
        self.requests: list[Seen] = []
        self.problems: list[str] = []
        self._script: deque[Reply] = deque()
        self._responder: Callable[[dict[str, Any]], Any] | None = None
        self._expect_token: str | None = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # Scripting ---------------------------------------------------------------------------

    def script(self, *replies: Reply) -> FakeGemini:
        """Answer the next requests (generateContent, countTokens, listing models) with these, in order."""
        with self._lock:
            self._script.extend(replies)
        return self

    def respond_with(self, responder: Callable[[dict[str, Any]], Any]) -> FakeGemini:
        """Answer every unscripted generateContent with ``responder(request_json)``."""
        self._responder = responder
        return self

    def count(self, action: str = "generateContent") -> int:
        with self._lock:
            return sum(1 for seen in self.requests if seen.action == action)

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the fake first"
        return f"http://127.0.0.1:{self._server.server_port}"

    def configure(self, settings: Any, **changes: Any) -> Any:
        """``settings`` pointed at this fake, with its key (and any other changes)."""
        update = {"gemini_base_url": self.url, "gemini_api_key": SecretStr(self.key), **changes}
        if "gemini_api_key" in changes and isinstance(changes["gemini_api_key"], str):
            update["gemini_api_key"] = SecretStr(changes["gemini_api_key"])
        return settings.model_copy(update=update)

    # Lifecycle ---------------------------------------------------------------------------

    def start(self) -> FakeGemini:
        fake = self

        class Handler(_Handler):
            owner = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="fake-gemini",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes every hanging answer
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # Answering ---------------------------------------------------------------------------

    def answer(self, method: str, path: str, headers: dict[str, str], raw: bytes) -> Reply:
        route = _PATH.match(path.split("?", 1)[0])
        if route is None:
            return error(404, "NOT_FOUND", f"no route for {method} {path}")
        version, model, action = route.group(1), route.group(2) or "", route.group(3) or ""
        action = action or ("list" if not model else "get")
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
                self._problem(f"{action}: body is not JSON")
        key = headers.get("x-goog-api-key")
        if "key=" in path:
            self._problem("the key travels in the URL (it would reach access logs): send x-goog-api-key instead")
        with self._lock:
            kept = {k: v for k, v in headers.items() if k != "x-goog-api-key"}
            self.requests.append(Seen(method, path, version, model, action, body, bool(key), kept))
        if not key:
            return error(403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers (callers without "
                                                   "established identity). Please use API Key or other form of API "
                                                   "consumer identity to call this API.")
        if key != self.key:
            return invalid_key()
        if action == "list":
            with self._lock:
                scripted = self._script.popleft() if self._script else None
            return scripted or Reply(body={"models": [{"name": f"models/{m}", "supportedGenerationMethods": [
                "generateContent", "countTokens"]} for m in sorted(self.models)]})
        if model not in self.models:
            return unknown_model(model, version)
        found = len(self.problems)
        if action == "countTokens":
            self._check_contents(action, body)
        elif action == "generateContent" and method == "POST":
            self._check_generate(model, body)
            self._check_continuation(body)
        else:
            return error(404, "NOT_FOUND", f"no route for {method} {path}")
        if len(self.problems) > found:  # what the real service refuses, it refuses with a 400
            return error(400, "INVALID_ARGUMENT", "; ".join(self.problems[found:]))
        with self._lock:
            scripted = self._script.popleft() if self._script else None
        if action == "countTokens":
            return scripted or Reply(body={"totalTokens": max(1, len(prompt_text(body)) // 4)})
        if scripted is not None:
            self._expect_token = _token(scripted)
            return scripted
        return self._default(model, body)

    def _default(self, model: str, body: dict[str, Any]) -> Reply:
        config = _config(body)
        if config.get("responseModalities") == ["AUDIO"]:
            words = len(prompt_text(body).split())
            return audio(min(30.0, max(0.5, words * 0.35)))  # about 170 words a minute
        if self._responder is not None:
            return _as_reply(self._responder(body))
        if config.get("responseMimeType") == "application/json":
            self._problem("a JSON request reached the fake with no responder: call fake.respond_with(...)")
            return internal()
        return text(f"fake answer to: {prompt_text(body)[:60]}")

    # Checking what our client sends --------------------------------------------------------

    def _problem(self, what: str) -> None:
        with self._lock:
            self.problems.append(what)

    def _check_contents(self, action: str, body: Any) -> None:
        if not isinstance(body, dict) or not isinstance(body.get("contents"), list) or not body["contents"]:
            self._problem(f"{action}: 'contents' must be a non-empty list")
            return
        for i, content in enumerate(body["contents"]):
            if content.get("role", "user") not in ("user", "model"):
                self._problem(f"{action}: contents[{i}].role {content.get('role')!r} is not user or model")
            parts = content.get("parts")
            if not isinstance(parts, list) or not parts:
                self._problem(f"{action}: contents[{i}].parts must be a non-empty list")
                continue
            for part in parts:
                kinds = {"text", "inlineData", "inline_data", "fileData", "file_data"} & set(part)
                if len(kinds) != 1:
                    self._problem(f"{action}: contents[{i}] has a part that is not one text or data: {part}")

    def _check_continuation(self, body: Any) -> None:
        sent = body.get("continuationToken") if isinstance(body, dict) else None
        if sent != self._expect_token:
            self._problem(f"continuationToken {sent!r} sent where {self._expect_token!r} was due")
        self._expect_token = None

    def _check_generate(self, model: str, body: Any) -> None:
        self._check_contents("generateContent", body)
        if not isinstance(body, dict):
            return
        unknown = set(body) - {"contents", "systemInstruction", "system_instruction", "generationConfig",
                               "generation_config", "safetySettings", "tools", "toolConfig", "cachedContent",
                               "continuationToken"}
        if unknown:
            self._problem(f"generateContent: unknown fields {sorted(unknown)}")
        config = _config(body)
        schema = config.get("responseSchema")
        if schema is not None:
            if config.get("responseMimeType") != "application/json":
                self._problem("responseSchema needs responseMimeType application/json")
            for type_name in _schema_types(schema):
                if type_name != type_name.upper():
                    self._problem(f"responseSchema type {type_name!r} must be upper-case")
        speech = config.get("responseModalities") == ["AUDIO"]
        if speech != model.endswith("-tts"):
            self._problem(f"{model}: responseModalities {config.get('responseModalities')} do not suit the model")
        if speech:
            voice = _get(config, "speechConfig", "voiceConfig", "prebuiltVoiceConfig", "voiceName")
            if not voice:
                self._problem("speech request without speechConfig.voiceConfig.prebuiltVoiceConfig.voiceName")
            if len(prompt_text(body)) > 8192:
                self._problem("speech request over the 8,192-input-token limit")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    owner: FakeGemini

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._serve()

    def do_POST(self) -> None:  # noqa: N802
        self._serve()

    def _serve(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {k.lower(): v for k, v in self.headers.items()}
        reply = self.owner.answer(self.command, self.path, headers, raw)
        if reply.delay and self.owner._stopping.wait(reply.delay):
            return
        payload = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
        try:
            self.send_response(reply.status)
            sent = {k.lower() for k, _ in reply.headers}
            if "content-type" not in sent:
                self.send_header("Content-Type", "application/json; charset=UTF-8")
            for name, value in reply.headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except OSError:
            pass  # the client gave up (a timeout test): nothing to answer

    def log_message(self, *_args: Any) -> None:
        pass


def _token(reply: Reply) -> str | None:
    if isinstance(reply.body, dict) and reply.body.get("candidates"):
        candidate = reply.body["candidates"][0]
        if candidate.get("finishReason") == "CONTINUATION":
            return candidate.get("continuationToken")
    return None


def _as_reply(value: Any) -> Reply:
    if isinstance(value, Reply):
        return value
    if isinstance(value, str):
        return text(value)
    if isinstance(value, dict) and ("candidates" in value or "promptFeedback" in value):
        return Reply(body=value)
    return json_reply(value)


def _config(body: Any) -> dict[str, Any]:
    """generationConfig with its keys in camelCase (the SDK sends some nested keys in snake_case)."""
    if not isinstance(body, dict):
        return {}
    return _camel(body.get("generationConfig") or body.get("generation_config") or {})


def _camel(value: Any) -> Any:
    if isinstance(value, dict):
        return {re.sub(r"_(\w)", lambda m: m.group(1).upper(), k): _camel(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_camel(v) for v in value]
    return value


def _get(value: Any, *keys: str) -> Any:
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _schema_types(schema: Any) -> Iterator[str]:
    if isinstance(schema, dict):
        if isinstance(schema.get("type"), str):
            yield schema["type"]
        for key, value in schema.items():
            if key in ("properties",) and isinstance(value, dict):
                for sub in value.values():
                    yield from _schema_types(sub)
            elif key in ("items",) or key in ("anyOf", "any_of"):
                for sub in value if isinstance(value, list) else [value]:
                    yield from _schema_types(sub)


@pytest.fixture
def fake_gemini() -> Iterator[FakeGemini]:
    """A started fake; the test fails if our client sent it anything off the wire format."""
    fake = FakeGemini().start()
    try:
        yield fake
    finally:
        fake.stop()
    assert not fake.problems, f"requests the real Gemini would refuse: {fake.problems}"
