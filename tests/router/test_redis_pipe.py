"""The per-request scripts on one multiplexed Redis connection: many in flight, in order, and
every way it can fail is `StateUnavailable`, never a reply handed to the wrong caller."""

from __future__ import annotations

import asyncio

import pytest

from conftest import REDIS
from fleetplan.router.redis_pipe import ScriptPipe
from fleetplan.router.state import Bucket, RedisState, Slot, StateUnavailable

pytestmark = pytest.mark.skipif(REDIS is None, reason="redis-server not installed")
pytest.importorskip("redis", reason="needs the `router` extra (redis client)")


def test_only_plain_connections_are_multiplexed():
    assert ScriptPipe.from_url("redis://u:pw@h:1/3", 1.0) is not None
    assert ScriptPipe.from_url("unix:///tmp/r.sock?db=2", 1.0) is not None
    assert ScriptPipe.from_url("rediss://h:6380/0", 1.0) is None  # TLS: redis-py's pool
    assert ScriptPipe.from_url("redis://h/0?socket_keepalive=true", 1.0) is None


def test_scripts_in_flight_share_one_connection_in_order(redis_url):
    import redis

    url = redis_url.rsplit("/", 1)[0] + "/2"  # a database other than 0: SELECT on connect

    async def main() -> list[int]:
        st = RedisState(url)
        slot = [Slot("k:inflight", f"l{i}", 30.0, 150) for i in range(200)]
        got = await asyncio.gather(*(st.admit([], s) for s in slot))
        n = await st.leases("k:inflight")
        clients = redis.Redis.from_url(url).client_list()
        assert len(clients) <= 4  # the scripts' connection, redis-py's, the fixture's, this one
        await asyncio.gather(*(st.settle([], ("k:inflight", s.id), ()) for s in slot[:50]))
        await st.close()
        return [*got, n]

    got = asyncio.run(main())
    assert got[:200] == [0] * 150 + [1] * 50 and got[200] == 150  # the limit, exactly
    r = redis.Redis.from_url(url)
    assert r.zcard("fleetplan:router:k:inflight") == 100
    assert redis.Redis.from_url(redis_url).exists("fleetplan:router:k:inflight") == 0


def test_a_flushed_script_is_sent_again_and_a_cancelled_caller_takes_no_reply(redis_url):
    import redis

    async def main() -> list[int]:
        st = RedisState(redis_url)
        tok = [Bucket("k:tok", 1.0, 10.0, 4, 4)]
        out = [await st.admit(tok, None)]
        r = redis.Redis.from_url(redis_url)
        r.script_flush()  # e.g. Redis restarted
        out.append(await st.admit(tok, None))
        r.set("fleetplan:router:cb", 1)
        early = asyncio.create_task(st.admit(tok, None, ["cb"]))  # it would get -1
        await asyncio.sleep(0)  # written, then its caller goes away
        early.cancel()
        out.append(await st.admit(tok, None))  # ~2 left of 10: refused by the bucket (1)
        out.append(await st.admit([Bucket("k:tok", 1.0, 10.0, 0, 2)], None))
        await st.close()
        return out

    assert asyncio.run(main()) == [0, 0, 1, 0]


def test_no_answer_or_no_redis_is_state_unavailable_then_it_reconnects(redis_proc):
    async def main() -> list[str]:
        silent = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)  # never answers
        port = silent.sockets[0].getsockname()[1]
        out = []
        st = RedisState(f"redis://127.0.0.1:{port}/0", command_timeout_s=0.2)
        for _ in range(2):
            with pytest.raises(StateUnavailable) as e:
                await st.admit([], None)
            out.append(str(e.value))
        silent.close()
        await st.close()
        st = RedisState(redis_proc.url, command_timeout_s=5.0)
        assert await st.admit([], None) == 0
        redis_proc.kill()
        redis_proc.wait(timeout=10)
        with pytest.raises(StateUnavailable) as e:
            await st.admit([], None)
        out.append(str(e.value))
        await st.close()
        return out

    out = asyncio.run(main())
    assert out[:2] == ["Redis: no answer within 0.2 s"] * 2
    assert out[2].startswith("Redis: ConnectionError")
