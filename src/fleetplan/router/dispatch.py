"""The gateway's ASGI entry: its two proxied endpoints go straight to their handler."""

from __future__ import annotations

from typing import Any

_PATHS = {"/v1/chat/completions": "chat/completions", "/v1/completions": "completions"}
_SERVED = (
    "POST /v1/chat/completions, POST /v1/completions, GET /v1/models, GET /health, GET /metrics"
)


async def _route_error(request: Any, exc: Any) -> Any:
    """An unknown path (404) or method (405) in OpenAI's error shape, as every other refusal:
    clients read `error.message`, not Starlette's plain-text "Not Found"."""
    from starlette.responses import JSONResponse

    from fleetplan.router.relay import error_body

    asked = f"{request.method} {request.url.path[:100]}"
    if exc.status_code == 405:
        msg, code = f"{asked}: method not allowed; this gateway serves {_SERVED}", "bad_method"
    else:
        msg, code = f"{asked}: no such endpoint; this gateway serves {_SERVED}", "unknown_url"
    body = error_body(msg, "invalid_request_error", code)
    return JSONResponse(body, exc.status_code, headers=getattr(exc, "headers", None))


ROUTE_ERRORS = {404: _route_error, 405: _route_error}


class Dispatch:
    """The gateway's ASGI app: the two proxied endpoints straight to their handler, everything
    else (the small endpoints, other methods, lifespan) through Starlette.

    A proxied request needs none of Starlette's layers: its handler answers every error itself
    (a gateway bug included, as a 500), and each streamed chunk would otherwise pass through
    three wrappers of `send` on its way out."""

    def __init__(self, app: Any, proxy: Any) -> None:
        from starlette.requests import Request

        self.app, self.proxy, self.request = app, proxy, Request

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        path = _PATHS.get(scope["path"]) if scope["type"] == "http" else None
        if path is None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        response = await self.proxy(self.request(scope, receive), path)
        await response(scope, receive, send)
