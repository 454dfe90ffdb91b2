"""Virtual keys: one key per client or team, with its own limits, models and monthly budget.

A key is shown once, at creation; the store keeps only its SHA-256 (the keys are 256 random
bits, so a fast hash is enough). Each key may carry requests/min and tokens/min limits (token
buckets in the gateway's shared state, the tokens charged at admission from the request's
estimate and reconciled at its end), the models it may use, and a budget in US dollars per
calendar month (UTC). A request by a key whose month's spend has reached its budget is refused
with 429 and error type ``budget_exceeded``; a revoked key gets 401.

Spend is the router's cost model — the provider's price for the model (the price package for
APIs, reserved GPU-hours over expected tokens for a self-hosted fleet) times the tokens the
upstream reported — charged when a request ends, into a ``spend`` table next to the keys (one
SQLite file that several worker processes share). ``usage`` reads it back per key and month;
``focus_csv`` exports it per key or per team through the FOCUS exporter.
"""

from __future__ import annotations

import hashlib
import queue
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fleetplan.errors import InputError
from fleetplan.router.log import drain

KEY_PREFIX = "fpk-"
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS keys (id TEXT PRIMARY KEY, hash TEXT UNIQUE NOT NULL, "
    "name TEXT NOT NULL, team TEXT NOT NULL, budget_usd_per_month REAL, rpm REAL, tpm REAL, "
    "models TEXT NOT NULL, created_s REAL NOT NULL, revoked_s REAL)",
    "CREATE TABLE IF NOT EXISTS spend (key_id TEXT NOT NULL, month TEXT NOT NULL, "
    "cost_usd REAL NOT NULL, requests INTEGER NOT NULL, input_tokens INTEGER NOT NULL, "
    "output_tokens INTEGER NOT NULL, PRIMARY KEY (key_id, month))",
)
_COLS = "id, name, team, budget_usd_per_month, rpm, tpm, models, created_s, revoked_s"


@dataclass(frozen=True)
class VirtualKey:
    id: str
    name: str
    team: str
    budget_usd_per_month: float | None
    rpm: float | None
    tpm: float | None
    models: tuple[str, ...]  # empty: every model
    created_s: float
    revoked_s: float | None

    def allows(self, model: str) -> bool:
        return not self.models or model in self.models


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def month_of(ts_s: float) -> str:
    return time.strftime("%Y-%m", time.gmtime(ts_s))


def check_new_key(
    name: str, budget_usd_per_month: float | None, rpm: float | None, tpm: float | None
) -> None:
    from fleetplan.validation import check, option_kind

    for option, v in (("budget_usd_per_month", budget_usd_per_month), ("rpm", rpm), ("tpm", tpm)):
        if v is not None:  # the kinds `keys create` checks its options against
            check("--" + option.replace("_", "-"), v, option_kind(option, float))
    if not name.strip():
        raise InputError("--name: give a non-empty name")


def new_key(
    name: str,
    team: str,
    budget_usd_per_month: float | None,
    rpm: float | None,
    tpm: float | None,
    models: tuple[str, ...],
) -> tuple[VirtualKey, str]:
    """A new key's record and its secret (256 random bits)."""
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    vk = VirtualKey(
        "key_" + secrets.token_hex(6),
        name,
        team,
        budget_usd_per_month,
        rpm,
        tpm,
        tuple(models),
        time.time(),
        None,
    )
    return vk, secret


def open_keys(db: str | Path) -> Any:
    """The key store at `db`: a SQLite file, or Redis when `db` is a redis:// URL."""
    if str(db).startswith(("redis://", "rediss://", "unix://")):
        from fleetplan.router.keys_redis import RedisKeyStore

        return RedisKeyStore(str(db))
    return KeyStore(db)


def _row(r: tuple) -> VirtualKey:  # type: ignore[type-arg]
    return VirtualKey(
        id=r[0],
        name=r[1],
        team=r[2],
        budget_usd_per_month=r[3],
        rpm=r[4],
        tpm=r[5],
        models=tuple(m for m in r[6].split(",") if m),
        created_s=r[7],
        revoked_s=r[8],
    )


Charge = tuple[str, str, float, int, int]  # key id, month, cost, input tokens, output tokens


