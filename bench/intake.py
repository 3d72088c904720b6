"""Benchmark: POST /api/v1/incidents under `gridlink serve` (gunicorn, as deployed) vs two baselines in the same run.

Run: .venv/bin/python bench/intake.py [REQUESTS] [CLIENTS] [WORKERS]   (creates and drops its own scratch database)
Target (issue 4): at least 300 cases/s and p99 under 50 ms on 2 cores. Each request is a full intake:
key check, coordinate checks, locate (grid, squad, routing rules), the case row and its event.
Baselines: GET /healthz on the same server by the same clients (HTTP + Flask + one SELECT), and the bare
INSERTs of the same rows through psycopg2. The load average is printed: the machine may be shared.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from generate import scratch_database  # noqa: E402
from measure import process_cpu_seconds  # noqa: E402
from sqlalchemy import create_engine, func, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from grids.apikeys import create_key  # noqa: E402
from grids.demo import load_demo  # noqa: E402
from grids.models import Division  # noqa: E402
from webapp.cli import DEFAULT_WORKERS  # noqa: E402

CITY, YOUBU = "330781", "330781102"


def prepare(url: str) -> tuple[str, tuple[float, float]]:
    """The demo city with 游埠镇's grids, an unthrottled key, and a point inside 游埠镇."""
    engine = create_engine(url)
    with Session(engine) as session, session.begin():
        load_demo(session, grid_townships=(YOUBU,))
        raw = create_key(session, CITY, "bench", "dispatcher", rate_per_minute=10_000_000)[1]
        point = session.execute(select(func.ST_X(func.ST_PointOnSurface(Division.geom)),
                                       func.ST_Y(func.ST_PointOnSurface(Division.geom)))
                                .where(Division.code == YOUBU)).one()
    with engine.connect() as conn:  # autovacuum would analyse within a minute; the bench starts at once
        conn.execute(text("ANALYZE"))
        conn.commit()
    engine.dispose()
    return raw, tuple(point)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serve(url: str, workers: int, threads: int) -> Iterator[tuple[int, int]]:
    """`gridlink serve` in its own processes, as in production: the clients' threads then do not share the
    server's interpreter lock. The sweeper is off so only intake is measured."""
    port = free_port()
    env = {**os.environ, "DATABASE_URL": url, "GRIDLINK_MODE": "demo", "GRIDLINK_CITY": CITY,
           "GRIDLINK_SWEEP_SECONDS": "0"}
    gridlink = Path(sys.executable).with_name("gridlink")
    server = subprocess.Popen([str(gridlink), "serve", "--port", str(port), "--workers", str(workers),
                               "--threads", str(threads)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                http.client.HTTPConnection("127.0.0.1", port, timeout=1).request("GET", "/healthz")
                break
            except OSError:
                time.sleep(0.1)
        yield port, server.pid
    finally:
        server.terminate()
        server.wait(timeout=10)


Request = tuple[str, str, str | None, dict[str, str]]  # method, path, body, headers
Latencies = list[float]
failures: list[str] = []


def intake_request(raw: str, point: tuple[float, float]) -> Callable[[], Request]:
    """A new report each call: same place and category, a fresh Idempotency-Key (no replays)."""
    body = json.dumps({"category": "E0101", "lon": point[0], "lat": point[1], "description": "bench"})
    return lambda: ("POST", "/api/v1/incidents", body, {
        "Authorization": f"Bearer {raw}", "Content-Type": "application/json", "Idempotency-Key": uuid.uuid4().hex})


def health_request() -> Request:
    return "GET", "/healthz", None, {}


def client(port: int, make: Callable[[], Request], count: int, latencies: Latencies) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port)
    for _ in range(count):
        method, path, body, headers = make()
        started = time.perf_counter()
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        latencies.append(time.perf_counter() - started)
        if response.status not in (200, 201):  # recorded, not raised: an exception would end only this thread
            failures.append(f"{method} {path}: {response.status}")
            break
    conn.close()


def drive(port: int, make: Callable[[], Request], requests: int, clients: int) -> tuple[float, Latencies, float]:
    """(requests per second, sorted latencies, the clients' CPU seconds per request) of `clients` keep-alive
    connections sharing `requests`."""
    latencies: Latencies = []
    workers = [threading.Thread(target=client, args=(port, make, requests // clients, latencies))
               for _ in range(clients)]
    started, cpu = time.perf_counter(), time.process_time()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if failures:
        raise SystemExit(f"{len(failures)} clients stopped on an error, first: {failures[0]}")
    return (len(latencies) / (time.perf_counter() - started), sorted(latencies),
            (time.process_time() - cpu) / len(latencies))


def summary(rate: float, latencies: Latencies) -> str:
    p50, p99 = statistics.median(latencies), latencies[int(len(latencies) * 0.99) - 1]
    return f"{rate:.0f}/s, p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms"


def baseline(url: str, point: tuple[float, float], requests: int) -> float:
    """The same case row and event row through one plain psycopg2 connection, one transaction each."""
    import psycopg2

    conn = psycopg2.connect(make_url(url).render_as_string(hide_password=False).replace("+psycopg2", ""))
    cur = conn.cursor()
    cur.execute("SELECT id FROM categories WHERE city_code = %s AND code = 'E0101'", (CITY,))
    category = cur.fetchone()[0]
    started = time.perf_counter()
    for _ in range(requests):
        cur.execute("INSERT INTO incidents (city_code, source, category_id, status, description, location, version,"
                    " needs_triage, extensions) VALUES (%s, 'bench', %s, 'reported', 'bench',"
                    " ST_SetSRID(ST_Point(%s, %s), 4326), 1, false, 0) RETURNING id", (CITY, category, *point))
        cur.execute("INSERT INTO case_events (city_code, incident_id, seq, action, to_status)"
                    " VALUES (%s, %s, 1, 'report', 'reported')", (CITY, cur.fetchone()[0]))
        conn.commit()
    elapsed = time.perf_counter() - started
    conn.close()
    return requests / elapsed


def cpu_seconds(pids: list[str]) -> dict[str, float]:
    """CPU seconds used so far by each of these processes (Linux /proc): unlike wall time, hardly inflated
    when other work shares the cores."""
    return {pid: process_cpu_seconds(pid) for pid in pids}


def spent(before: dict[str, float], after: dict[str, float]) -> float:
    """CPU seconds between two readings; a process started in between counts from its start."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


def workers_of(master: int) -> list[str]:
    return Path(f"/proc/{master}/task/{master}/children").read_text().split()


def backends_of(url: str) -> list[str]:
    """The server's database connections (pooled, so they outlive requests), when the cluster is local."""
    engine = create_engine(url)
    with engine.connect() as conn:
        pids = conn.scalars(text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                                 " AND pid <> pg_backend_pid()")).all()
    engine.dispose()
    return [str(pid) for pid in pids if Path(f"/proc/{pid}").exists()]


def statements_per_case(url: str, raw: str, point: tuple[float, float]) -> int:
    """SQL statements one report sends (in-process test client, counted by an engine event): independent of
    the machine's load, so a regression shows even on a busy machine."""
    from sqlalchemy import event

    from webapp import create_app

    app = create_app({"DATABASE_URL": url, "GRIDLINK_MODE": "demo", "GRIDLINK_CITY": CITY})
    engine = app.extensions["gridlink.sessions"].kw["bind"]
    client, make, counted = app.test_client(), intake_request(raw, point), []
    event.listen(engine, "before_cursor_execute", lambda *args: counted.append(1))
    for _ in range(2):  # the second report is counted: the first one warms the pool
        counted.clear()
        method, path, body, headers = make()
        assert client.open(path, method=method, data=body, headers=headers).status_code == 201
    engine.dispose()
    return len(counted)


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    requests = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    clients = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    workers = int(sys.argv[3]) if len(sys.argv) > 3 else DEFAULT_WORKERS
    socket.setdefaulttimeout(30)
    print(f"before: {load()} on {os.cpu_count()} cpus")
    with scratch_database() as url:
        raw, point = prepare(url)
        with serve(url, workers=workers, threads=-(-clients // workers)) as (port, master):
            make = intake_request(raw, point)
            drive(port, make, clients * 10, clients)  # warm up pools and caches in every worker
            workers_cpu, database_cpu = cpu_seconds(workers_of(master)), cpu_seconds(backends_of(url))
            rate, latencies, client_cpu = drive(port, make, requests, clients)
            case_cpu = spent(workers_cpu, cpu_seconds(workers_of(master))) / len(latencies)
            backends = backends_of(url)
            case_db_cpu = spent(database_cpu, cpu_seconds(backends)) / len(latencies)
            during = load()
            workers_cpu = cpu_seconds(workers_of(master))
            health_rate, health_latencies, _ = drive(port, health_request, requests, clients)
            health_cpu = spent(workers_cpu, cpu_seconds(workers_of(master))) / len(health_latencies)
        bare = baseline(url, point, requests)
        statements = statements_per_case(url, raw, point)
    print(f"intake: {len(latencies)} cases, {clients} clients, {workers} workers: {summary(rate, latencies)}"
          f" (target >= 300/s, p99 < 50 ms); {during}")
    total = case_cpu + case_db_cpu + client_cpu
    print(f"  CPU per case: {case_cpu * 1000:.1f} ms in the workers, {case_db_cpu * 1000:.1f} ms in the database"
          f" ({len(backends)} pooled connections), {client_cpu * 1000:.1f} ms in the bench's clients;"
          f" {statements} SQL statements")
    print(f"  the cores' ceiling: {total * 1000:.1f} ms of CPU per case -> at most {os.cpu_count() / total:.0f}/s"
          f" on {os.cpu_count()} cores with every one busy")
    print(f"GET /healthz, same server and clients: {summary(health_rate, health_latencies)},"
          f" worker CPU {health_cpu * 1000:.2f} ms per request")
    print(f"  intake vs healthz: {health_rate / rate:.1f}x the time, {case_cpu / health_cpu:.0f}x the worker CPU")
    print(f"bare INSERT (case + event, one connection): {bare:.0f} rows/s; ratio bare/intake = {bare / rate:.1f}x")
    print(f"after: {load()}")


if __name__ == "__main__":
    main()
