"""One attempt at one upstream provider: send, classify the outcome, read the stream's events.

An attempt fails *before commit* (connect error, timeout, 5xx, 429, rejected credentials, a
non-JSON body, a stream that ends before its first event) and the gateway may then try another
provider; or it is *committed* (a full non-streamed body, or a stream's first event in hand),
after which a failure is the client's to see — never a silent truncation or a duplicate.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from fleetplan.router.config import Provider
from fleetplan.router.json_codec import dumps, loads

RETRYABLE_STATUS = frozenset({401, 403, 408, 409, 425, 429, 500, 502, 503, 504})


class AttemptFailed(Exception):
    """A provider failed before anything was committed; another provider may be tried."""

    def __init__(self, reason: str, retry_after_s: float | None = None, health: bool = True):
        super().__init__(reason)
        self.reason = reason
        self.retry_after_s = retry_after_s
        self.health = health  # whether the breaker should count it


class ClientFault(Exception):
    """The upstream refused the request itself (4xx other than auth/rate): pass it through."""

    def __init__(self, status: int, body: bytes):
        super().__init__(status)
        self.status = status
        self.body = body


@dataclass
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    reported: bool = False
    chunks: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def take(self, data: Any) -> None:
        u = data.get("usage") if isinstance(data, dict) else None
        if isinstance(u, dict) and "prompt_tokens" in u:
            self.input_tokens = int(u.get("prompt_tokens") or 0)
            self.output_tokens = int(u.get("completion_tokens") or 0)
            self.reported = True


def retry_after_s(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); None if absent/bad."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


@dataclass(frozen=True)
class Outgoing:
    """A request ready for an upstream: POST `content` to `url`."""

    url: str
    headers: dict[str, str]
    content: bytes
    connect_s: float  # connecting, or waiting for a pooled connection


def upstream_request(p: Provider, path: str, payload: dict[str, Any]) -> Outgoing:
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if key := p.api_key():
        headers["Authorization"] = f"Bearer {key}"
    return Outgoing(f"{p.base_url}/{path}", headers, dumps(payload), p.timeouts.connect_s)


def session() -> Any:
    """The gateway's HTTP client to its upstreams (aiohttp: its pool costs O(1) per request,
    where httpx's scanned every connection). Lines up to 1 MiB in a stream."""
    import aiohttp

    # idle connections are dropped after 4 s, before model servers on uvicorn close theirs (5 s):
    # a request sent on a connection the server is closing fails without an answer
    connector = aiohttp.TCPConnector(limit=1000, limit_per_host=0, keepalive_timeout=4.0)
    # no cookie jar: a cookie one upstream sets (a load balancer's, say) must not ride along on
    # every later client's requests
    return aiohttp.ClientSession(
        connector=connector,
        trust_env=False,
        read_bufsize=1 << 20,
        cookie_jar=aiohttp.DummyCookieJar(),
    )


def close(resp: Any) -> None:
    """Done with a response: its connection goes back to the pool if the body was read to the
    end, otherwise it is closed."""
    resp.release()


def _classify_status(resp: Any) -> None:
    s = resp.status
    if s == 200:
        return
    if s == 429:
        raise AttemptFailed("HTTP 429", retry_after_s(resp.headers.get("retry-after")))
    if s in (401, 403):
        raise AttemptFailed(f"HTTP {s}: upstream rejected the gateway's credentials")
    if s in RETRYABLE_STATUS or s >= 500:
        raise AttemptFailed(f"HTTP {s}")
    raise ClientFault(s, b"")


async def send(client: Any, out: Outgoing, timeout_s: float) -> Any:
    """Send and return the open response (status 200); raise AttemptFailed/ClientFault."""
    import aiohttp

    t = aiohttp.ClientTimeout(total=None, connect=out.connect_s, sock_connect=out.connect_s)
    try:
        async with asyncio.timeout(timeout_s):
            resp = await client.post(
                out.url, data=out.content, headers=out.headers, timeout=t, allow_redirects=False
            )
    except aiohttp.ClientConnectorError:
        raise AttemptFailed("connect error") from None
    except aiohttp.ClientError as exc:
        raise AttemptFailed(f"transport error ({type(exc).__name__})") from None
    except TimeoutError:
        raise AttemptFailed(f"timeout: no response headers within {timeout_s:g} s") from None
    try:
        _classify_status(resp)
    except ClientFault as fault:
        body = await _read_all(resp, timeout_s)
        close(resp)
        raise ClientFault(fault.status, body) from None
    except AttemptFailed:
        close(resp)
        raise
    return resp


