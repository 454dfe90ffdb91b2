"""The request log: one SQLite row per client request, written by a background thread.

Rows hold the provider, model, status, attempts, tokens, latency and cost — never a key, a
prompt or a completion. Writes are batched off the event loop so logging adds no latency: the
writer lingers ``LINGER_S`` after a row arrives and commits whatever came meanwhile, so a busy
gateway wakes it and commits a few times a second, not once per request (each wake-up takes the
GIL from the event loop, and each commit syncs the file). ``flush`` waits for what was written.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
import time
from dataclasses import dataclass, fields
from operator import attrgetter
from pathlib import Path


@dataclass(frozen=True)
class LogRow:
    ts_s: float
    request_id: str
    model: str
    provider: str  # "" when no provider served it
    status: int
    attempts: int
    stream: int
    input_tokens: int
    output_tokens: int
    latency_ms: float
    ttft_ms: float | None
    cost_usd: float
    overflow: int
    error: str
    key_id: str = ""  # the virtual key that made the request; "" for the gateway key


_COLS = [f.name for f in fields(LogRow)]
_VALUES = attrgetter(*_COLS)  # a row's values in column order
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS requests ("
    "ts_s REAL, request_id TEXT, model TEXT, provider TEXT, status INTEGER, attempts INTEGER, "
    "stream INTEGER, input_tokens INTEGER, output_tokens INTEGER, latency_ms REAL, "
    "ttft_ms REAL, cost_usd REAL, overflow INTEGER, error TEXT, key_id TEXT DEFAULT '')"
)


def connect(path: str | Path) -> sqlite3.Connection:
    """A connection that waits for other writers (several worker processes share one file)."""
    con = sqlite3.connect(path, timeout=30.0)
    con.execute("PRAGMA journal_mode=WAL")
    return con


LINGER_S = 0.05  # the request log's writer: how long it lets rows gather before a commit


def drain(q: queue.Queue, linger_s: float = 0.0) -> tuple[list, bool]:  # type: ignore[type-arg]
    """Wait for one item, then (after `linger_s`, unless it was a stop) take every item
    waiting: (the items, whether a None — stop — was among them). Writers batch what piled up
    while they wrote or lingered."""
    batch = [q.get()]
    if linger_s > 0 and batch[0] is not None:
        time.sleep(linger_s)
    while True:
        try:
            batch.append(q.get_nowait())
        except queue.Empty:
            break
    items = [x for x in batch if x is not None]
    return items, len(items) < len(batch)


class RequestLog:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._q: queue.Queue[LogRow | None] = queue.Queue()
        self._cond = threading.Condition()
        self._written = 0
        self._done = 0
        con = connect(self.path)
        con.execute(_SCHEMA)
        cols = {r[1] for r in con.execute("PRAGMA table_info(requests)")}
        if "key_id" not in cols:  # a log written before virtual keys
            con.execute("ALTER TABLE requests ADD COLUMN key_id TEXT DEFAULT ''")
        con.commit()
        con.close()
        self._thread = threading.Thread(target=self._run, name="fleetplan-request-log", daemon=True)
        self._thread.start()

    def write(self, row: LogRow) -> None:
        with self._cond:
            self._written += 1
        self._q.put(row)

    def _run(self) -> None:
        con = connect(self.path)
        # WAL with synchronous=NORMAL: a commit is not synced to disk (the WAL is, at each
        # checkpoint), so the writer spends no fsync per batch. An application crash loses
        # nothing committed; a power cut may lose the last commits — what lingers unwritten
        # in the queue is lost in a crash anyway.
        con.execute("PRAGMA synchronous=NORMAL")
        sql = f"INSERT INTO requests ({', '.join(_COLS)}) VALUES ({', '.join('?' * len(_COLS))})"
        stop = False
        while not stop:
            got, stop = drain(self._q, LINGER_S)
            rows = [_VALUES(r) for r in got]
            if rows:
                con.executemany(sql, rows)
                con.commit()
            with self._cond:
                self._done += len(rows)
                self._cond.notify_all()
        con.close()

    def flush(self, timeout_s: float = 10.0) -> None:
        """Wait until every row written so far is in the file."""
        with self._cond:
            target = self._written
            self._cond.wait_for(lambda: self._done >= target, timeout=timeout_s)

    def close(self) -> None:
        self._q.put(None)
        self._thread.join(timeout=10.0)
