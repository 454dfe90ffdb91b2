"""The two Redis scripts every request runs (admit, settle), on one multiplexed connection.

redis-py checks a connection out of its pool for each command, runs it through its retry and
event machinery, and wakes the event loop once per reply: about 110 µs of CPU per command here,
most of what the gateway spends on Redis (two scripts per request). Redis answers the commands
on a connection in the order they were sent, so every script in flight can share one
connection: commands are written as they come (those of one event-loop round in one write) and
the replies that arrive together are handed to their waiters in order, in one wake-up.

Only these scripts go this way — their replies are integers, or errors — and only over plain
TCP or a Unix socket (``rediss://`` and URL options other than the database and credentials
keep redis-py for everything). A reply not seen within ``timeout_s`` of its command fails every
command in flight and drops the connection (replies on it can no longer be matched); the next
command connects again.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

_PLAIN = {"host", "port", "db", "username", "password", "path"}


def _bulk(x: bytes) -> bytes:
    return b"$%d\r\n%b\r\n" % (len(x), x)


def command(*parts: bytes) -> bytes:
    """A command in RESP: an array of bulk strings."""
    return b"*%d\r\n" % len(parts) + b"".join(map(_bulk, parts))


class _Protocol(asyncio.Protocol):
    def __init__(self, pipe: ScriptPipe) -> None:
        self.pipe = pipe

    def data_received(self, data: bytes) -> None:
        self.pipe.replies(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.pipe.lost(self)


class ScriptPipe:
    """Scripts on one connection, many in flight; made by `from_url` (None: use redis-py)."""

    def __init__(self, where: dict[str, Any], timeout_s: float) -> None:
        self._where = where
        self._timeout_s = timeout_s
        self.loop: asyncio.AbstractEventLoop | None = None  # the loop the connection lives on
        self._transport: Any = None
        self._protocol: _Protocol | None = None
        self._connecting: asyncio.Future[None] | None = None
        self._waiting: deque[tuple[float, asyncio.Future[Any]]] = deque()
        self._out: list[bytes] = []
        self._buf = b""
        self._timer: asyncio.TimerHandle | None = None

    @classmethod
    def from_url(cls, url: str, timeout_s: float) -> ScriptPipe | None:
        from redis.asyncio.connection import UnixDomainSocketConnection, parse_url

        where = parse_url(url)
        kind = where.pop("connection_class", None)
        if kind not in (None, UnixDomainSocketConnection) or not set(where) <= _PLAIN:
            return None
        return cls(where, timeout_s)

    async def script(self, sha: str, text: str, keys: list[str], args: list[str]) -> Any:
        """EVALSHA, or EVAL when Redis does not have the script (after a restart or a flush)."""
        from redis.exceptions import NoScriptError

        tail = [str(len(keys)).encode(), *(k.encode() for k in keys), *(a.encode() for a in args)]
        try:
            return await self.send(command(b"EVALSHA", sha.encode(), *tail))
        except NoScriptError:
            return await self.send(command(b"EVAL", text.encode(), *tail))

    async def send(self, cmd: bytes) -> Any:
        if self._transport is None:
            await self._connect()
            if self._transport is None:  # connected, and lost again before this ran
                raise ConnectionError("connection to Redis lost")
        return await self._queue(cmd)

    def _queue(self, cmd: bytes) -> asyncio.Future[Any]:
        loop = self.loop
        assert loop is not None
        fut = loop.create_future()
        self._waiting.append((loop.time(), fut))
        if not self._out:
            loop.call_soon(self._flush)
        self._out.append(cmd)
        if self._timer is None:
            self._timer = loop.call_at(loop.time() + self._timeout_s, self._due)
        return fut

    def _flush(self) -> None:
        out, self._out = self._out, []
        if out and self._transport is not None and not self._transport.is_closing():
            self._transport.write(b"".join(out))

    async def _connect(self) -> None:
        if self._connecting is None:
            self.loop = asyncio.get_running_loop()
            self._connecting = self.loop.create_future()
            task = self.loop.create_task(self._open())
            task.add_done_callback(self._opened)
        await asyncio.shield(self._connecting)

    async def _open(self) -> None:
        loop, w = self.loop, self._where
        assert loop is not None
        async with asyncio.timeout(self._timeout_s):
            if "path" in w:
                t, p = await loop.create_unix_connection(lambda: _Protocol(self), w["path"])
            else:
                host, port = w.get("host", "localhost"), w.get("port", 6379)
                t, p = await loop.create_connection(lambda: _Protocol(self), host, port)
            self._transport, self._protocol = t, p
            hello = []
            if w.get("password"):
                who = [w["username"].encode()] if w.get("username") else []
                hello.append(self._queue(command(b"AUTH", *who, w["password"].encode())))
            if w.get("db"):
                hello.append(self._queue(command(b"SELECT", str(w["db"]).encode())))
            for f in hello:
                await f

    def _opened(self, task: asyncio.Task[None]) -> None:
        fut, self._connecting = self._connecting, None
        exc = None if task.cancelled() else task.exception()
        if task.cancelled() or exc is not None:
            self._drop(exc or ConnectionError("connect cancelled"))
        if fut is None or fut.done():
            return
        if exc is not None:
            fut.set_exception(exc)
        else:
            fut.set_result(None)

    def replies(self, data: bytes) -> None:
        from redis.exceptions import NoScriptError, ResponseError

        buf = self._buf + data if self._buf else data
        start = 0
        while (end := buf.find(b"\r\n", start)) >= 0:
            line, start = buf[start:end], end + 2
            if not self._waiting or line[:1] not in (b":", b"-", b"+"):
                self._drop(ConnectionError(f"unexpected reply from Redis: {line[:80]!r}"))
                return
            _, fut = self._waiting.popleft()
            if fut.done():  # its caller went away
                continue
            kind = line[:1]
            if kind == b":":
                fut.set_result(int(line[1:]))
            elif kind == b"+":
                fut.set_result(line[1:].decode())
            else:
                msg = line[1:].decode("utf-8", "replace")
                err = NoScriptError if msg.startswith("NOSCRIPT") else ResponseError
                fut.set_exception(err(msg))
        self._buf = buf[start:]

    def _due(self) -> None:
        self._timer = None
        if not self._waiting or self.loop is None:
            return
        due = self._waiting[0][0] + self._timeout_s
        if self.loop.time() + 0.001 >= due:
            self._drop(TimeoutError())
            return
        self._timer = self.loop.call_at(due, self._due)

    def lost(self, protocol: _Protocol) -> None:
        if protocol is self._protocol:
            self._drop(ConnectionError("connection to Redis lost"))

    def _drop(self, exc: BaseException) -> None:
        """Fail every command in flight with `exc` and close the connection."""
        from redis.exceptions import ConnectionError as RedisConnectionError

        t, self._transport, self._protocol = self._transport, None, None
        self._buf, self._out = b"", []
        if t is not None:
            t.abort()
        waiting, self._waiting = self._waiting, deque()
        for _, fut in waiting:
            if not fut.done():
                timeout = isinstance(exc, TimeoutError)
                fut.set_exception(TimeoutError() if timeout else RedisConnectionError(str(exc)))
                fut.exception()  # its caller sees it; one that went away (a handshake) is not news

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._drop(ConnectionError("closed"))
