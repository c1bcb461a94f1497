"""API load benchmark: job status reads and uploads against the real server, beside a floor.

    python bench/api_load.py --clients 8 --seconds 15 \
        --postgres-url postgresql://postgres@127.0.0.1:5432/test_api [--worker]

For each database (SQLite, and PostgreSQL when ``--postgres-url`` is given; its schema is
emptied first), a fresh home gets the real API (``mediabuddy serve``, waitress) on a
loopback port, seeded with ``--seed`` documents. N client processes (each one keep-alive
connection through http.client, the cheapest client in the standard library) then run
for a fixed time: each request is an upload (``POST /documents`` of a new article) with
probability ``--upload-share``, else a status read (``GET /jobs/<id>`` of a random job).
``--worker`` also runs ``mediabuddy worker``, which renders the uploaded articles meanwhile.

The floor is bare waitress (same thread count) answering a constant JSON body to the
same clients with the same request mix, measured in the same run. Printed per target:
requests/s, status reads/s, uploads/s, p50/p95/p99 latency of reads and of uploads,
errors (non-2xx) and 5xx, and reads/s as a fraction of the floor's.
Bounded: at most 64 clients and 120 s per target; loopback only.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "bench-token-0123456789abcdef0123"
HOST = "127.0.0.1"
FLOOR_APP = """
import sys, waitress
BODY = b'{"job": {"id": 1, "status": "queued"}}'
def app(environ, start_response):
    if environ["REQUEST_METHOD"] == "POST":
        environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(BODY)))])
    return [BODY]