class StoreBase:
    """What both key stores share: creating a key, and spend charged by the gateway, written in
    batches by a background thread (what is on its way counts at once in ``pending_usd``).
    A store supplies ``_live_name``, ``_insert``, ``_open_sink`` and ``_write``."""

    def _live_name(self, name: str) -> bool:
        raise NotImplementedError

    def _insert(self, vk: VirtualKey, key_hash: str) -> None:
        raise NotImplementedError

    def create(
        self,
        name: str,
        team: str = "",
        budget_usd_per_month: float | None = None,
        rpm: float | None = None,
        tpm: float | None = None,
        models: tuple[str, ...] = (),
    ) -> tuple[VirtualKey, str]:
        """A new key and its secret (shown once; only its hash is stored)."""
        check_new_key(name, budget_usd_per_month, rpm, tpm)
        if self._live_name(name):
            raise InputError(f"--name {name!r}: a live key already has that name")
        vk, secret = new_key(name, team, budget_usd_per_month, rpm, tpm, models)
        self._insert(vk, hash_key(secret))
        return vk, secret

    def _init_spend(self) -> None:
        self._q: queue.Queue[Charge | None] = queue.Queue()
        self._pending: dict[tuple[str, str], float] = {}
        self._cond = threading.Condition()
        self._queued = 0
        self._thread: threading.Thread | None = None

    def _open_sink(self) -> Any:
        raise NotImplementedError

    def _write(self, sink: Any, rows: list[Charge]) -> None:
        raise NotImplementedError

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="fleetplan-key-spend", daemon=True)
        self._thread.start()

    def charge(
        self, key_id: str, ts_s: float, cost_usd: float, tokens_in: int, tokens_out: int
    ) -> None:
        """Add one request's spend (written by the background thread)."""
        month = month_of(ts_s)
        with self._cond:
            self._pending[(key_id, month)] = self._pending.get((key_id, month), 0.0) + cost_usd
            self._queued += 1
        self._q.put((key_id, month, cost_usd, tokens_in, tokens_out))

    def _run(self) -> None:
        sink = self._open_sink()
        stop = False
        while not stop:
            rows, stop = drain(self._q)
            if not rows:
                continue
            try:
                self._write(sink, rows)
            finally:
                with self._cond:
                    for key_id, month, usd, _, _ in rows:
                        self._pending[(key_id, month)] -= usd
                    self._queued -= len(rows)
                    self._cond.notify_all()

    def pending_usd(self, key_id: str, month: str) -> float:
        with self._cond:
            return self._pending.get((key_id, month), 0.0)

    def flush(self, timeout_s: float = 10.0) -> None:
        """Wait until every charge so far is written."""
        with self._cond:
            self._cond.wait_for(lambda: self._queued == 0, timeout=timeout_s)

    def _stop_writer(self) -> None:
        if self._thread is not None:
            self._q.put(None)
            self._thread.join(timeout=10.0)


class KeyStore(StoreBase):
    """Keys and their spend in one SQLite file; spend is written by a background thread."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:  # a folder, a missing folder or a file that is not SQLite: one line, no traceback
            self._con = self._connect()
            for sql in _SCHEMA:
                self._con.execute(sql)
            self._con.commit()
        except sqlite3.DatabaseError as exc:
            raise InputError(f"keys database {str(self.path)!r}: {exc}") from None
        self._init_spend()

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, timeout=30.0, check_same_thread=False)
        con.execute("PRAGMA journal_mode=WAL")
        return con

    # -- keys -------------------------------------------------------------------------------
    def _live_name(self, name: str) -> bool:
        return self._find("name = ? AND revoked_s IS NULL", name) is not None

    def _insert(self, vk: VirtualKey, key_hash: str) -> None:
        self._con.execute(
            f"INSERT INTO keys (hash, {_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                key_hash,
                vk.id,
                vk.name,
                vk.team,
                vk.budget_usd_per_month,
                vk.rpm,
                vk.tpm,
                ",".join(vk.models),
                vk.created_s,
                None,
            ),
        )
        self._con.commit()

    def _find(self, where: str, *args: object) -> VirtualKey | None:
        r = self._con.execute(f"SELECT {_COLS} FROM keys WHERE {where}", args).fetchone()
        return _row(r) if r else None

    def lookup(self, secret: str) -> VirtualKey | None:
        """The live key with this secret, or None (unknown or revoked)."""
        if not secret.startswith(KEY_PREFIX):
            return None
        return self._find("hash = ? AND revoked_s IS NULL", hash_key(secret))

    def list(self) -> list[VirtualKey]:
        rows = self._con.execute(f"SELECT {_COLS} FROM keys ORDER BY created_s").fetchall()
        return [_row(r) for r in rows]

    def revoke(self, id_or_name: str) -> VirtualKey:
        vk = self._find("(id = ? OR name = ?) AND revoked_s IS NULL", id_or_name, id_or_name)
        if vk is None:
            raise InputError(f"no live key with id or name {id_or_name!r}")
        self._con.execute("UPDATE keys SET revoked_s = ? WHERE id = ?", (time.time(), vk.id))
        self._con.commit()
        return vk

    # -- spend ------------------------------------------------------------------------------
    def _open_sink(self) -> sqlite3.Connection:
        return self._connect()

    def _write(self, sink: sqlite3.Connection, rows: list[Charge]) -> None:
        sql = (
            "INSERT INTO spend VALUES (?, ?, ?, 1, ?, ?) ON CONFLICT (key_id, month) DO UPDATE SET "
            "cost_usd = cost_usd + excluded.cost_usd, requests = requests + 1, "
            "input_tokens = input_tokens + excluded.input_tokens, "
            "output_tokens = output_tokens + excluded.output_tokens"
        )
        sink.executemany(sql, rows)
        sink.commit()

    def spent_usd(self, key_id: str, ts_s: float) -> float:
        """This month's spend: what is written plus what is on its way."""
        month = month_of(ts_s)
        r = self._con.execute(
            "SELECT cost_usd FROM spend WHERE key_id = ? AND month = ?", (key_id, month)
        ).fetchone()
        return (r[0] if r else 0.0) + self.pending_usd(key_id, month)

    def close(self) -> None:
        self._stop_writer()
        self._con.close()

    def usage(self, month: str | None = None) -> list[dict[str, object]]:
        """Spend per key and month (all months unless `month` "YYYY-MM" is given)."""
        sql = (
            "SELECT k.id, k.name, k.team, s.month, s.cost_usd, s.requests, s.input_tokens, "
            "s.output_tokens, k.budget_usd_per_month FROM spend s JOIN keys k ON k.id = s.key_id"
        )
        args: tuple[str, ...] = ()
        if month:
            sql += " WHERE s.month = ?"
            args = (month,)
        cols = (
            "id",
            "name",
            "team",
            "month",
            "cost_usd",
            "requests",
            "input_tokens",
            "output_tokens",
            "budget_usd_per_month",
        )
        rows = self._con.execute(sql + " ORDER BY s.month, k.team, k.name", args).fetchall()
        return [dict(zip(cols, r, strict=True)) for r in rows]


