"""`fleetplan serve`: the planning web app and its HTTP API (optional extra `web`)."""

from __future__ import annotations

import os

import click

from fleetplan.cli import app
from fleetplan.cli.options import host_opt, port_opt
from fleetplan.errors import InputError


@app.command("serve")
@host_opt(default="127.0.0.1")
@port_opt(default=8000)
@click.option(
    "--token-env", help="Environment variable holding a bearer token that /api/* then requires."
)
@click.option(
    "--json", "json_out", is_flag=True, help="Log as JSON lines on stderr (time, level, message)."
)
def serve(
    host: str,
    port: int,
    token_env: str | None,
    json_out: bool,
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
