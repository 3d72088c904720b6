"""The `gridlink` console script over the domain commands plus `serve`.

Why a plain click group: the commands must work (and `--help` must print) before any configuration
exists, e.g. `gridlink db up` on a fresh machine. create_app() also registers them on `app.cli`, so
`flask --app wsgi db status` works too.
"""

from __future__ import annotations

import click

from grids.cli import COMMANDS, fail_cleanly


@click.group()
def main() -> None:
    """gridlink: GIS platform for city urban-management grid work (网格化城市管理)."""


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
    click.echo(f"gridlink serving on http://{host}:{port}")
    waitress_serve(app, host=host, port=port, threads=threads, ident="gridlink")


ALL_COMMANDS = [*COMMANDS, serve]
for command in ALL_COMMANDS:
    if command is not serve:
        main.add_command(command)
