"""The `gridlink` console script over the domain commands plus `serve`.

Why a plain click group: the commands must work (and `--help` must print) before any configuration
exists, e.g. `gridlink db up` on a fresh machine. create_app() also registers them on `app.cli`, so
`flask --app wsgi db status` works too.
"""

from __future__ import annotations

import logging
import threading

import click
from sqlalchemy.orm import Session, sessionmaker

from grids.cli import COMMANDS, fail_cleanly
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


@main.command("serve")
@click.option("--host", default="127.0.0.1", envvar="GRIDLINK_HOST", show_default=True)
@click.option("--port", type=int, default=5000, envvar="GRIDLINK_PORT", show_default=True)
@click.option("--threads", type=int, default=8, show_default=True)
@fail_cleanly
def serve(host: str, port: int, threads: int) -> None:
    """Serve the web app with waitress (a production WSGI server, never Flask's development server)."""
    from waitress import serve as waitress_serve

    from webapp import create_app

    app = create_app()
    start_sweeper(app.extensions["gridlink.sessions"], app.config["GRIDLINK_SWEEP_SECONDS"])
    click.echo(f"gridlink serving on http://{host}:{port}")
    waitress_serve(app, host=host, port=port, threads=threads, ident="gridlink")


ALL_COMMANDS = [*COMMANDS, serve]
for command in ALL_COMMANDS:
    if command is not serve:
        main.add_command(command)
