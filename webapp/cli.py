"""The `gridlink` console script over the domain commands plus `serve`.

Why a plain click group: the commands must work (and `--help` must print) before any configuration
exists, e.g. `gridlink db up` on a fresh machine. create_app() also registers them on `app.cli`, so
`flask --app wsgi db status` works too.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

import click
from gunicorn.app.base import BaseApplication
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from grids.cli import COMMANDS, command_session, fail_cleanly
from grids.workflow import sweep_if_free

log = logging.getLogger("gridlink.sweeper")


@click.group()
def main() -> None:
    """gridlink: GIS platform for city urban-management grid work (网格化城市管理)."""


def _sweep_forever(sessions: sessionmaker[Session], seconds: int, stop: threading.Event) -> None:
    """One transaction per round; a failed round (database restarting) is logged and retried next round."""
    while not stop.wait(seconds):
        try:
            with sessions() as session, session.begin():
                escalated = sweep_if_free(session)
            if escalated:
                log.info("escalated %d overdue cases", len(escalated))
        except Exception:
            log.exception("overdue sweep failed; retrying in %ss", seconds)


def start_sweeper(sessions: sessionmaker[Session], seconds: int) -> threading.Event | None:
    """Run the sweep every `seconds` in a daemon thread (serve only: tests and create_app never start it)."""
    if seconds <= 0:
        return None
    stop = threading.Event()
    threading.Thread(target=_sweep_forever, args=(sessions, seconds, stop), name="gridlink-sweeper",
                     daemon=True).start()
    return stop


class _Server(BaseApplication):  # type: ignore[misc]
    """gunicorn run from `gridlink serve`: its options come from our flags, not from gunicorn's command line."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for name, value in self.options.items():
            self.cfg.set(name, value)

    def load(self) -> Any:
        """Runs in each worker after the fork, so no database connection or thread is shared across processes.

        Every worker starts the sweeper thread; that is safe because a sweep round takes a transaction-scoped
        advisory lock (grids.workflow.sweep_if_free): exactly one process sweeps at a time, the others skip.
        """
        from webapp import create_app

        app = create_app()
        start_sweeper(app.extensions["gridlink.sessions"], app.config["GRIDLINK_SWEEP_SECONDS"])
        return app


def _log_to_stderr() -> None:
    """gridlink's own log lines (escalations by the sweeper, refused cases) on stderr beside gunicorn's, with
    their time and process: without a handler Python shows warnings only, and no sweep was ever on record."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s"))
    logger = logging.getLogger("gridlink")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)


def _warn_of_unknown_years(city_code: str) -> None:
    """A year about to start that no holiday data knows is said when the server starts (the dispatch page
    says it too); a database not reachable yet is the workers' to report."""
    from grids.calendar import gap_warning, unknown_years
    from grids.errors import DomainError
    from grids.layouts import city_date

    try:
        with command_session() as session:
            years = unknown_years(session, city_code, city_date(session, city_code))
    except (DomainError, SQLAlchemyError):
        return
    if years:
        logging.getLogger("gridlink.calendar").warning(gap_warning(years))


#: One worker more than the cores: while one waits on the database another runs Python (bench/intake.py on
#: 2 cores, paired runs: 3 workers took 18-20% more cases per second than 2).
DEFAULT_WORKERS = (os.cpu_count() or 1) + 1


@main.command("serve")
@click.option("--host", default="127.0.0.1", envvar="GRIDLINK_HOST", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=5000, envvar="GRIDLINK_PORT", show_default=True)
@click.option("--workers", type=click.IntRange(min=1), default=DEFAULT_WORKERS, envvar="GRIDLINK_WORKERS",
              show_default="the number of CPU cores + 1", help="Worker processes.")
@click.option("--threads", type=click.IntRange(min=1), default=4, envvar="GRIDLINK_THREADS", show_default=True,
              help="Threads per worker process.")
@fail_cleanly
def serve(host: str, port: int, workers: int, threads: int) -> None:
    """Serve the web app with gunicorn: `workers` processes of `threads` threads (never Flask's dev server).

    Why processes: the interpreter lock lets one process use one core, and a report is Python-bound.
    """
    from webapp.config import load_config

    config = load_config()  # a missing setting fails here in one line, not as a crash loop in every worker
    _log_to_stderr()
    _warn_of_unknown_years(config["GRIDLINK_CITY"])
    click.echo(f"gridlink serving on http://{host}:{port} ({workers} workers x {threads} threads)")
    _Server({"bind": f"{host}:{port}", "workers": workers, "threads": threads, "worker_class": "gthread",
             "proc_name": "gridlink", "control_socket_disable": True,
             # gunicorn's longest: an Open311 list of ~400 ids, not its own HTML 414 page at ~4 KB
             "limit_request_line": 8190}).run()


ALL_COMMANDS = [*COMMANDS, serve]
for command in ALL_COMMANDS:
    if command is not serve:
        main.add_command(command)
