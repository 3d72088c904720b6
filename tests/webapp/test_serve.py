"""`gridlink serve` as deployed: gunicorn worker processes answering on a port, and a clean refusal to start."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.grids.test_sweeper import overdue_case
from tests.grids.test_workflow import actor, committed_case, fresh_city_url  # noqa: F401 (fixtures)

GRIDLINK = Path(sys.executable).with_name("gridlink")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def healthz(port: int, attempts: int = 150) -> dict:
    """The first answer of /healthz, waiting for the workers to boot (bounded, not a timing assertion)."""
    for _ in range(attempts):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
                return json.loads(response.read())
        except OSError:
            time.sleep(0.2)
    raise AssertionError("gridlink serve never answered /healthz")


def worker_pids(master: int) -> list[str]:
    return Path(f"/proc/{master}/task/{master}/children").read_text().split()


def test_serve_runs_the_requested_worker_processes_and_answers(database_url: str) -> None:
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "GRIDLINK_MODE": "test", "SECRET_KEY": "test-secret"}
    server = subprocess.Popen([str(GRIDLINK), "serve", "--port", str(port), "--workers", "2", "--threads", "2"],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert healthz(port)["status"] == "ok"
        assert len(worker_pids(server.pid)) == 2
    finally:
        server.send_signal(signal.SIGTERM)
        out, _ = server.communicate(timeout=30)
    assert server.returncode == 0
    assert f"http://127.0.0.1:{port} (2 workers x 2 threads)" in out


def test_serve_refuses_to_start_without_its_settings_in_one_line(database_url: str) -> None:
    env = {**os.environ, "DATABASE_URL": database_url, "GRIDLINK_MODE": "production", "SECRET_KEY": ""}
    done = subprocess.run([str(GRIDLINK), "serve", "--port", str(free_port())], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.startswith("error: ") and "SECRET_KEY" in done.stderr and "Traceback" not in done.stderr


def test_the_servers_sweeper_puts_each_escalation_on_record(committed_case) -> None:  # noqa: F811
    """The overdue sweep inside `gridlink serve` escalates the case and says so in the server's log."""
    url, case_id = committed_case
    overdue_case(url, case_id)
    port = free_port()
    env = {**os.environ, "DATABASE_URL": url, "GRIDLINK_MODE": "test", "SECRET_KEY": "test-secret",
           "GRIDLINK_SWEEP_SECONDS": "1"}
    server = subprocess.Popen([str(GRIDLINK), "serve", "--port", str(port), "--workers", "1", "--threads", "1"],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        healthz(port)
        time.sleep(3)  # a few sweep rounds (not a timing assertion: the log is read after the server stops)
    finally:
        server.send_signal(signal.SIGTERM)
        _, err = server.communicate(timeout=30)
    assert "gridlink.sweeper: escalated 1 overdue cases" in err
