"""Serving the gateway: uvicorn with a header deadline, one process or ``--workers N``.

uvicorn bounds the idle time between keep-alive requests but not the time a client takes to
send a request's headers, so a few hundred connections trickling header bytes hold sockets
forever. ``HeaderDeadline`` closes a connection whose request headers are not complete within
``header_timeout_s`` of the connection opening (or of the previous response). Body reads are
bounded in the app itself (``gateway.body_timeout_s``, answered 408).

uvicorn writes a response's status line and headers as soon as the app starts it, and its body
in a second write: two system calls per answer, each of which wakes the client. ``Coalesced``
gathers what a connection writes while the event loop runs one round of callbacks and sends it
in one write at the end of that round (before a close), so a response's head and first chunk
leave together; nothing waits for a later event.

With ``--workers N`` uvicorn forks N processes that each build the app from the environment
(``app_from_env``); their limits, circuits and in-flight leases are shared through Redis, which
is therefore required.
"""

from __future__ import annotations

import os
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

ENV_CONFIG = "FLEETPLAN_GATEWAY_CONFIG"
ENV_REDIS = "FLEETPLAN_GATEWAY_REDIS_URL"
ENV_LOG = "FLEETPLAN_GATEWAY_LOG_PATH"
ENV_HEADER_TIMEOUT = "FLEETPLAN_GATEWAY_HEADER_TIMEOUT_S"
DEFAULT_HEADER_TIMEOUT_S = 10.0


class Coalesced:
    """A transport whose writes made in one round of the event loop go out in one write."""

    def __init__(self, transport: Any, loop: Any) -> None:
        self._t = transport
        self._loop = loop
        self._out: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self._out:
            self._loop.call_soon(self._flush)
        self._out.append(data)

    def _flush(self) -> None:
        out = self._out
        if not out:
            return
        self._out = []
        if not self._t.is_closing():  # a client gone: nothing left to send it
            self._t.write(out[0] if len(out) == 1 else b"".join(out))

    def writelines(self, data: Any) -> None:
        for d in data:
            self.write(d)

    def close(self) -> None:
        self._flush()
        self._t.close()

    def get_write_buffer_size(self) -> int:
        return int(self._t.get_write_buffer_size()) + sum(map(len, self._out))

    def __getattr__(self, name: str) -> Any:  # everything else is the socket's transport
        return getattr(self._t, name)


class HeaderDeadline(HttpToolsProtocol):
    """uvicorn's httptools protocol, closing connections whose headers arrive too slowly, with
    its writes coalesced per round of the event loop (`Coalesced`)."""

    timeout_s: float | None = None  # read from the environment once per process

    def _arm(self) -> None:
        self._disarm()
        timeout_s = HeaderDeadline.timeout_s
        if timeout_s is None:
            env = os.environ.get(ENV_HEADER_TIMEOUT)
            timeout_s = HeaderDeadline.timeout_s = float(env or DEFAULT_HEADER_TIMEOUT_S)
        self._header_timer = self.loop.call_later(timeout_s, self._headers_late)

    def _disarm(self) -> None:
        timer = getattr(self, "_header_timer", None)
        if timer is not None:
            timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport: Any) -> None:  # type: ignore[override]
        super().connection_made(Coalesced(transport, self.loop))
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


def app_from_env() -> Any:
    """The ASGI app of one worker process, built from what `fleetplan gateway` put in env."""
    from fleetplan.router.config import load_config
    from fleetplan.router.gateway import build_app

    cfg = load_config(os.environ[ENV_CONFIG])
    gw = build_app(
        cfg, redis_url=os.environ.get(ENV_REDIS) or None, log_path=os.environ.get(ENV_LOG)
    )
    return gw.app


def run(
    config_path: str,
    host: str,
    port: int,
    workers: int,
    redis_url: str | None,
    log_path: str | None,
    header_timeout_s: float,
    json_logs: bool = False,
) -> None:
    """Serve until SIGTERM/SIGINT: in this process, or in `workers` forked processes."""
    import uvicorn

    # read by every connection of every worker (a class, not a closure, so workers can load it)
    os.environ[ENV_HEADER_TIMEOUT] = repr(header_timeout_s)
    common: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": "info",
        "access_log": False,
        "http": HeaderDeadline,
        "timeout_graceful_shutdown": 30,
    }
    if json_logs:
        from fleetplan.json_logs import json_log_config

        common["log_config"] = json_log_config()
    if workers == 1:
        from fleetplan.router.config import load_config
        from fleetplan.router.gateway import build_app

        gw = build_app(load_config(config_path), redis_url=redis_url, log_path=log_path)
        uvicorn.run(gw.app, **common)
        return
    os.environ[ENV_CONFIG] = str(config_path)
    os.environ[ENV_REDIS] = redis_url or ""
    if log_path:
        os.environ[ENV_LOG] = log_path
    uvicorn.run("fleetplan.router.serve:app_from_env", factory=True, workers=workers, **common)
