"""API load benchmark: job status reads and uploads against the real server, beside floors.

    python bench/api_load.py --clients 8 --seconds 15 \
        --postgres-url postgresql://postgres@127.0.0.1:5432/test_api [--worker]

For each database (SQLite, and PostgreSQL when ``--postgres-url`` is given; its schema is
emptied first), a fresh home gets the real API (``mediabuddy serve``, waitress) on a
loopback port, seeded with ``--seed`` documents. N client processes (each one keep-alive
connection through http.client, the cheapest client in the standard library) then run
for a fixed, common window: each request is an upload (``POST /documents`` of a new
article) with probability ``--upload-share``, else a status read (``GET /jobs/<id>`` of a
random job). ``--uploads-per-second R`` adds one more client that only uploads, R per
second (an inbox being filled while others poll). ``--worker`` also runs ``mediabuddy worker``, which renders the uploaded
articles meanwhile (the floors run without it: they are what the machine can do at best).

The floors get the same clients, the same request mix and the same waitress thread count,
in the same run, so the ratios compare like with like:

* ``floor``: bare waitress answering a constant JSON body (uploads read and drop the body);
* ``flask``: a Flask hello-world with the same two routes under the same waitress: what the
  framework alone costs;
* ``floor+x264`` (with ``--worker``): the bare floor again while ffmpeg encodes moving
  1080x1920 frames with x264 at the worker's priority (``-re``, so at 30 frames/s as a
  render would), the load a rendering worker puts on the machine;
* ``raw-sqlite``: a bare WSGI app answering each read with one hand-written sqlite3 SELECT
  of the job from the SQLite run's database and ``json.dumps``: what the database read
  costs without any framework or ORM.

and ``sqlite-read``: the real API on SQLite again with ``MEDIABUDDY_STATUS_CACHE_MS=0``, so
every status read goes to the database (the ``sqlite`` row keeps each job's answer 1 s).

Printed per target: requests/s, status reads/s, uploads/s, p50/p95/p99 latency of reads
and of uploads, errors (non-2xx), 5xx, reads/s as a fraction of the floor's, and CPU per
request (user+sys, microseconds) spent by the server process, by the database (the
PostgreSQL backends serving the run; SQLite runs inside the server), by the worker, and
by the clients. On a shared machine throughput is noisy; CPU per request much less so.
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
sys.path.insert(0, str(ROOT))
from config import default_server_threads  # noqa: E402 - the bench runs from a checkout, not an install

TOKEN = "bench-token-0123456789abcdef0123"
HOST = "127.0.0.1"
FLOOR_APP = """
import json, sqlite3, sys, threading, waitress
port, threads, kind = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
BODY = b'{"job": {"id": 1, "status": "queued"}}'
HEADERS = [("Content-Type", "application/json"), ("Content-Length", str(len(BODY)))]

def constant(environ, start_response):
    if environ["REQUEST_METHOD"] == "POST":
        environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    start_response("200 OK", HEADERS)
    return [BODY]

app = constant
if kind == "flask":
    import flask
    app = flask.Flask("floor")

    @app.get("/api/v1/jobs/<int:job_id>")
    def job(job_id):
        return flask.jsonify({"job": {"id": job_id, "status": "queued"}})

    @app.post("/api/v1/documents")
    def upload():
        flask.request.get_data()
        return flask.jsonify({"job": {"id": 1, "status": "queued"}})
elif kind == "raw-sqlite":
    local = threading.local()
    SQL = "SELECT id, status, stage, completed_stages, slug, updated_at FROM jobs WHERE id = ?"

    def app(environ, start_response):
        if environ["REQUEST_METHOD"] == "POST":
            return constant(environ, start_response)
        if not hasattr(local, "db"):
            local.db = sqlite3.connect(sys.argv[4])
        row = local.db.execute(SQL, (int(environ["PATH_INFO"].rsplit("/", 1)[1]),)).fetchone()
        body = json.dumps({"job": dict(zip(("id", "status", "stage", "completed_stages", "slug", "updated_at"),
                                           row))}).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]