async def _read_all(resp: Any, timeout_s: float) -> bytes:
    import aiohttp

    try:
        async with asyncio.timeout(timeout_s):
            return bytes(await resp.read())
    except aiohttp.ClientError as exc:
        raise AttemptFailed(f"transport error while reading ({type(exc).__name__})") from None
    except TimeoutError:
        raise AttemptFailed(f"timeout: body not complete within {timeout_s:g} s") from None


async def read_json(resp: Any, timeout_s: float, adapter: Any = None) -> tuple[bytes, Usage]:
    """Read a whole non-streamed response; its body (OpenAI format) and usage."""
    try:
        body = await _read_all(resp, timeout_s)
    finally:
        close(resp)
    try:
        data = loads(body)
    except ValueError:
        raise AttemptFailed("upstream answered 200 with a body that is not JSON") from None
    if adapter is not None:
        data = adapter.response_to_openai(data)
        body = json.dumps(data).encode()
    if not isinstance(data, dict) or "choices" not in data:
        raise AttemptFailed("upstream answered 200 without `choices`")
    usage = Usage()
    usage.take(data)
    return body, usage


_MAX_LINE_BYTES = 1 << 20


def _event(block: bytes) -> tuple[bytes, str | None]:
    """One event's block (its lines, without the blank line): (raw event, data payload)."""
    if b"\r" in block:
        block = b"\n".join(line.rstrip(b"\r") for line in block.split(b"\n"))
    if b"\n" not in block:  # the usual event: one line
        data = block[5:].lstrip(b" ").decode("utf-8", "replace") if block[:5] == b"data:" else None
        return block + b"\n\n", data
    parts = [line[5:].lstrip(b" ") for line in block.split(b"\n") if line[:5] == b"data:"]
    return block + b"\n\n", (b"\n".join(parts).decode("utf-8", "replace") if parts else None)


Event = tuple[bytes, str | None]  # one server-sent event: (its raw bytes, its data or None)


async def sse_batches(resp: Any) -> AsyncIterator[list[Event]]:
    """Yield the server-sent events that arrived together, one list per read of the body.

    Reads whatever has arrived and splits it in bulk (bytes; one decode per event's data), not
    a coroutine and a decode per line: at a few hundred streams in flight, per-line work on the
    event loop delays every other stream's next chunk. Events that arrived together can be
    relayed to the client in one write."""
    buf = b""
    try:
        async for piece in resp.content.iter_any():
            buf = buf + piece if buf else piece
            if b"\r\n" in buf:
                buf = buf.replace(b"\r\n", b"\n")
            start = 0
            batch = []
            while (end := buf.find(b"\n\n", start)) >= 0:
                block = buf[start:end].lstrip(b"\n")
                start = end + 2
                if block:
                    batch.append(_event(block))
            buf = buf[start:]
            if len(buf) > _MAX_LINE_BYTES and len(buf) - buf.rfind(b"\n") > _MAX_LINE_BYTES:
                raise ValueError("line too long")
            if batch:
                yield batch
    except ValueError:  # a line longer than the read buffer
        raise AttemptFailed("a stream line over 1 MiB") from None
    block = buf.strip(b"\n")
    if block:  # a last event without its blank line
        yield [_event(block)]


async def sse_events(resp: Any) -> AsyncIterator[Event]:
    """Yield (raw event bytes, data payload or None) for each server-sent event."""
    async for batch in sse_batches(resp):
        for event in batch:
            yield event


async def finish_body(resp: Any, timeout_s: float, max_bytes: int = 1 << 16) -> None:
    """Read what is left of a stream that ended (usually just the terminating chunk, which may
    arrive after `[DONE]`), then release it: a response read to its end hands its connection
    back to the pool, where one released early would close it. Gives up past `timeout_s` or
    `max_bytes` (the connection is then closed)."""
    import aiohttp

    content = resp.content
    try:
        if not content.at_eof():
            async with asyncio.timeout(timeout_s):
                left = max_bytes
                while left > 0 and (piece := await content.readany()):
                    left -= len(piece)
    except (TimeoutError, aiohttp.ClientError):
        pass
    finally:
        close(resp)
