"""Test helpers: the daemon as a real process, and a fault-injecting HTTP proxy in front of the real API."""

from __future__ import annotations

import http.client
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from tests.conftest import wait_for

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "test-token-0123456789abcdef"


class DaemonProcess:
    """``mediabuddy watch`` in its own process, for tests that kill, stop and restart it."""

    def __init__(self, home: Path, server_url: str, token: str | None = TOKEN, **settings: object):
        self.home = home
        self.log_path = home / "daemon.log"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIABUDDY_") and k != "DATABASE_URL"}
        self.env.update({"MEDIABUDDY_HOME": str(home), "MEDIABUDDY_SERVER_URL": server_url,
                         "MEDIABUDDY_STABILITY_SECONDS": "0.3", "MEDIABUDDY_RESCAN_SECONDS": "2",
                         "MEDIABUDDY_LOG_FORMAT": "json", "MEDIABUDDY_LOG_LEVEL": "INFO"})
        if token:
            self.env["MEDIABUDDY_API_TOKEN"] = token
        self.env.update({f"MEDIABUDDY_{k.upper()}": str(v) for k, v in settings.items()})
        self.process: subprocess.Popen | None = None

    @property
    def status_file(self) -> Path:
        return self.home / "var" / "daemon" / "status.json"

    def start(self, wait: bool = True) -> "DaemonProcess":
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "cli", "watch"], cwd=ROOT, env=self.env,
                                            stdout=subprocess.DEVNULL, stderr=log)
        if wait:
            wait_for(lambda: self.status().get("pid") == self.process.pid and self.status().get("running"),
                     timeout=30)
        return self

    def status(self) -> dict:
        try:
            return json.loads(self.status_file.read_text())
        except (OSError, ValueError):
            return {}

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def terminate(self) -> float:
        """SIGTERM; return how long the process took to exit."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=15)
        return time.monotonic() - started

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(timeout=15)

    def log(self) -> list[dict]:
        lines = self.log_path.read_text(errors="replace").splitlines() if self.log_path.exists() else []
        return [json.loads(line) for line in lines if line.startswith("{")]

    def logged(self, fragment: str) -> list[dict]:
        return [entry for entry in self.log() if fragment in entry["message"]]

    def stop_quietly(self) -> None:
        if self.alive():
            self.process.kill()
            self.process.wait(timeout=15)


def cli(home: Path, *args: str, database_url: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIABUDDY_") and k != "DATABASE_URL"}
    env.update({"MEDIABUDDY_HOME": str(home), "COLUMNS": "200"})
    if database_url:  # the test's database (the suite runs on SQLite and PostgreSQL)
        env["DATABASE_URL"] = database_url
    return subprocess.run([sys.executable, "-m", "cli", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)


@dataclass
class Seen:
    number: int
    filename: str
    action: str
    started: float
    status: int | None = None
    replayed: bool = False


class FaultProxy:
    """A loopback HTTP proxy in front of the real API that fails requests on command.

    ``rule(number, filename)`` picks an action for each POST: ``pass``; ``500``;
    ``429:<seconds>`` (with Retry-After); ``401``; ``404``; ``drop`` (forward it, let the server
    commit, then close the connection without answering); ``slow:<seconds>`` (forward,
    then wait before answering).
    """

    def __init__(self, upstream: str):
        self.upstream = urlsplit(upstream)
        self.rule: Callable[[int, str], str] = lambda number, filename: "pass"
        self.seen: list[Seen] = []
        self._numbers = itertools.count()
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                proxy._handle(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fault-proxy", daemon=True)
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def posts(self, filename: str | None = None) -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if filename is None or s.filename == filename]

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        body = handler.rfile.read(int(handler.headers.get("Content-Length", "0")))
        filename = parse_qs(urlsplit(handler.path).query).get("filename", [""])[0]
        with self._lock:
            number = next(self._numbers)
            action = self.rule(number, filename)
            seen = Seen(number, filename, action, time.time())
            self.seen.append(seen)
        if action == "500":
            return self._answer(handler, seen, 500, {"error": {"code": "boom", "message": "injected failure"}})
        if action.startswith("429:"):
            return self._answer(handler, seen, 429, {"error": {"code": "slow_down", "message": "too many requests"}},
                                {"Retry-After": action.split(":")[1]})
        if action == "401":
            return self._answer(handler, seen, 401, {"error": {"code": "unauthorized", "message": "bad token"}})
        if action == "404":
            return self._answer(handler, seen, 404, {"detail": "Not Found"})  # some other web server
        connection = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port, timeout=30)
        headers = {k: v for k, v in handler.headers.items() if k.lower() in
                   ("authorization", "content-type", "idempotency-key")}
        connection.request("POST", handler.path, body=body, headers=headers)
        response = connection.getresponse()
        payload = response.read()
        seen.status = response.status
        seen.replayed = response.getheader("Idempotent-Replayed") == "true"
        connection.close()
        if action == "drop":
            handler.close_connection = True
            seen.status = None
            return  # the server committed; the daemon never hears about it
        if action.startswith("slow:"):
            time.sleep(float(action.split(":")[1]))
        handler.send_response(response.status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)

    @staticmethod
    def _answer(handler: BaseHTTPRequestHandler, seen: Seen, status: int, payload: dict,
                headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        seen.status = status
        handler.send_response(status)
        for name, value in {"Content-Type": "application/json", "Content-Length": str(len(data)),
                            **(headers or {})}.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(data)