waitress.serve(app, host="127.0.0.1", port=port, threads=threads, ident="floor")
"""
FLOORS = ("floor", "flask")


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


def client(port: int, job_ids: list[int], upload_share: float, start_at: float, stop_at: float, seed: int,
           queue, pace: float = 0.0) -> None:  # noqa: ANN001 - a multiprocessing queue
    """One client: a keep-alive connection, requests from ``start_at`` to ``stop_at``; results through ``queue``.

    ``pace``: seconds from one request's start to the next (0: as fast as answers come).
    """
    rng = random.Random(seed)
    connection = http.client.HTTPConnection(HOST, port, timeout=30)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    reads, uploads, errors, server_errors, n = [], [], 0, 0, 0
    time.sleep(max(0.0, start_at - time.perf_counter()))  # every client starts together, after all have spawned
    cpu_before = time.process_time()
    next_at = time.perf_counter()
    while time.perf_counter() < stop_at:
        if pace:
            time.sleep(max(0.0, next_at - time.perf_counter()))
            next_at += pace
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
    cpu = time.process_time() - cpu_before
    connection.close()
    queue.put({"reads": reads, "uploads": uploads, "errors": errors, "server_errors": server_errors, "cpu": cpu})


def cpu_seconds(pid: int, *, waited_children: bool = False) -> float:
    """User + system CPU of one process so far (Linux /proc; 0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    if waited_children:
        ticks += int(fields[13]) + int(fields[14])  # cutime, cstime: children it has waited for
    return ticks / os.sysconf("SC_CLK_TCK")


def drive(port: int, job_ids: list[int], args: argparse.Namespace, watched: dict[str, callable]) -> dict[str, object]:
    """Run the clients for ``args.seconds``; ``watched`` names functions giving CPU seconds so far."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    start_at = time.perf_counter() + 3.0  # spawning 8 interpreters takes ~1-2 s on a loaded 2-core machine
    stop_at = start_at + args.seconds
    processes = [context.Process(target=client, args=(port, job_ids, args.upload_share, start_at, stop_at, i + 1, queue))
                 for i in range(args.clients)]
    if args.uploads_per_second:  # one more client that only uploads, at a steady rate
        processes.append(context.Process(target=client, args=(port, job_ids, 1.0, start_at, stop_at, args.clients + 1,
                                                              queue, 1.0 / args.uploads_per_second)))
    for process in processes:
        process.start()
    time.sleep(max(0.0, start_at - time.perf_counter()))
    cpu_before = {name: read() for name, read in watched.items()}
    time.sleep(max(0.0, stop_at - time.perf_counter()))
    cpu_used = {name: read() - cpu_before[name] for name, read in watched.items()}
    results = [queue.get(timeout=args.seconds + 120) for _ in processes]
    for process in processes:
        process.join(timeout=30)
    reads = sorted(x for r in results for x in r["reads"])
    uploads = sorted(x for r in results for x in r["uploads"])
    requests = max(1, len(reads) + len(uploads))
    cpu_used["clients"] = sum(r["cpu"] for r in results)
    return {"seconds": args.seconds, "requests_per_s": (len(reads) + len(uploads)) / args.seconds,
            "reads_per_s": len(reads) / args.seconds, "uploads_per_s": len(uploads) / args.seconds,
            "read_ms": percentiles(reads), "upload_ms": percentiles(uploads),
            "errors": sum(r["errors"] for r in results), "server_errors": sum(r["server_errors"] for r in results),
            "cpu_us_per_request": {name: round(used / requests * 1e6) for name, used in cpu_used.items()}}


def percentiles(samples: list[float]) -> dict[str, float | None]:
    if not samples:
        return {"p50": None, "p95": None, "p99": None}
    pick = lambda q: round(samples[min(len(samples) - 1, int(q * len(samples)))] * 1000, 2)  # noqa: E731
    return {"p50": pick(0.50), "p95": pick(0.95), "p99": pick(0.99)}


def run_server(database: str, url: str | None, args: argparse.Namespace, *, keep_home: bool = False,
               status_cache_ms: int | None = None) -> dict[str, object]:
    """Measure the real API; with ``keep_home`` the home survives and its path is in the result."""
    home = Path(tempfile.mkdtemp(prefix=f"mediabuddy-load-{database}-"))
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MEDIABUDDY_HOME": str(home), "MEDIABUDDY_PORT": str(port),
           "MEDIABUDDY_API_TOKEN": TOKEN, "MEDIABUDDY_LOG_LEVEL": "WARNING",
           "MEDIABUDDY_SERVER_THREADS": str(args.threads), "MEDIABUDDY_SHORT_SIDE": "240", "MEDIABUDDY_FPS": "10"}
    if status_cache_ms is not None:
        env["MEDIABUDDY_STATUS_CACHE_MS"] = str(status_cache_ms)
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
        watched = {"server": lambda: cpu_seconds(server.pid)}
        if url:
            watched["database"] = lambda: postgres_cpu_seconds(url)
        if args.worker:
            worker = subprocess.Popen([sys.executable, "-m", "cli", "worker"], cwd=home, env=env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            watched["worker"] = lambda: cpu_seconds(worker.pid, waited_children=True) + children_cpu_seconds(worker.pid)
        result = drive(port, job_ids, args, watched)
    except BaseException:
        keep_home = False
        raise
    finally:
        for process in (worker, server):
            if process is not None:
                process.terminate()
                process.wait(timeout=30)
        if not keep_home:
            shutil.rmtree(home, ignore_errors=True)
    if keep_home:
        result["home"] = str(home)
    return result


def postgres_cpu_seconds(url: str) -> float:
    """CPU of the PostgreSQL backends connected to the bench's database (other sessions excluded)."""
    import sqlalchemy as sa

    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.connect() as connection:
        pids = connection.execute(sa.text("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                                          "AND pid <> pg_backend_pid()")).scalars().all()
    engine.dispose()
    return sum(cpu_seconds(pid) for pid in pids)


def children_cpu_seconds(pid: int) -> float:
    """CPU of a process's live children (the worker's ffmpeg) and what they waited for."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            total += (int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")
    return total


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


def run_floor(kind: str, args: argparse.Namespace, database_file: str = "", *, beside_a_render: bool = False
              ) -> dict[str, object]:
    """A floor server under the same clients; with ``beside_a_render``, while x264 encodes at the
    worker's priority (what a rendering worker costs the machine), so the floor carries that load too."""
    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", FLOOR_APP, str(port), str(args.threads), kind, database_file])
    load = None
    try:
        wait_listening(port, server)
        watched = {"server": lambda: cpu_seconds(server.pid)}
        if beside_a_render:
            load = render_load(args.seconds + 10)
            watched["render"] = lambda: cpu_seconds(load.pid)
        return drive(port, list(range(1, args.seed + 1)), args, watched)
    finally:
        for process in (load, server):
            if process is not None:
                process.terminate()
                process.wait(timeout=30)


def render_load(seconds: float) -> subprocess.Popen:
    """An x264 encode of moving 1080x1920 frames, at the worker's default priority (nice 10), for ``seconds``."""
    from imageio_ffmpeg import get_ffmpeg_exe

    from config import Settings

    nice = Settings.model_fields["worker_nice"].default
    return subprocess.Popen([get_ffmpeg_exe(), "-v", "error", "-nostdin", "-re", "-f", "lavfi", "-i",
                             f"testsrc2=size=1080x1920:rate=30:duration={seconds}", "-c:v", "libx264",
                             "-preset", "veryfast", "-f", "null", "-"],
                            preexec_fn=(lambda: os.nice(nice)) if hasattr(os, "nice") else None,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=8, choices=range(1, 65), metavar="1-64")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--upload-share", type=float, default=0.1, help="Fraction of requests that upload (0-1).")
    parser.add_argument("--uploads-per-second", type=float, default=0.0,
                        help="Also run one client uploading at this steady rate (an inbox being filled), 0-50.")
    parser.add_argument("--seed", type=int, default=200, help="Documents uploaded before measuring.")
    parser.add_argument("--threads", type=int, default=default_server_threads(),
                        help="Waitress threads, for the API and the floor (default: the server's, one per core).")
    parser.add_argument("--postgres-url", help="Also measure on this PostgreSQL database (its schema is emptied).")
    parser.add_argument("--worker", action="store_true", help="Run a worker rendering the uploads meanwhile.")
    parser.add_argument("--json", action="store_true", help="Print one JSON object instead of the table.")
    args = parser.parse_args()
    if not 1 <= args.seconds <= 120 or not 0 <= args.upload_share <= 1 or not 1 <= args.seed <= 10_000 \
            or not 0 <= args.uploads_per_second <= 50:
        parser.error("--seconds must be 1-120, --upload-share 0-1, --seed 1-10000, --uploads-per-second 0-50")
    results = {kind: run_floor(kind, args) for kind in FLOORS}
    if args.worker:   # the floor beside a render too: like compared with like as well as with the machine's best
        results["floor+x264"] = run_floor("floor", args, beside_a_render=True)
    results["sqlite"] = run_server("sqlite", None, args, keep_home=True)
    home = Path(results["sqlite"].pop("home"))
    try:  # the same database file the sqlite run left, read without framework or ORM
        results["raw-sqlite"] = run_floor("raw-sqlite", args, str(home / "var" / "mediabuddy.db"))
    finally:
        shutil.rmtree(home, ignore_errors=True)
    results["sqlite-read"] = run_server("sqlite", None, args, status_cache_ms=0)
    if args.postgres_url:
        results["postgresql"] = run_server("postgresql", args.postgres_url, args)
    floor_reads = results["floor"]["reads_per_s"] or 1.0
    for result in results.values():
        result["reads_vs_floor"] = round(result["reads_per_s"] / floor_reads, 3)
    machine = {"cpus": os.cpu_count(), "load_average_1m": round(os.getloadavg()[0], 2), "clients": args.clients,
               "threads": args.threads, "upload_share": args.upload_share,
               "uploads_per_second": args.uploads_per_second, "worker": args.worker,
               "seconds": args.seconds}
    if args.json:
        print(json.dumps({"machine": machine, "results": results}, indent=2))
        return
    print(f"{machine}")
    print(f"{'target':<11}{'req/s':>7}{'reads/s':>8}{'up/s':>6}{'read p50/p95/p99 ms':>22}"
          f"{'upload p50/p95/p99 ms':>24}{'err':>5}{'5xx':>5}{'vs floor':>9}   CPU us/request")
    for name, r in results.items():
        read = "/".join(str(r["read_ms"][q]) for q in ("p50", "p95", "p99"))
        up = "/".join(str(r["upload_ms"][q]) for q in ("p50", "p95", "p99"))
        cpu = " ".join(f"{who}={us}" for who, us in r["cpu_us_per_request"].items())
        print(f"{name:<11}{r['requests_per_s']:>7.0f}{r['reads_per_s']:>8.0f}{r['uploads_per_s']:>6.0f}"
              f"{read:>22}{up:>24}{r['errors']:>5}{r['server_errors']:>5}{r['reads_vs_floor']:>9.2f}   {cpu}")


if __name__ == "__main__":
    main()
