"""`fleetplan serve`: the planning web app and its HTTP API (optional extra `web`)."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from fleetplan.cli import app
from fleetplan.cli.options import HostOpt, PortOpt
from fleetplan.errors import InputError


@app.command()
def serve(
    host: HostOpt = "127.0.0.1",
    port: PortOpt = 8000,
    token_env: Annotated[
        str | None,
        typer.Option(help="Environment variable holding a bearer token that /api/* then requires."),
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Log as JSON lines on stderr (time, level, message).")
    ] = False,
) -> None:
    """Serve the planning page at / and the HTTP API at /api (OpenAPI docs at /docs)."""
    if not 1 <= port <= 65535:
        raise InputError(f"--port = {port}; accepted: 1 to 65535")
    token = None
    if token_env is not None:
        token = os.environ.get(token_env)
        if not token:
            raise InputError(f"--token-env = {token_env!r}: that environment variable is unset")
    try:
        from fleetplan.web.api import serve as run
    except ImportError as exc:
        raise InputError(
            f"fleetplan serve needs the web extra ({exc.name} is missing): "
            "pip install 'fleetplan[web]'"
        ) from None
    run(host, port, token, json_out)
