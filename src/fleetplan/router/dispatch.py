"""The gateway's ASGI entry: its two proxied endpoints go straight to their handler."""

from __future__ import annotations

from typing import Any

_PATHS = {"/v1/chat/completions": "chat/completions", "/v1/completions": "completions"}


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