waitress.serve(app, host="127.0.0.1", port=int(sys.argv[1]), threads=int(sys.argv[2]), ident="floor")
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def wait_listening(port: int, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited with code {process.returncode} before listening")
        try:
            socket.create_connection((HOST, port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listened on port {port} within {timeout} s")


def article(n: int) -> bytes:
    return (f"# Load article {n}\n\nThis is article number {n}, written so the benchmark has prose to "
            f"upload. It says little, but it says it in {n % 7 + 2} short sentences.\n").encode()


def client(port: int, job_ids: list[int], upload_share: float, stop_at: float, seed: int, queue) -> None:  # noqa: ANN001
    """One client: a keep-alive connection, requests until ``stop_at``; latencies back through ``queue``."""
    rng = random.Random(seed)
    connection = http.client.HTTPConnection(HOST, port, timeout=30)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    reads, uploads, errors, server_errors, n = [], [], 0, 0, 0
    while time.perf_counter() < stop_at:
        n += 1
        upload = rng.random() < upload_share
        started = time.perf_counter()
        try:
            if upload:
                connection.request("POST", f"/api/v1/documents?filename=load/{seed}-{n}.md", body=article(seed * 10**7 + n),
                                   headers={**auth, "Content-Type": "text/markdown"})
            else:
                connection.request("GET", f"/api/v1/jobs/{rng.choice(job_ids)}", headers=auth)
            response = connection.getresponse()
            response.read()
            status = response.status
        except (OSError, http.client.HTTPException):
            connection.close()
            connection = http.client.HTTPConnection(HOST, port, timeout=30)
            status = 599
        elapsed = time.perf_counter() - started
        (uploads if upload else reads).append(elapsed)
        errors += not 200 <= status < 300
        server_errors += status >= 500
    connection.close()
    queue.put({"reads": reads, "uploads": uploads, "errors": errors, "server_errors": server_errors})


def drive(port: int, job_ids: list[int], clients: int, seconds: float, upload_share: float) -> dict[str, object]:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    stop_at = time.perf_counter() + 2.0 + seconds  # processes start within the 2 s; counted from stop_at - seconds
    processes = [context.Process(target=client, args=(port, job_ids, upload_share, stop_at, i + 1, queue))
                 for i in range(clients)]
    for process in processes:
        process.start()
    results = [queue.get(timeout=seconds + 120) for _ in processes]
    for process in processes:
        process.join(timeout=30)
    reads = sorted(x for r in results for x in r["reads"])
    uploads = sorted(x for r in results for x in r["uploads"])
    return {"seconds": seconds, "requests_per_s": (len(reads) + len(uploads)) / seconds,
            "reads_per_s": len(reads) / seconds, "uploads_per_s": len(uploads) / seconds,
            "read_ms": percentiles(reads), "upload_ms": percentiles(uploads),
            "errors": sum(r["errors"] for r in results), "server_errors": sum(r["server_errors"] for r in results)}


def percentiles(samples: list[float]) -> dict[str, float | None]:
    if not samples:
        return {"p50": None, "p95": None, "p99": None}
    pick = lambda q: round(samples[min(len(samples) - 1, int(q * len(samples)))] * 1000, 2)  # noqa: E731
    return {"p50": pick(0.50), "p95": pick(0.95), "p99": pick(0.99)}


def run_server(database: str, url: str | None, args: argparse.Namespace) -> dict[str, object]:
    home = Path(tempfile.mkdtemp(prefix=f"mediabuddy-load-{database}-"))
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MEDIABUDDY_HOME": str(home), "MEDIABUDDY_PORT": str(port),
           "MEDIABUDDY_API_TOKEN": TOKEN, "MEDIABUDDY_RATE_LIMIT_PER_SECOND": "0", "MEDIABUDDY_LOG_LEVEL": "WARNING",
           "MEDIABUDDY_SERVER_THREADS": str(args.threads), "MEDIABUDDY_SHORT_SIDE": "240", "MEDIABUDDY_FPS": "10"}
    if url:
        import sqlalchemy as sa

        engine = sa.create_engine(url)
        with engine.begin() as connection:
            connection.execute(sa.text("DROP SCHEMA public CASCADE"))
            connection.execute(sa.text("CREATE SCHEMA public"))
        engine.dispose()
        env["DATABASE_URL"] = url
    server = subprocess.Popen([sys.executable, "-m", "cli", "serve"], cwd=home, env=env)
    worker = None
    try:
        wait_listening(port, server)
        job_ids = seed(port, args.seed)
        if args.worker:
            worker = subprocess.Popen([sys.executable, "-m", "cli", "worker"], cwd=home, env=env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return drive(port, job_ids, args.clients, args.seconds, args.upload_share)
    finally:
        for process in (worker, server):
            if process is not None:
                process.terminate()
                process.wait(timeout=30)
        shutil.rmtree(home, ignore_errors=True)


def seed(port: int, count: int) -> list[int]:
    connection = http.client.HTTPConnection(HOST, port, timeout=30)
    ids = []
    for n in range(count):
        connection.request("POST", f"/api/v1/documents?filename=seed/{n}.md", body=article(n),
                           headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "text/markdown"})
        response = connection.getresponse()
        body = json.loads(response.read())
        if response.status != 201:
            raise SystemExit(f"seeding failed: {response.status} {body}")
        ids.append(body["job"]["id"])
    connection.close()
    return ids


def run_floor(args: argparse.Namespace) -> dict[str, object]:
    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", FLOOR_APP, str(port), str(args.threads)])
    try:
        wait_listening(port, server)
        return drive(port, list(range(1, args.seed + 1)), args.clients, args.seconds, args.upload_share)
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=8, choices=range(1, 65), metavar="1-64")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--upload-share", type=float, default=0.1, help="Fraction of requests that upload (0-1).")
    parser.add_argument("--seed", type=int, default=200, help="Documents uploaded before measuring.")
    parser.add_argument("--threads", type=int, default=6, help="Waitress threads, for the API and the floor.")
    parser.add_argument("--postgres-url", help="Also measure on this PostgreSQL database (its schema is emptied).")
    parser.add_argument("--worker", action="store_true", help="Run a worker rendering the uploads meanwhile.")
    parser.add_argument("--json", action="store_true", help="Print one JSON object instead of the table.")
    args = parser.parse_args()
    if not 1 <= args.seconds <= 120 or not 0 <= args.upload_share <= 1 or not 1 <= args.seed <= 10_000:
        parser.error("--seconds must be 1-120, --upload-share 0-1, --seed 1-10000")
    results = {"floor": run_floor(args), "sqlite": run_server("sqlite", None, args)}
    if args.postgres_url:
        results["postgresql"] = run_server("postgresql", args.postgres_url, args)
    floor_reads = results["floor"]["reads_per_s"] or 1.0
    for result in results.values():
        result["reads_vs_floor"] = round(result["reads_per_s"] / floor_reads, 3)
    machine = {"cpus": os.cpu_count(), "load_average_1m": round(os.getloadavg()[0], 2), "clients": args.clients,
               "threads": args.threads, "upload_share": args.upload_share, "worker": args.worker}
    if args.json:
        print(json.dumps({"machine": machine, "results": results}, indent=2))
        return
    print(f"{machine}")
    print(f"{'target':<11}{'req/s':>8}{'reads/s':>9}{'up/s':>7}{'read p50/p95/p99 ms':>24}"
          f"{'upload p50/p95/p99 ms':>26}{'errors':>8}{'5xx':>5}{'vs floor':>10}")
    for name, r in results.items():
        read = "/".join(str(r["read_ms"][q]) for q in ("p50", "p95", "p99"))
        up = "/".join(str(r["upload_ms"][q]) for q in ("p50", "p95", "p99"))
        print(f"{name:<11}{r['requests_per_s']:>8.0f}{r['reads_per_s']:>9.0f}{r['uploads_per_s']:>7.0f}"
              f"{read:>24}{up:>26}{r['errors']:>8}{r['server_errors']:>5}{r['reads_vs_floor']:>10.2f}")


if __name__ == "__main__":
    main()