NO_TEAM = "(no team)"


def usage_by(rows: list[dict[str, object]], by: str) -> list[dict[str, object]]:
    """Spend rows (``KeyStore.usage``) summed per key or per team, and month, in month then
    name order: `month`, `key` or `team`, `keys` (how many keys the line sums), `requests`,
    `input_tokens`, `output_tokens`, `cost_usd`. A key without a team counts as NO_TEAM."""
    if by not in ("key", "team"):
        raise InputError(f"--by {by!r}: choose key or team")
    counts = ("requests", "input_tokens", "output_tokens")
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for r in rows:
        who = str(r["name"] if by == "key" else (r["team"] or NO_TEAM))
        month = str(r["month"])
        g = groups.get((month, who))
        if g is None:
            g = groups[(month, who)] = {"month": month, by: who, "keys": 0, "cost_usd": 0.0}
            g.update(dict.fromkeys(counts, 0))
        g["keys"] += 1
        for name in counts:
            g[name] += int(r[name])  # type: ignore[call-overload]
        g["cost_usd"] += float(r["cost_usd"])  # type: ignore[arg-type]
    return [groups[k] for k in sorted(groups)]


def focus_csv(rows: list[dict[str, object]], by: str) -> str:
    """Spend rows (``KeyStore.usage``) as FOCUS CSV, one line per key or per team and month
    (`usage_by`), through the same exporter as `fleetplan budget --focus-csv`."""
    from fleetplan.economics.budget import Budget, Line
    from fleetplan.economics.interchange import budget_focus_csv

    lines = tuple(
        Line(
            category="online-inference",
            name=f"{by} {g[by]} {g['month']}",
            usd_per_month=float(g["cost_usd"]),  # type: ignore[arg-type]
            detail=(
                f"{g['requests']} requests, {g['input_tokens']} input + {g['output_tokens']} "
                f"output tokens through the gateway in {g['month']}"
            ),
            basis="gateway spend: each provider's price for the model (price package for APIs, "
            "reserved GPU-hours over expected tokens for self-hosted) x reported tokens",
            pricing="api",
            gpu=None,
            gpus=None,
            hours_per_month=None,
            usd_per_gpu_hour=None,
            savings=(),
        )
        for g in usage_by(rows, by)
    )
    total = sum(ln.usd_per_month for ln in lines)
    budget = Budget(
        name=f"gateway spend by {by}",
        lines=lines,
        total_usd_per_month=total,
        by_category_usd_per_month={"online-inference": total},
        share_by_category={"online-inference": 1.0 if total else 0.0},
    )
    return budget_focus_csv(budget)
