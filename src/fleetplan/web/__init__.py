"""`fleetplan serve`: the planning web app and its HTTP API (optional extra `web`).

- `bridge`: runs a `fleetplan` command in-process and returns what it prints, so every
  endpoint answers exactly what the command line answers;
- `jobs`: simulation jobs with progress, bounded in number and work;
- `api`: the FastAPI application (routes, limits, token, version header, static page);
- `static/`: the page, its script and the vendored chart library (no CDN: works offline).
  The static `plan --format html` report embeds the same chart script, so this package is
  importable without the extra; only `api` needs it.
"""

from __future__ import annotations

from typing import Any


def create_app(*args: Any, **kwargs: Any) -> Any:
    """The FastAPI app (see `fleetplan.web.api.create_app`); needs the `web` extra."""
    from fleetplan.web.api import create_app as make

    return make(*args, **kwargs)


__all__ = ["create_app"]
