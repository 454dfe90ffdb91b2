"""Virtual keys kept in Redis, for gateways on several hosts sharing one Redis.

The same keys, limits and budgets as ``keys.KeyStore`` (SQLite), with the same methods; chosen
when ``gateway.keys_db`` (or ``fleetplan keys --db``) is a ``redis://`` URL. Layout under
``fleetplan:keys:`` — ``hash:<sha256>`` → key id; ``key:<id>`` → a hash of the key's fields;
``ids`` → a sorted set of ids by creation time; ``spend:<id>:<YYYY-MM>`` → a hash of cost,
requests and tokens, incremented atomically by every gateway; ``months:<id>`` → its months.
"""

from __future__ import annotations

import time
from typing import Any

from fleetplan.errors import InputError
from fleetplan.router.keys import KEY_PREFIX, Charge, StoreBase, VirtualKey, hash_key, month_of

_P = "fleetplan:keys:"


def _opt(v: Any) -> float | None:
    return None if v in (None, "") else float(v)


def _vk(kid: str, h: dict[str, str]) -> VirtualKey:
    return VirtualKey(
        id=kid,
        name=h["name"],
        team=h.get("team", ""),
        budget_usd_per_month=_opt(h.get("budget_usd_per_month")),
        rpm=_opt(h.get("rpm")),
        tpm=_opt(h.get("tpm")),
        models=tuple(m for m in h.get("models", "").split(",") if m),
        created_s=float(h["created_s"]),
        revoked_s=_opt(h.get("revoked_s")),
    )


class RedisKeyStore(StoreBase):
    def __init__(self, url: str) -> None:
        import redis

        self._r = redis.Redis.from_url(url, decode_responses=True)
        self._init_spend()
        try:
            self._r.ping()
        except redis.RedisError as exc:
            raise InputError(f"keys: cannot reach Redis ({type(exc).__name__})") from None

    def _live_name(self, name: str) -> bool:
        return any(k.name == name and k.revoked_s is None for k in self.list())

    def _insert(self, vk: VirtualKey, key_hash: str) -> None:
        def opt(v: float | None) -> str:
            return "" if v is None else repr(v)

        fields = {
            "name": vk.name,
            "team": vk.team,
            "budget_usd_per_month": opt(vk.budget_usd_per_month),
            "rpm": opt(vk.rpm),
            "tpm": opt(vk.tpm),
            "models": ",".join(vk.models),
            "created_s": repr(vk.created_s),
            "revoked_s": "",
        }
        pipe = self._r.pipeline()
        pipe.hset(f"{_P}key:{vk.id}", mapping=fields)
        pipe.set(f"{_P}hash:{key_hash}", vk.id)
        pipe.zadd(f"{_P}ids", {vk.id: vk.created_s})
        pipe.execute()

    def _get(self, kid: str) -> VirtualKey | None:
        h = self._r.hgetall(f"{_P}key:{kid}")
        return _vk(kid, h) if h else None

    def lookup(self, secret: str) -> VirtualKey | None:
        if not secret.startswith(KEY_PREFIX):
            return None
        kid = self._r.get(f"{_P}hash:{hash_key(secret)}")
        vk = self._get(kid) if kid else None
        return vk if vk is not None and vk.revoked_s is None else None

    def list(self) -> list[VirtualKey]:
        out = [self._get(kid) for kid in self._r.zrange(f"{_P}ids", 0, -1)]
        return [k for k in out if k is not None]

    def revoke(self, id_or_name: str) -> VirtualKey:
        for vk in self.list():
            if vk.revoked_s is None and id_or_name in (vk.id, vk.name):
                self._r.hset(f"{_P}key:{vk.id}", "revoked_s", repr(time.time()))
                return vk
        raise InputError(f"no live key with id or name {id_or_name!r}")

    # -- spend ------------------------------------------------------------------------------
    def _open_sink(self) -> Any:
        return self._r

    def _write(self, sink: Any, rows: list[Charge]) -> None:
        pipe = sink.pipeline()
        for kid, month, usd, n_in, n_out in rows:
            k = f"{_P}spend:{kid}:{month}"
            pipe.hincrbyfloat(k, "cost_usd", usd)
            pipe.hincrby(k, "requests", 1)
            pipe.hincrby(k, "input_tokens", n_in)
            pipe.hincrby(k, "output_tokens", n_out)
            pipe.sadd(f"{_P}months:{kid}", month)
        pipe.execute()

    def spent_usd(self, key_id: str, ts_s: float) -> float:
        """This month's spend: what every gateway has charged, plus this one's on its way."""
        month = month_of(ts_s)
        v = self._r.hget(f"{_P}spend:{key_id}:{month}", "cost_usd")
        return float(v or 0.0) + self.pending_usd(key_id, month)

    def close(self) -> None:
        self._stop_writer()
        self._r.close()

    def usage(self, month: str | None = None) -> list[dict[str, object]]:
        rows = []
        for vk in self.list():
            months = sorted(self._r.smembers(f"{_P}months:{vk.id}"))
            for m in months if month is None else [x for x in months if x == month]:
                h = self._r.hgetall(f"{_P}spend:{vk.id}:{m}")
                rows.append(
                    {
                        "id": vk.id,
                        "name": vk.name,
                        "team": vk.team,
                        "month": m,
                        "cost_usd": float(h.get("cost_usd", 0)),
                        "requests": int(h.get("requests", 0)),
                        "input_tokens": int(h.get("input_tokens", 0)),
                        "output_tokens": int(h.get("output_tokens", 0)),
                        "budget_usd_per_month": vk.budget_usd_per_month,
                    }
                )
        return sorted(rows, key=lambda r: (r["month"], r["team"], r["name"]))
